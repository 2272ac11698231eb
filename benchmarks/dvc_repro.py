"""B5 - DVC's own cost: a no-op ``dvc repro`` (everything cached) against the same repro from
nothing, on a scratch DVC project shaped like this one; and a real run's stage wall and CPU
seconds, read from its own record (``reports/stage_times.json``, written by
``python -m pipelines.repro``).

    python -m benchmarks --only dvc_repro --stage-times /path/to/run/reports/stage_times.json

The scratch project has as many stages as this repository's ``dvc.yaml`` (``foreach`` expanded
as DVC lists them), chained, each reading the previous stage's folder of ``files_per_stage``
files and writing its own (the shape that makes DVC hash: folders of shards), plus
``params.yaml`` keys. The project's own data is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks.fixtures import ROOT
from benchmarks.measure import Figure, Side, Timing, time_call
from benchmarks.registry import Skip


def project_stage_count() -> int:
    """Stages of this repository's dvc.yaml as DVC lists them: each ``foreach`` item and each
    ``matrix`` combination counted, ``${a.b}`` axes looked up in params.yaml (read only)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())

    def axis_len(value) -> int:
        if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
            node = params
            for key in value[2:-1].split("."):
                node = node[key]
            value = node
        return len(value) if isinstance(value, (list, dict)) else 1

    count = 0
    for stage in stages.values():
        if "foreach" in stage:
            count += axis_len(stage["foreach"])
        elif "matrix" in stage:
            n = 1
            for axis in stage["matrix"].values():
                n *= axis_len(axis)
            count += n
        else:
            count += 1
    return count


STAGE_CMD = ("{py} -c \"import pathlib,shutil,sys; src,dst=map(pathlib.Path,sys.argv[1:]); "
             "shutil.rmtree(dst,ignore_errors=True); dst.mkdir(); "
             "[(dst/p.name).write_bytes(p.read_bytes()) for p in sorted(src.iterdir())]\" {src} {dst}")


def scratch_project(root: Path, stages: int, files_per_stage: int, file_kb: int) -> Path:
    """A DVC project (no git) of ``stages`` chained copy stages over a folder of files."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=root, check=True)
    subprocess.run(["dvc", "config", "core.analytics", "false"], cwd=root, check=True)
    src = root / "data" / "s0"
    src.mkdir(parents=True)
    payload = bytes(range(256)) * (file_kb * 4)
    for i in range(files_per_stage):
        (src / f"shard-{i:06d}.tar").write_bytes(payload + i.to_bytes(4, "little"))
    spec = {"stages": {}}
    for k in range(1, stages + 1):
        spec["stages"][f"s{k}"] = {
            "cmd": STAGE_CMD.format(py=sys.executable, src=f"data/s{k - 1}", dst=f"data/s{k}"),
            "deps": [f"data/s{k - 1}"], "params": [f"s{k}.x"], "outs": [f"data/s{k}"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "params.yaml").write_text(yaml.safe_dump({f"s{k}": {"x": k} for k in range(1, stages + 1)}))
    return root


def dvc(root: Path, *args: str) -> None:
    out = subprocess.run(["dvc", *args], cwd=root, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed: {out.stderr[-500:]}")


def stage_table(times: dict) -> tuple[str, dict]:
    """Markdown table of a run's stages (wall, CPU, CPU / wall) and the totals."""
    rows, wall, cpu = [], 0.0, 0.0
    for name, entry in times.get("stages", {}).items():
        if "wall_s" not in entry:
            continue
        c = entry.get("cpu_s")
        wall += entry["wall_s"]
        cpu += c or 0.0
        cores = f"{c / entry['wall_s']:.2f}" if c is not None and entry["wall_s"] > 0 else "-"
        rows.append(f"| {name} | {entry['wall_s']:.1f} | {'-' if c is None else f'{c:.1f}'} | "
                    f"{cores} | {entry.get('status', '?')} |")
    has_cpu = any("cpu_s" in e for e in times.get("stages", {}).values())
    total_cpu = f"{cpu:.1f}" if has_cpu else "-"
    share = f"{cpu / wall:.2f}" if has_cpu and wall else "-"
    table = "\n".join(["| stage | wall s | CPU s | CPU / wall | status |",
                       "| --- | --- | --- | --- | --- |", *rows,
                       f"| **total** | {wall:.1f} | {total_cpu} | {share} | |"])
    return table, {"stages": len(rows), "wall_s": round(wall, 1),
                   "cpu_s": round(cpu, 1) if has_cpu else None, "run": times.get("run", {})}


def run(work: Path, *, files_per_stage: int, file_kb: int, repeats: int,
        stages: int | None = None, stage_times: str | None = None) -> dict:
    if shutil.which("dvc") is None:
        raise Skip("dvc is not on PATH")
    n = stages or project_stage_count()
    figures, tables, notes, details = [], [], [], {"stages": n, "files_per_stage": files_per_stage}
    first, noop = [], []
    for r in range(repeats):
        root = scratch_project(work / f"p{r}", n, files_per_stage, file_kb)
        first.append(time_call(lambda root=root: dvc(root, "repro", "-q"))[0])
        noop.append(time_call(lambda root=root: dvc(root, "repro", "-q"))[0])
        shutil.rmtree(root)
    version_s = Timing(tuple(time_call(lambda: dvc(work, "version"))[0] for _ in range(repeats)))
    figures.append(Figure("B5.dvc_noop", f"dvc repro, {n} stages x {files_per_stage} files: "
                          "from nothing vs no-op (all cached)", "s", False,
                          Side.of_time("from nothing", Timing(tuple(first))),
                          Side.of_time("no-op", Timing(tuple(noop))),
                          note=f"`dvc version` alone (process start): {version_s.best_s:.2f} s"))
    details["dvc_version_s"] = list(version_s.seconds)
    path = Path(stage_times) if stage_times else ROOT / "reports" / "stage_times.json"
    if path.is_file():
        import json

        table, totals = stage_table(json.loads(path.read_text()))
        tables.append(f"Stage times of the run recorded in `{path}` (its own record):\n\n{table}")
        details["recorded_run"] = {"path": str(path), **totals}
        cpu = (f"{totals['cpu_s']} s CPU" if totals["cpu_s"] is not None else
               "no CPU times (recorded before stage_clock kept cpu_s)")
        notes.append(f"recorded run: {totals['stages']} stages, {totals['wall_s']} s wall, {cpu}")
    else:
        notes.append(f"no stage record at {path}: run `python -m pipelines.repro` "
                     "(scripts/run.sh) and pass --stage-times")
    return {"figures": [f.to_dict() for f in figures], "details": details, "notes": notes,
            "tables": tables}


QUICK = {"files_per_stage": 50, "file_kb": 64, "repeats": 2}
FULL = {"files_per_stage": 200, "file_kb": 256, "repeats": 3}
SMOKE = {"files_per_stage": 5, "file_kb": 4, "repeats": 1, "stages": 3}
