"""DVC stage ``corpus``: the clip manifest of the corpus named by ``corpus.source``.

    python -m stages.corpus      # writes data/corpus/manifest.parquet and reports/corpus.json

``codecfake_plus``: ingests the CodecFake+ release on disk (``pipelines.corpus.codecfake_plus``).
``synthetic``: builds the embedded offline corpus (``pipelines.corpus.synthetic``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.corpus.report import summarize_manifest
from pipelines.common.manifest import write_manifest
from pipelines.params import Params, load_params
from stages._io import write_json
from pipelines.common.process import stage_process


def build_corpus(params: Params) -> tuple[pd.DataFrame, dict]:
    """(manifest, report) for ``params.corpus.source``.

    The CodecFake+ path only reads; the synthetic builder writes its audio under
    ``<data_dir>/corpus/audio/`` itself. The manifest and report are written by ``main``.
    """
    source = params.corpus.source
    report: dict = {"source": source}
    if source == "codecfake_plus":
        from pipelines.corpus.codecfake_plus import prepare_codecfake_plus

        df, log = prepare_codecfake_plus(params.corpus.codecfake_plus)
        report["release_defects"] = log.as_dict()
    elif source == "synthetic":
        # imported here so the CodecFake+ path works without the synthetic builder's deps
        from pipelines.corpus.synthetic import build_synthetic_corpus

        df = build_synthetic_corpus(params.corpus, Path(params.common.data_dir) / "corpus")
        report["skipped"] = list(df.attrs.get("skipped", []))
        report["voices"] = dict(df.attrs.get("speakers", {}))
    else:  # unreachable: params validation allows only the values above
        raise ValueError(f"corpus.source: {source!r} is not supported")
    report.update(summarize_manifest(df))
    return df, report


def main() -> None:
    params = load_params()
    df, report = build_corpus(params)
    manifest = Path(params.common.data_dir) / "corpus" / "manifest.parquet"
    write_manifest(df, manifest)
    write_json(Path(params.common.reports_dir) / "corpus.json", report)
    print(f"corpus ({params.corpus.source}): {len(df)} clips -> {manifest}")


if __name__ == "__main__":
    with stage_process("corpus"):
        main()
