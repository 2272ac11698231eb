"""DVC stage ``vad``: silero-vad speech timestamps for every clip of the clip manifest.

    python -m stages.vad     # data/resynth/manifest.parquet -> data/vad/timestamps.parquet, reports/vad.json
"""

from __future__ import annotations

from pathlib import Path

from pipelines.manifest import read_manifest
from pipelines.params import load_params
from pipelines.vad import run_vad, vad_summary, write_vad
from stages._io import atomic_path, write_json


def main() -> None:
    params = load_params()
    data = Path(params.common.data_dir)
    manifest_path = data / "resynth" / "manifest.parquet"
    if not manifest_path.exists():
        raise SystemExit(f"{manifest_path} not found: run `dvc repro resynthesize` first")
    manifest = read_manifest(manifest_path)
    frame = run_vad(manifest, params.vad, params.common.sample_rate_hz)
    with atomic_path(data / "vad" / "timestamps.parquet") as tmp:
        write_vad(frame, tmp)
    summary = vad_summary(frame)
    write_json(Path(params.common.reports_dir) / "vad.json", summary)
    print(f"vad: {summary['clips']} clips, {summary['no_speech']} without speech, "
          f"{summary['errors']} unreadable, mean speech fraction {summary['mean_speech_fraction']:.2f}")


if __name__ == "__main__":
    main()
