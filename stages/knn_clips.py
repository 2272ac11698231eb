"""DVC stage ``knn_clips``: the kNN clip set, one audio shard per class (codec @ checkpoint).

    python -m stages.knn_clips
        reads   data/corpus/manifest.parquet, data/codecs/zoo.json (+ checkpoints)
                (source: manifest -> the CoRS clips of data/corpus/manifest.parquet)
        writes  data/knn/shards/<codec>@<checkpoint>/shard-000000.tar (+ index.json; the
                bona fide source clips as class data/knn/shards/bonafide/),
                data/knn/clips.parquet, reports/knn_clips.json
"""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.common.io import atomic_path, timings_path, write_report
from pipelines.common.manifest import read_manifest
from pipelines.common.process import stage_process
from pipelines.knn.clips import (
    bonafide_unit,
    build_knn_clips,
    manifest_units,
    select_sources,
    zoo_units,
)
from pipelines.params import load_params


def main() -> None:
    params = load_params()
    cfg = params.knn.clips
    data_dir = Path(params.common.data_dir)
    corpus = read_manifest(data_dir / "corpus" / "manifest.parquet")
    bona = corpus[(corpus["codec"] == "bonafide") & (corpus["subset"] == "CoRS")]  # not the CoSG world
    sources = select_sources(bona, cfg.clips_per_speaker,
                             params.common.seed)
    if cfg.source == "zoo":
        units = zoo_units(data_dir / "codecs" / "zoo.json", sources, cfg)
    else:
        # corpus.source codecfake_plus: the ingested manifest holds the whole release
        units = manifest_units(corpus, sources)
    if not units:
        raise SystemExit(f"knn_clips: no classes (knn.clips.source: {cfg.source})")
    units.append(bonafide_unit(sources))  # the open set's reference for real speech (#40)
    table, report = build_knn_clips(units, sources, data_dir / "knn", cfg)
    with atomic_path(data_dir / "knn" / "clips.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    reports = Path(params.common.reports_dir)
    write_report(reports / "knn_clips.json", report, timings_path(reports, "knn_clips"))
    print(f"knn_clips: {report['clips']} clips in {report['classes']} classes "
          f"({report['source_clips']} source clips, {report['speakers']} speakers), "
          f"{report['computed_classes']} computed in {report['wall_s']} s")


if __name__ == "__main__":
    with stage_process("knn_clips"):
        typer.run(main)
