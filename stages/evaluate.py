"""Stage ``evaluate``: the paper's tables, metrics and confusion matrices from prediction files.

    python -m stages.evaluate [predictions]    # default folder: predictions/

Reads ``<pred_root>/<task>/<model>/<experiment>/<eval_set>[.rm_sil].parquet`` (see
``pipelines.evaluate.scoring``) and writes ``reports/tables/*.md``, ``metrics/evaluation.json``
and ``reports/plots/cm_<experiment>_<task>_<model>_<eval_set>[_rm_sil].png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from pipelines.evaluate.per_system import load_system_predictions, render_per_system
from pipelines.evaluate.scoring import RANDOM, evaluate, flat_metrics, load_predictions, with_cors
from pipelines.params import load_params
from pipelines.evaluate.plots import plot_confusion_matrix
from pipelines.evaluate.tables import SET_NAMES, display_name, render_tables
from stages._io import write_json, write_text
from pipelines.common.process import stage_process


def write_evaluation(pred_root: str | Path, reports_dir: str | Path, metrics_dir: str | Path,
                     seed: int) -> dict[str, str]:
    """Score all predictions under ``pred_root`` and write tables, metrics and plots.

    Returns:
        the rendered markdown tables by name.
    Raises:
        FileNotFoundError: no prediction files under ``pred_root``.
    """
    preds = load_predictions(pred_root)
    if not preds:
        raise FileNotFoundError(f"{pred_root}: no prediction files "
                                "(<task>/<model>/<experiment>/<eval_set>[.rm_sil].parquet)")
    results = evaluate(preds, seed=seed)
    tables = render_tables(results)
    for name, text in tables.items():
        write_text(Path(reports_dir) / "tables" / f"{name}.md", text)
    # Which systems fool the model (pipelines/evaluate/per_system.py): its own table file.
    tables["per_system"] = render_per_system(load_system_predictions(pred_root))
    write_text(Path(reports_dir) / "tables" / "per_system.md", tables["per_system"])
    # One metrics file (nested by ``<experiment>_<task>``) so `dvc metrics show` lists it all.
    write_json(Path(metrics_dir) / "evaluation.json", flat_metrics(results))
    for p in tqdm([p for p in with_cors(preds) if p.model != RANDOM], desc="confusion matrices"):
        view = "_rm_sil" if p.rm_sil else ""
        title = (f"{display_name(p.model, p.task)} - {p.task.upper()} - "
                 f"{SET_NAMES.get(p.eval_set, p.eval_set)}{' rm_sil' if p.rm_sil else ''}")
        plot_confusion_matrix(p.labels, p.probs.argmax(axis=1), p.task, title,
                              Path(reports_dir) / "plots"
                              / f"cm_{p.experiment}_{p.task}_{p.model}_{p.eval_set}{view}.png")
    return tables


def main() -> None:
    params = load_params()
    pred_root = sys.argv[1] if len(sys.argv) > 1 else "predictions"
    tables = write_evaluation(pred_root, params.common.reports_dir, "metrics", params.common.seed)
    print(f"evaluate: wrote {', '.join(sorted(tables))} to {params.common.reports_dir}/tables")


if __name__ == "__main__":
    with stage_process("evaluate"):
        main()
