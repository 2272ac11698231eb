"""DVC stage ``embeddings``: pooled hidden states of a frozen speech encoder for the kNN clips.

    python -m stages.embeddings     # data/knn/shards -> data/embeddings (+ index.json), reports/embeddings.json

Resumable: finished shards (checked against ``data/embeddings/index.json``) are kept, so the
output is declared ``persist: true`` in dvc.yaml.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.common.io import timings_path, write_report
from pipelines.common.process import stage_process
from pipelines.knn.embeddings import run_embeddings
from pipelines.params import load_params


def main() -> None:
    params = load_params()
    data_dir = Path(params.common.data_dir)
    shards = data_dir / "knn" / "shards"
    if not (shards / "index.json").is_file():
        raise SystemExit(f"{shards}/index.json not found: run `dvc repro knn_clips` first")
    report = run_embeddings(shards, data_dir / "embeddings", params.knn.embeddings,
                            params.knn.clips.max_seconds)
    reports = Path(params.common.reports_dir)
    write_report(reports / "embeddings.json", report, timings_path(reports, "embeddings"))
    print(f"embeddings: {report['clips']} clips in {report['shards']} shards "
          f"({report['computed_clips']} computed, {report['clips_per_s']} clips/s, "
          f"{report['actors']} actors), model {report['model']}")


if __name__ == "__main__":
    with stage_process("embeddings"):
        typer.run(main)
