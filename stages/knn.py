"""DVC stage ``knn``: training-free kNN source attribution on the stored embeddings.

    python -m stages.knn
        reads   data/knn/clips.parquet, data/embeddings (+ index.json)
        writes  reports/knn/knn.md, reports/knn/knn_f1_vs_k.png, reports/knn/results.json,
                metrics/knn.json, data/knn/index/ (the support index of `sastnet knn`),
                one MLflow run (experiment ``knn``)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import typer

from pipelines.common.io import timings_path, write_json, write_report, write_text
from pipelines.common.process import stage_process
from pipelines.knn.embeddings import load_embeddings, num_samples_of
from pipelines.knn.experiments import build_support_index, run_experiments
from pipelines.knn.report import flat_metrics, plot_f1_vs_k, render_table
from pipelines.params import load_params
from pipelines.tracking.runs import flatten, git_commit, start_or_resume_run


def main() -> None:
    params = load_params()
    cfg = params.knn
    data_dir, reports = Path(params.common.data_dir), Path(params.common.reports_dir) / "knn"
    clips_path = data_dir / "knn" / "clips.parquet"
    if not clips_path.is_file():
        raise SystemExit(f"{clips_path} not found: run `dvc repro knn_clips` first")
    table = pd.read_parquet(clips_path)
    vectors, layers = load_embeddings(data_dir / "embeddings", table["key"].tolist())
    res = run_experiments(table, vectors, layers, cfg.attribution, params.common.seed)
    meta = {"model": cfg.embeddings.model, "local_files_only": cfg.embeddings.local_files_only,
            "num_samples": num_samples_of(cfg.clips.max_seconds),
            "fractions": list(cfg.attribution.fractions),
            "speaker_disjoint": cfg.attribution.speaker_disjoint}
    write_text(reports / "knn.md", render_table(res, meta))
    plot_f1_vs_k(res, reports / "knn_f1_vs_k.png")
    write_report(reports / "results.json", res, timings_path(params.common.reports_dir, "knn"))
    metrics = flat_metrics(res)
    write_json(Path("metrics") / "knn.json", metrics)
    index = build_support_index(table, vectors[:, layers.index(res["layer"])], res["layer"],
                                res["k"]["architecture"], cfg.attribution, params.common.seed,
                                {k: meta[k] for k in ("model", "local_files_only", "num_samples")})
    index.save(cfg.index_dir)

    tracker = start_or_resume_run("knn", f"knn-{Path(cfg.embeddings.model).name}-h{res['layer']}",
                                  tags={"git_commit": git_commit(), "stage": "knn"})
    tracker.log_params(flatten("knn", dataclasses.asdict(cfg)))
    tracker.log_metrics({k: v for k, v in flatten("", metrics).items()
                         if isinstance(v, (int, float))}, step=0)
    for path in ("knn.md", "knn_f1_vs_k.png", "results.json"):
        tracker.log_artifact(reports / path)
    tracker.finish()
    print(render_table(res, meta))
    print(f"knn: index of {len(index.vectors)} clips, {len(index.system_names)} systems "
          f"-> {cfg.index_dir}; MLflow run {tracker.run_id}")


if __name__ == "__main__":
    with stage_process("knn"):
        typer.run(main)
