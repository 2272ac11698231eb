"""DVC stage ``resynthesize``: the full clip manifest, bona fide + spoofed.

    python -m stages.resynthesize
        reads   data/corpus/manifest.parquet, data/codecs/zoo.json (+ checkpoints)
        writes  data/resynth/manifest.parquet, data/resynth/audio/<codec>/<key>.flac,
                reports/resynth.json

With ``corpus.source: codecfake_plus`` the ingested manifest already holds every clip of the
release; it is passed through unchanged (no codec runs).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer

from pipelines.codecs.resynthesize import build_resynth_manifest, load_zoo
from pipelines.common.determinism import configure_torch
from pipelines.common.io import timings_path, write_report
from pipelines.common.manifest import read_manifest, write_manifest
from pipelines.common.process import stage_process
from pipelines.corpus.report import summarize_manifest
from pipelines.params import load_params


def _codecs(params, data_dir: Path):
    cfg = params.resynthesize
    entries = load_zoo(data_dir / "codecs" / "zoo.json", cfg.checkpoint, cfg.codecs,
                       prompt_s=cfg.cosg_prompt_s, temperature=cfg.cosg_temperature)
    if cfg.real_codecs:
        from pipelines.codecs.real import real_codec_entry
        entries += [real_codec_entry(spec) for spec in cfg.real_codecs]
    return entries


def main() -> None:
    """The full clip manifest, bona fide + spoofed."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    params = load_params()
    cfg = params.resynthesize
    data_dir = Path(params.common.data_dir)
    corpus = read_manifest(data_dir / "corpus" / "manifest.parquet")
    out_manifest = data_dir / "resynth" / "manifest.parquet"
    start = time.perf_counter()
    if params.corpus.source == "codecfake_plus":
        df, report = corpus, summarize_manifest(corpus)
        report["note"] = "corpus.source is codecfake_plus: the ingested release passed through"
    else:
        configure_torch(threads=cfg.threads)  # fixed threads, deterministic kernels
        from sastnet.codecs.zoo_spec import zoo_taxonomy  # CodecFake+ names + the zoo's own

        df, report = build_resynth_manifest(
            corpus, _codecs(params, data_dir), zoo_taxonomy(), data_dir / "resynth" / "audio",
            batch_size=cfg.batch_size, splits=cfg.splits,
            max_clips_per_split=cfg.max_clips_per_split, seed=params.common.seed)
    report["wall_s"] = round(time.perf_counter() - start, 1)
    write_manifest(df, out_manifest)
    reports = Path(params.common.reports_dir)
    write_report(reports / "resynth.json", report, timings_path(reports, "resynthesize"))
    hours = report["duration"]["hours"]
    print(f"resynthesize: {report['clips']} clips ({hours} h) -> {out_manifest}, "
          f"{len(report.get('rejected', []))} rejected, {report['wall_s']} s")


if __name__ == "__main__":
    with stage_process("resynthesize"):
        typer.run(main)
