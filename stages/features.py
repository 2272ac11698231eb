"""DVC stage ``features``: Whisper features for every audio shard (Ray actor pool).

    python -m stages.features      # data/shards -> data/features (+ index.json), reports/features.json

Resumable: finished shards (checked against ``data/features/index.json``) are kept, so the
stage output is declared ``persist: true`` in dvc.yaml.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.whisper.features import run_features
from pipelines.params import load_params
from stages._io import write_json
from pipelines.common.process import stage_process


def main() -> None:
    params = load_params()
    data_dir = Path(params.common.data_dir)
    report = run_features(data_dir / "shards", data_dir / "features", params.features)
    write_json(Path(params.common.reports_dir) / "features.json", report)
    print(f"features: {report['clips']} clips in {report['shards']} shards "
          f"({report['computed_clips']} computed, {report['clips_per_s']} clips/s, "
          f"{report['actors']} actors)")


if __name__ == "__main__":
    with stage_process("features"):
        main()
