"""DVC stage ``shard``: WebDataset shards per split from the clip manifest and VAD timestamps.

    python -m stages.shard   # -> data/shards/<split>/shard-%06d.tar, data/shards/index.json,
                             #    reports/shards.json, metrics/shards.json

``shard.train_lists: official`` (paper profile) writes each task's CodecFake+ list row for row
(from data/corpus/lists.parquet); ``train.experiment: seen250`` keeps only training and dev
clips with utterance id <= ``shard.seen_max_utt_id``.

Rerunning after a crash keeps the finished shards (checked by sha256 against index.json).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from pipelines.common.io import timings_path, write_json, write_report
from pipelines.common.manifest import read_manifest
from pipelines.common.process import stage_process
from pipelines.dataset.shards import build_shards, official_splits, shards_metrics, shards_report
from pipelines.dataset.vad import read_vad
from pipelines.params import load_params


def main() -> None:
    """WebDataset shards per split from the clip manifest and VAD timestamps."""
    params = load_params()
    data = Path(params.common.data_dir)
    manifest_path, vad_path = data / "resynth" / "manifest.parquet", data / "vad" / "timestamps.parquet"
    for path, stage in ((manifest_path, "resynthesize"), (vad_path, "vad")):
        if not path.exists():
            raise SystemExit(f"{path} not found: run `dvc repro {stage}` first")
    manifest = read_manifest(manifest_path)
    official = None
    if params.shard.train_lists == "official":
        lists_path = data / "corpus" / "lists.parquet"
        if not lists_path.exists():
            raise SystemExit(f"{lists_path} not found: shard.train_lists: official needs "
                             "corpus.source: codecfake_plus (run `dvc repro corpus`)")
        official = official_splits(pd.read_parquet(lists_path),
                                   params.corpus.codecfake_plus.task_lists, params.shard.tasks)
    max_utt_id = params.shard.seen_max_utt_id if params.train.experiment == "seen250" else None
    reused: list[bool] = []
    index = build_shards(manifest, read_vad(vad_path), data / "shards", params.shard,
                         seed=params.common.seed, sample_rate_hz=params.common.sample_rate_hz,
                         on_shard=lambda _result, was_reused: reused.append(was_reused),
                         official=official, max_utt_id=max_utt_id)
    report = shards_report(index)
    reports = Path(params.common.reports_dir)
    write_report(reports / "shards.json", report, timings_path(reports, "shard"))
    write_json(Path("metrics") / "shards.json", shards_metrics(index))
    for name, split in report["splits"].items():
        print(f"{name:>12}: {split['samples']:6d} clips in {split['shards']} shards")
    print(f"shards: kept {sum(reused)} finished (sha256 checked), wrote {len(reused) - sum(reused)}")
    print(f"rejected: {len(report['rejected'])} {report['rejected_by_reason']}")
    empty = [name for name, split in report["splits"].items() if split["samples"] == 0]
    if empty:
        print(f"warning: empty splits {', '.join(empty)} (training lists need spoofs paired with "
              "bona fide clips by pair_key; CoSG splits need subset CoSG rows)")


if __name__ == "__main__":
    with stage_process("shard"):
        typer.run(main)
