"""DVC stage ``features_views``: Whisper features of K seeded RawBoost views of every training clip.

    python -m stages.features_views    # data/shards/train-<task> -> data/features_views/v<k>/
                                       # (+ report.json); K = features.augmented_views

K = 0 writes only the report (an empty folder). Resumable like ``features`` (``persist: true``).
Details: ``pipelines/whisper/views.py``, docs/paper_profile.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.whisper.views import VIEWS_DIR, run_view_features


def main() -> None:
    """Whisper features of K seeded RawBoost views of every training clip."""
    params = load_params()
    data_dir = Path(params.common.data_dir)
    report = run_view_features(data_dir / "shards", data_dir / VIEWS_DIR, params.features,
                               algo=params.train.rawboost_algo, seed=params.common.seed,
                               tasks=params.train.tasks)
    print(json.dumps({k: v for k, v in report.items() if k != "per_view"}, indent=2))


if __name__ == "__main__":
    with stage_process("features_views"):
        typer.run(main)
