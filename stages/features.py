"""DVC stage ``features``: Whisper features for every audio shard (Ray actor pool).

    python -m stages.features      # data/shards -> data/features (+ index.json), reports/features.json

Resumable: finished shards (checked against ``data/features/index.json``) are kept, so the
stage output is declared ``persist: true`` in dvc.yaml. ``stages.features_rm_sil`` runs the same
code on the silence-removed view of the test clips.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from pipelines.common.io import timings_path, write_report
from pipelines.common.process import stage_process
from pipelines.params import Params, load_params
from pipelines.whisper.features import run_features


def write_features(params: Params, name: str, *, rm_sil: bool = False,
                   splits: list[str] | None = None) -> dict:
    """``data/shards`` -> ``data/<name>`` and ``reports/<name>.json``; returns the report."""
    data_dir = Path(params.common.data_dir)
    cfg = dataclasses.replace(params.features, rm_sil=rm_sil)
    report = run_features(data_dir / "shards", data_dir / name, cfg, splits=splits)
    reports = Path(params.common.reports_dir)
    write_report(reports / f"{name}.json", report, timings_path(reports, name))
    print(f"{name}: {report['clips']} clips in {report['shards']} shards "
          f"({report['computed_clips']} computed, {report['clips_per_s']} clips/s, "
          f"{report['actors']} actors)")
    return report


def main() -> None:
    """Whisper features for every audio shard (Ray actor pool)."""
    params = load_params()
    write_features(params, "features", rm_sil=params.features.rm_sil)


if __name__ == "__main__":
    with stage_process("features"):
        typer.run(main)
