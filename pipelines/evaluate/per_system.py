"""Which systems fool the model: accuracy per codec (CoRS) and per CoSG model, next to the F1.

The paper's tables give one F1 per evaluation set; a reader cannot see from them whether one
codec drags the score down. This table splits every set by the system that made each clip
(the ``codec`` column ``pipelines.evaluate.predict`` writes), for the original (not rm_sil) view,
the seeds of a model pooled:

    reports/tables/per_system.md   (written by ``stages.evaluate``)

Accuracy is the fraction of that system's clips given their true class of the task; the
class-level macro F1 of the whole set is shown above the per-system rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sastnet.metrics import macro_f1
from sastnet.taxonomy import CLASS_NAMES, TASKS

# evaluation sets shown, in order; CoRS test = test_seen + test_unseen
SETS = {"cors": ("test_seen", "test_unseen"), "cosg_all": ("cosg_all",)}
SET_TITLES = {"cors": "CoRS test, per codec", "cosg_all": "CoSG (All), per generation system"}


def load_system_predictions(pred_root: str | Path) -> pd.DataFrame:
    """Every original-view prediction with a ``codec`` column, as one long frame."""
    frames = []
    root = Path(pred_root)
    # <task>/<model>/<experiment>/ (one run) or <task>/<model>/seed<k>/<experiment>/ (seeds:
    # pooled, so a system's n counts clips x seeds)
    paths = [(p, p.parts[-4:-1]) for p in sorted(root.glob("*/*/*/*.parquet"))]
    paths += [(p, (p.parts[-5], p.parts[-4], p.parts[-2]))
              for p in sorted(root.glob("*/*/seed*/*/*.parquet"))]
    for path, (task, model, experiment) in paths:
        name = path.name[: -len(".parquet")]
        if task not in TASKS or name.endswith(".rm_sil"):
            continue
        df = pd.read_parquet(path)
        if "codec" not in df.columns or "eval_set" in df.columns:
            continue  # older prediction files, or the combined layout: no per-system split
        n = len(CLASS_NAMES[task])
        frames.append(pd.DataFrame({
            "experiment": experiment, "task": task, "model": model, "eval_set": name,
            "codec": df["codec"].fillna("?").astype(str), "label": df[f"label_{task}"].astype(int),
            "pred": df[[f"prob_{i}" for i in range(n)]].to_numpy().argmax(1)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def per_system_accuracy(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, task, set, model, codec): clips, true class, accuracy (%)."""
    rows = []
    for set_name, members in SETS.items():
        part = frame[frame["eval_set"].isin(members)]
        for (experiment, task, model, codec), g in part.groupby(
                ["experiment", "task", "model", "codec"], sort=True):
            labels = g["label"].unique()
            rows.append({"experiment": experiment, "task": task, "set": set_name, "model": model,
                         "codec": codec, "n": len(g),
                         "class": "/".join(CLASS_NAMES[task][i] for i in sorted(labels)),
                         "accuracy": 100.0 * float((g["label"] == g["pred"]).mean())})
    return pd.DataFrame(rows)


def set_macro_f1(frame: pd.DataFrame) -> dict[tuple, float]:
    out = {}
    for set_name, members in SETS.items():
        part = frame[frame["eval_set"].isin(members)]
        for (experiment, task, model), g in part.groupby(["experiment", "task", "model"]):
            out[(experiment, task, set_name, model)] = macro_f1(
                g["label"].to_numpy(), g["pred"].to_numpy(), len(CLASS_NAMES[task]))
    return out


def render_per_system(frame: pd.DataFrame) -> str:
    """Markdown: per experiment/task/set, systems as rows and models as columns."""
    if frame.empty:
        return "# Per-system accuracy\n\nNo prediction files with a `codec` column.\n"
    acc = per_system_accuracy(frame)
    f1 = set_macro_f1(frame)
    lines = ["# Per-system accuracy", "",
             "Each cell: accuracy (%) on that system's clips (n = clips). First row: the set's "
             "class-level macro F1 (%). Original audio (no silence removal).", ""]
    for (experiment, task, set_name), g in acc.groupby(["experiment", "task", "set"], sort=True):
        models = sorted(g["model"].unique())
        lines += [f"## {experiment} / {task.upper()} / {SET_TITLES[set_name]}", "",
                  "| system | class | n | " + " | ".join(models) + " |",
                  "| --- | --- | ---: | " + " | ".join("---:" for _ in models) + " |",
                  "| *macro F1 (all classes)* | | | " + " | ".join(
                      f"{f1[(experiment, task, set_name, m)]:.1f}" for m in models) + " |"]
        for codec, rows in g.groupby("codec", sort=True):
            by_model = dict(zip(rows["model"], rows["accuracy"]))
            first = rows.iloc[0]
            lines.append(f"| {codec} | {first['class']} | {first['n']} | " + " | ".join(
                f"{by_model[m]:.1f}" if m in by_model else "-" for m in models) + " |")
        lines.append("")
    return "\n".join(lines)


def worst_systems(frame: pd.DataFrame, k: int = 3) -> list[dict]:
    """The ``k`` (set, model, system) cells with the lowest accuracy: who fools the model most."""
    acc = per_system_accuracy(frame)
    if acc.empty:
        return []
    return acc.sort_values(["accuracy", "n"], ascending=[True, False]).head(k).to_dict("records")


__all__ = ["load_system_predictions", "per_system_accuracy", "render_per_system", "worst_systems"]
