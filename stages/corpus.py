"""DVC stage ``corpus``: the clip manifest of the corpus named by ``corpus.source``.

    python -m stages.corpus      # writes data/corpus/manifest.parquet and reports/corpus.json
                                 # (+ data/corpus/lists.parquet for CodecFake+)

``codecfake_plus``: ingests the CodecFake+ release on disk (``pipelines.corpus.codecfake_plus``).
``synthetic``: builds the embedded offline corpus (``pipelines.corpus.synthetic``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import typer

from pipelines.common.io import atomic_path, timings_path, write_report
from pipelines.common.manifest import write_manifest
from pipelines.common.process import stage_process
from pipelines.corpus.codecfake_protocols import ReleaseError
from pipelines.corpus.report import summarize_manifest
from pipelines.params import Params, load_params

LISTS_NAME = "lists.parquet"  # beside manifest.parquet; read by stages.shard


def build_corpus(params: Params) -> tuple[pd.DataFrame, dict, pd.DataFrame | None]:
    """(manifest, report, official list rows or None) for ``params.corpus.source``.

    The CodecFake+ path only reads; the synthetic builder writes its audio under
    ``<data_dir>/corpus/audio/`` itself. The manifest and report are written by ``main``.
    """
    source = params.corpus.source
    report: dict = {"source": source}
    lists = None
    if source == "codecfake_plus":
        from pipelines.corpus.codecfake_plus import list_table, prepare_codecfake_plus

        df, log = prepare_codecfake_plus(params.corpus.codecfake_plus)
        report["release_defects"] = log.as_dict()
        lists = list_table(log)
        report["official_lists"] = {str(k): int(v) for k, v in lists["list"].value_counts(
            sort=False).sort_index().items()}
    elif source == "synthetic":
        # imported here so the CodecFake+ path works without the synthetic builder's deps
        from pipelines.corpus.synthetic import build_synthetic_corpus

        df = build_synthetic_corpus(params.corpus, Path(params.common.data_dir) / "corpus")
        report["skipped"] = list(df.attrs.get("skipped", []))
        report["voices"] = dict(df.attrs.get("speakers", {}))
    else:  # unreachable: params validation allows only the values above
        raise ValueError(f"corpus.source: {source!r} is not supported")
    report.update(summarize_manifest(df))
    return df, report, lists


def main() -> None:
    """The clip manifest of the corpus named by ``corpus.source``."""
    params = load_params()
    try:
        df, report, lists = build_corpus(params)
    except ReleaseError as err:  # the message names the files and the fix: no traceback
        sys.exit(f"corpus error: {err}")
    manifest = Path(params.common.data_dir) / "corpus" / "manifest.parquet"
    lists_path = manifest.parent / LISTS_NAME
    if lists is not None:  # CodecFake+: the official lists, row for row (shard stage)
        with atomic_path(lists_path) as tmp:
            lists.to_parquet(tmp, index=False)
    elif lists_path.exists():
        lists_path.unlink()  # from an earlier CodecFake+ run: not this corpus' lists
    write_manifest(df, manifest)
    reports = Path(params.common.reports_dir)
    write_report(reports / "corpus.json", report, timings_path(reports, "corpus"))
    print(f"corpus ({params.corpus.source}): {len(df)} clips -> {manifest}")


if __name__ == "__main__":
    with stage_process("corpus"):
        typer.run(main)
