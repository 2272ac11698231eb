"""B7 - where a pipeline run's wall time goes: work against overhead, per stage, from the run's
own records; and a run against a baseline run of the same work.

    python -m benchmarks --only run_split                                  # the run in reports/
    python -m benchmarks --only run_split --stage-times AFTER/reports/stage_times.json \
        --baseline-run BEFORE/reports                                      # before vs after

A run made by ``scripts/run.sh`` leaves two records: ``reports/stage_times.json`` (DVC's wall
time per stage, ``pipelines.repro``) and ``reports/timings/stages/*.json`` (each
stage process's own split, ``pipelines.common.timing``). Per stage:

| part | what |
| --- | --- |
| dvc | the stage's wall time outside its process: DVC's checks, hashing, caching, lock file |
| imports | process start until the stage body runs: the interpreter and module imports |
| ray | ``ray.init`` (a local node started, or a cluster joined) and ``ray.shutdown`` |
| train workers | ``TorchTrainer.fit`` until rank 0's loop runs, and after its last epoch |
| mlflow | MLflow calls of the stage and of rank 0 (runs, params, metrics, models, registry) |
| work | the rest of the process: what the stage is for |

Nothing is measured again: the figures compare two recorded runs (sides read, n = 1), or the
run's wall time with its work seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.measure import Figure, Side
from benchmarks.registry import Skip

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("dvc", "imports", "ray", "train_workers", "mlflow", "work")
PHASES = {"imports": ("imports",), "ray": ("ray_start", "ray_stop"),
          "train_workers": ("train_workers_start", "train_teardown"), "mlflow": ("mlflow",)}


def load_records(reports: Path) -> tuple[dict, dict[str, dict]]:
    """(``stage_times.json``, {DVC stage name: its process's timing record})."""
    times_path = reports / "stage_times.json"
    if not times_path.is_file():
        raise Skip(f"no run record at {times_path}: run `bash scripts/run.sh` first")
    times = json.loads(times_path.read_text())
    records = {}
    for path in sorted((reports / "timings" / "stages").glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("dvc_stage"):
            records[record["dvc_stage"]] = record
    return times, records


def split_stage(wall_s: float, record: dict | None) -> dict[str, float]:
    """One stage's wall seconds split into ``PARTS`` (no record: all of it is work, unsplit)."""
    if record is None:
        return {**{p: 0.0 for p in PARTS}, "work": wall_s}
    phases = record.get("phases", {})
    parts = {part: sum(phases.get(n, 0.0) for n in names) for part, names in PHASES.items()}
    process_s = min(record["process_s"], wall_s)
    parts["dvc"] = wall_s - process_s
    parts["work"] = max(process_s - sum(parts[p] for p in PHASES), 0.0)
    return {p: round(parts[p], 1) for p in PARTS}


def split_run(reports: Path) -> dict:
    """Every stage the run executed, split; totals; the run's wall time and what lies between
    its stages (DVC's start, graph and between-stage work, the shared Ray's start and stop)."""
    times, records = load_records(reports)
    run = times.get("run", {})
    executed = run.get("stages_run") or list(times.get("stages", {}))
    rows = []
    for name in executed:
        entry = times["stages"].get(name, {})
        if "wall_s" not in entry:
            continue
        rows.append({"stage": name, "wall_s": entry["wall_s"], "recorded": name in records,
                     **split_stage(entry["wall_s"], records.get(name))})
    totals = {p: round(sum(r[p] for r in rows), 1) for p in ("wall_s", *PARTS)}
    run_wall = run.get("wall_s") or totals["wall_s"]
    totals["between_stages"] = round(run_wall - totals["wall_s"], 1)
    totals["overhead"] = round(run_wall - totals["work"], 1)
    return {"reports": str(reports), "run_wall_s": run_wall, "status": run.get("status"),
            "started": run.get("started"), "stages": rows, "totals": totals}


def table(split: dict) -> str:
    head = "| stage | wall s | " + " | ".join(p.replace("_", " ") for p in PARTS) + " |"
    lines = [head, "|" + " --- |" * (len(PARTS) + 2)]
    for row in split["stages"]:
        mark = "" if row["recorded"] else " (no record)"
        lines.append(f"| `{row['stage']}`{mark} | {row['wall_s']:.1f} | "
                     + " | ".join(f"{row[p]:.1f}" for p in PARTS) + " |")
    t = split["totals"]
    lines.append("| **stages** | " + f"{t['wall_s']:.1f} | "
                 + " | ".join(f"{t[p]:.1f}" for p in PARTS) + " |")
    lines.append(f"| **run** (between stages: {t['between_stages']:.1f} s) | "
                 f"{split['run_wall_s']:.1f} | | | | | | |")
    return "\n".join(lines)


def run(work: Path, *, stage_times: str | None = None, baseline_run: str | None = None) -> dict:
    reports = Path(stage_times).parent if stage_times else ROOT / "reports"
    after = split_run(reports)
    t = after["totals"]
    figures = [Figure("B7.overhead", "the recorded run: its wall time vs the work in it (the "
                      "seconds a run with no overhead would take)", "s", False,
                      Side.single("run wall", after["run_wall_s"]),
                      Side.single("work", t["work"]),
                      note=f"overhead {t['overhead']:.0f} s of {after['run_wall_s']:.0f} s")]
    tables = [f"Run in `{reports}` ({after['status']}, started {after['started']}):\n\n"
              f"{table(after)}"]
    details = {"run": after}
    if baseline_run:
        before = split_run(Path(baseline_run))
        details["baseline"] = before
        tables.insert(0, f"Baseline run in `{baseline_run}` ({before['status']}, started "
                         f"{before['started']}):\n\n{table(before)}")
        figures.append(Figure("B7.run_wall", "pipeline run from a baseline run to this one: "
                              "wall time of dvc repro", "s", False,
                              Side.single("baseline run", before["run_wall_s"]),
                              Side.single("this run", after["run_wall_s"])))
        figures.append(Figure("B7.overhead_cut", "overhead (run wall - work) from the baseline "
                              "run to this one", "s", False,
                              Side.single("baseline run", max(before["totals"]["overhead"], 0.1)),
                              Side.single("this run", max(t["overhead"], 0.1))))
    return {"figures": [f.to_dict() for f in figures], "details": details,
            "notes": [f"work {t['work']:.0f} s, overhead {t['overhead']:.0f} s "
                      f"(dvc {t['dvc']:.0f}, imports {t['imports']:.0f}, ray {t['ray']:.0f}, "
                      f"train workers {t['train_workers']:.0f}, mlflow {t['mlflow']:.0f}, "
                      f"between stages {t['between_stages']:.0f})"],
            "tables": tables}


QUICK: dict = {}
FULL: dict = {}
SMOKE: dict = {}
