"""DVC stage ``vad``: silero-vad speech timestamps for every clip of the clip manifest.

    python -m stages.vad     # data/resynth/manifest.parquet -> data/vad/timestamps.parquet, reports/vad.json
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.common.io import atomic_path, timings_path, write_report
from pipelines.common.manifest import read_manifest
from pipelines.common.process import stage_process
from pipelines.dataset.vad import (
    borrow_pair_segments,
    run_vad,
    vad_summary,
    world_summary,
    write_vad,
)
from pipelines.params import load_params


def main() -> None:
    """Silero-vad speech timestamps for every clip of the clip manifest."""
    params = load_params()
    data = Path(params.common.data_dir)
    manifest_path = data / "resynth" / "manifest.parquet"
    if not manifest_path.exists():
        raise SystemExit(f"{manifest_path} not found: run `dvc repro resynthesize` first")
    manifest = read_manifest(manifest_path)
    frame = run_vad(manifest, params.vad, params.common.sample_rate_hz)
    own_no_speech = vad_summary(frame)["no_speech"]
    # what each set holds, by every clip's own VAD (the models see train.num_samples)
    world = world_summary(frame, manifest, params.train.num_samples)
    if params.vad.segments_from == "pair":
        frame = borrow_pair_segments(frame, manifest, params.common.sample_rate_hz,
                                     params.vad.pair_max_length_diff_ms)
    with atomic_path(data / "vad" / "timestamps.parquet") as tmp:
        write_vad(frame, tmp)
    summary = {"segments_from": params.vad.segments_from, "no_speech_own_vad": own_no_speech,
               **vad_summary(frame), "world": world}
    reports = Path(params.common.reports_dir)
    write_report(reports / "vad.json", summary, timings_path(reports, "vad"))
    print(f"vad: {summary['clips']} clips, {summary['no_speech']} without speech "
          f"({own_no_speech} by their own VAD, {summary['segments_from_pair']} use their pair's), "
          f"{summary['errors']} unreadable, mean speech fraction {summary['mean_speech_fraction']:.2f}")
    for name, entry in world.items():
        print(f"  {name}: {entry['clips']} clips, speech {entry['speech_share']:.2f} "
              f"(first {params.train.num_samples} samples {entry['speech_share_crop']:.2f}), "
              f"lead silence {entry['median_lead_silence_s']} s")


if __name__ == "__main__":
    with stage_process("vad"):
        typer.run(main)
