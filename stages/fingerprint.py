"""DVC stage ``fingerprint``: can a simple classifier tell the codecs' clips from bona fide?

    python -m stages.fingerprint      # reads data/resynth/manifest.parquet, writes reports/fingerprint.json

See ``pipelines/codecs/fingerprint.py`` for what is measured and why.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import typer

from pipelines.codecs.fingerprint import clip_features, fingerprint_report
from pipelines.common.io import timings_path, write_report
from pipelines.common.process import stage_process
from pipelines.params import load_params


def main() -> None:
    """Can a simple classifier tell the codecs' clips from bona fide?."""
    params = load_params()
    start = time.perf_counter()
    df = pd.read_parquet(Path(params.common.data_dir) / "resynth" / "manifest.parquet")
    df, feats, rejected = clip_features(df)
    report = fingerprint_report(df, feats, seed=params.common.seed)
    report["rejected"] = rejected
    report["wall_s"] = round(time.perf_counter() - start, 1)
    reports = Path(params.common.reports_dir)
    write_report(reports / "fingerprint.json", report, timings_path(reports, "fingerprint"))
    s = report["summary"]
    print(f"fingerprint: pairwise balanced accuracy {s['min_pairwise_acc']}..{s['max_pairwise_acc']}"
          f" over {len(report['per_codec'])} codecs; tasks "
          + ", ".join(f"{t} {v['balanced_acc']}" for t, v in report["tasks"].items()))
    for task, entry in report.get("cosg", {}).items():
        if task != "clips":
            print(f"  {task} probe macro F1 %: CoRS-trained on CoSG (kn.) "
                  f"{entry['cors_trained_on_cosg_known']}, (All) {entry['cors_trained_on_cosg_all']};"
                  f" fitted within CoSG (All), 5-fold by prompt {entry.get('within_cosg_all_cv')}")


if __name__ == "__main__":
    with stage_process("fingerprint"):
        typer.run(main)
