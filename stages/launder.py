"""DVC stage ``launder``: laundered copies of the evaluation sets and their Whisper features.

    python -m stages.launder    # data/shards -> data/launder/{shards,features}, reports/launder.json

With ``launder.enabled``: every set of ``launder.sets`` (or its codec-balanced subset of
``launder.max_clips_per_set`` clips) through every condition of ``launder.conditions``
(``pipelines/launder/sets.py``), then the features stage's code on those shards (the same Ray
actor pool, ``features`` params), so SASTNet can be predicted on them. The predict stages
predict every trained model on them (``pipelines/evaluate/robustness.py``). Disabled, the
stage leaves an empty index (the predict stages depend on the folder) and costs its start-up.
Resumable: shards whose plan and bytes match are kept (``persist: true``). docs/laundering.md.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import typer

from pipelines.common.io import timings_path, write_report
from pipelines.common.process import stage_process
from pipelines.launder.sets import build_laundered_shards, laundered_report
from pipelines.params import Params, load_params
from pipelines.whisper.features import run_features

LAUNDER_DIR = "launder"  # under common.data_dir: shards/ and features/


def write_laundered(params: Params) -> dict:
    """``data/shards`` -> ``data/launder/{shards,features}``; writes and returns the report."""
    data_dir = Path(params.common.data_dir)
    out = data_dir / LAUNDER_DIR
    cfg = params.launder
    start = time.perf_counter()
    index = build_laundered_shards(data_dir / "shards", out / "shards", cfg,
                                   samples_per_shard=params.shard.samples_per_shard,
                                   workers=cfg.workers)
    report = {"enabled": cfg.active, **laundered_report(index),
              "timing": {"launder_s": round(time.perf_counter() - start, 3)}}
    if index["splits"]:
        features = run_features(out / "shards", out / "features",
                                dataclasses.replace(params.features, rm_sil=False))
        report["features"] = features
    else:
        shutil.rmtree(out / "features", ignore_errors=True)  # nothing laundered: no features
    report["timing"]["stage_s"] = round(time.perf_counter() - start, 3)
    reports = Path(params.common.reports_dir)
    write_report(reports / "launder.json", report, timings_path(reports, "launder"))
    return report


def main() -> None:
    """Laundered copies of the evaluation sets (launder params) and their Whisper features."""
    report = write_laundered(load_params())
    if not report["enabled"]:
        print("launder: launder.enabled is false (or no conditions): nothing laundered")
        return
    print(f"launder: {report['clips']} laundered clips in {len(report['splits'])} sets "
          f"({', '.join(report['conditions'])}); {report['timing']['stage_s']:.1f} s")


if __name__ == "__main__":
    with stage_process("launder"):
        typer.run(main)
