"""Run the benchmarks: every figure side by side with its reference, in one process, one run.

    python -m benchmarks                       # quick mode (< 20 min on 2 idle cores)
    python -m benchmarks --mode full           # bigger inputs, more repeats, the extra figures
    python -m benchmarks --only loader_throughput --only whisper_features
    python -m benchmarks --mode smoke          # seconds-sized inputs: checks the code, not speed
    python -m benchmarks --stage-times /path/to/run/reports/stage_times.json   # B5's per-stage rows
    python -m benchmarks --only run_split --baseline-run /path/to/before/reports   # B7
    python -m benchmarks --summary-only        # re-render summary.md and README from the results

Each benchmark writes ``benchmarks/results/<name>.json`` (figures, details, machine fingerprint
with the load average before and after); then ``benchmarks/results/summary.md`` and the
README's Performance block are re-rendered from every result file. See docs/benchmarks.md.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import typer

from benchmarks.registry import BENCHMARKS, Skip, settings_for
from benchmarks.summary import (
    legacy_results,
    load_results,
    readme_block,
    render_summary,
    replace_readme_block,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def run_one(name: str, mode: str, results_dir: Path, extra: dict) -> dict:
    """Run benchmark ``name`` in a scratch folder and write its result file; returns it."""
    from benchmarks.machine import load_average, machine_fingerprint, with_load
    from pipelines.common.io import write_json

    bench = BENCHMARKS[name]
    settings = {**settings_for(name, mode), **{k: v for k, v in extra.items()
                                               if k in bench.accepts}}
    static, before, start = machine_fingerprint(), load_average(), time.perf_counter()
    result = {"name": name, "figure": bench.figure, "title": bench.title, "mode": mode,
              "settings": settings, "status": "ok", "figures": [], "details": {}, "notes": []}
    with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as tmp:
        try:
            result.update(bench.run(Path(tmp), **settings))
        except Skip as why:
            result["status"] = f"skipped: {why}"
        except Exception as err:  # noqa: BLE001 - one failing benchmark must not stop the rest
            result["status"] = f"failed: {type(err).__name__}: {err}"
            result["notes"].append(traceback.format_exc(limit=3).splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["machine"] = with_load(before, load_average(), static)
    write_json(results_dir / f"{name}.json", result)
    return result


def write_summary(results_dir: Path, readme: Path | None) -> None:
    """Re-render ``summary.md`` (and the README block, when ``readme`` has the markers)."""
    from pipelines.common.io import write_text

    results = load_results(results_dir)
    write_text(results_dir / "summary.md", render_summary(results, legacy_results(results_dir)))
    if readme is not None and readme.is_file():
        write_text(readme, replace_readme_block(readme.read_text(), readme_block(results)))


app = typer.Typer(add_completion=False)


@app.command()
def main(mode: str = typer.Option("quick", help="quick | full | smoke"),
         only: list[str] | None = typer.Option(None, help="run only these (repeatable)"),
         stage_times: Path | None = typer.Option(
             None, help="a run's reports/stage_times.json for B5 (default: reports/ if present)"),
         baseline_run: Path | None = typer.Option(
             None, help="B7: the reports/ folder of a baseline run to compare with"),
         results_dir: Path = typer.Option(RESULTS, help="where result files go"),
         readme: Path | None = typer.Option(ROOT / "README.md",
                                               help="README to update (its Performance block)"),
         summary_only: bool = typer.Option(False, help="only re-render summary.md and README"),
         ) -> None:
    """Run the benchmarks and write benchmarks/results/<name>.json and summary.md."""
    if mode not in ("quick", "full", "smoke"):
        raise typer.BadParameter(f"mode must be quick, full or smoke, got {mode!r}")
    names = list(only) if only else [n for n, b in BENCHMARKS.items() if mode in b.modes]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise typer.BadParameter(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    results_dir.mkdir(parents=True, exist_ok=True)
    extra = {"stage_times": str(stage_times) if stage_times else None,
             "baseline_run": str(baseline_run) if baseline_run else None}
    if not summary_only:
        started = time.perf_counter()
        for name in names:
            print(f"[{time.perf_counter() - started:6.0f} s] {name} ({mode}) ...", flush=True)
            result = run_one(name, mode, results_dir, extra)
            print(f"[{time.perf_counter() - started:6.0f} s] {name}: {result['status']}, "
                  f"{len(result['figures'])} figures, {result['wall_s']} s", flush=True)
            for fig in result["figures"]:
                print(f"    {fig['id']:28} {fig['a']['best']:10.4g} -> {fig['b']['best']:10.4g} "
                      f"{fig['unit']:8} {fig['ratio']:6.2f}x", flush=True)
    write_summary(results_dir, readme)
    print(f"wrote {results_dir / 'summary.md'}")


if __name__ == "__main__":
    app()
