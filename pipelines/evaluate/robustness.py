"""The laundering axis of the evaluation: predictions on the laundered sets and the robustness
table (issue #35, docs/laundering.md).

    from pipelines.evaluate.robustness import predict_laundered, write_robustness
    predict_laundered(best, loaded, "data/launder", out_dir)          # in the predict stage
    tables = write_robustness("predictions", "reports", tasks=("aux",))  # in the evaluate stage

Predictions of one model on ``<set>@<condition>`` (``data/launder/shards``, stage ``launder``)
are written beside its clean ones, one level deeper so the clean scoring never reads them::

    predictions/<task>/<model>/seed<k>/<experiment>/launder/<condition>/<set>.parquet

Each laundered file is scored against the clean predictions of the same model, seed and clips
(the laundered set may be a subset: the clean file is cut to its keys), so the drop from clean
is paired by seed and by clip. CoRS is the union of the two test halves, as in the clean tables.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display (must precede pyplot)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipelines.common.io import atomic_path, write_text
from pipelines.dataset.loader import shard_paths_for
from pipelines.evaluate.predict import predict
from pipelines.evaluate.scoring import CORS, SEED_DIR, Predictions, _from_frame, with_cors
from pipelines.evaluate.seeds import SeedStats, format_stats
from pipelines.evaluate.summary import BASELINE, versus_baseline
from pipelines.evaluate.tables import SET_NAMES, display_name, model_sort_key
from sastnet.launder import CONDITIONS
from sastnet.metrics import summarize

CLEAN = "clean"  # the condition name of the clean predictions cut to the laundered clips
LAUNDER_PART = "launder"  # the folder under <experiment>/ that holds the laundered predictions


def laundered_splits(launder_dir: str | Path) -> list[tuple[str, str, str]]:
    """(split, set, condition) of every laundered split in ``<launder_dir>/shards/index.json``."""
    index = Path(launder_dir) / "shards" / "index.json"
    if not index.is_file():
        return []
    splits = json.loads(index.read_text()).get("splits", {})
    return [(name, s["set"], s["condition"]) for name, s in splits.items()]


def predict_laundered(checkpoint_dir: str | Path, loaded, launder_dir: str | Path,
                      out_dir: str | Path) -> list[Path]:
    """Predict one trained model on every laundered split (none when the axis is off).

    Args:
        checkpoint_dir: the model's ``best/`` folder.
        loaded: its ``pipelines.evaluate.predict.load_trained_model`` result (loaded once).
        launder_dir: the launder stage's output (``data/launder``: ``shards/``, ``features/``).
        out_dir: ``predictions/<task>/<model>/seed<k>/<experiment>``.

    Returns:
        the files written, ``<out_dir>/launder/<condition>/<set>.parquet``.
    """
    launder_dir = Path(launder_dir)
    written = []
    for split, eval_set, condition in laundered_splits(launder_dir):
        shards = shard_paths_for(launder_dir / "shards", split)
        df = predict(checkpoint_dir, shards, str(launder_dir / "features"), rm_sil=False,
                     loaded=loaded)
        out = Path(out_dir) / LAUNDER_PART / condition / f"{eval_set}.parquet"
        with atomic_path(out) as tmp:
            df.to_parquet(tmp, index=False)
        written.append(out)
    return written


@dataclass(frozen=True)
class RobustResult:
    """Macro F1 (%) of one (experiment, task, model, seed, set) under one condition."""

    experiment: str
    task: str
    model: str
    seed: int | None
    eval_set: str
    condition: str  # CLEAN: the clean predictions of the same clips
    macro_f1: float
    n: int


def _files(pred_root: Path) -> list[tuple[Path, str, str, int | None, str, str]]:
    """(path, task, model, seed, experiment, condition) of every laundered prediction file."""
    found = []
    for path in sorted(pred_root.glob(f"*/*/*/*/{LAUNDER_PART}/*/*.parquet")):
        task, model, seed_dir, experiment, _, condition = path.parts[-7:-1]
        match = SEED_DIR.match(seed_dir)
        if match:
            found.append((path, task, model, int(match.group(1)), experiment, condition))
    return found


def load_laundered(pred_root: str | Path) -> list[tuple[str, Predictions]]:
    """(condition, predictions) for every laundered file and, under ``CLEAN``, the clean
    predictions of the same model, seed and set cut to the laundered clips (CoRS added)."""
    pred_root = Path(pred_root)
    laundered: dict[str, list[Predictions]] = defaultdict(list)
    clean_keys: dict[tuple, set] = defaultdict(set)
    for path, task, model, seed, experiment, condition in _files(pred_root):
        eval_set = path.name[: -len(".parquet")]
        p = _from_frame(pd.read_parquet(path), experiment, task, model, eval_set, False,
                        str(path), seed)
        laundered[condition].append(p)
        clean_keys[(task, model, seed, experiment, eval_set)].update(p.keys.tolist())
    clean = []
    for (task, model, seed, experiment, eval_set), keys in clean_keys.items():
        path = pred_root / task / model / f"seed{seed}" / experiment / f"{eval_set}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the clean predictions the laundered {eval_set} is "
                                    "compared with are missing (rerun the predict stage)")
        df = pd.read_parquet(path)
        df = df[df["key"].isin(keys)].drop_duplicates("key")
        if len(df) != len(keys):
            raise ValueError(f"{path}: {len(keys) - len(df)} laundered clips have no clean "
                             "prediction (the laundered sets are older than the shards?)")
        clean.append(_from_frame(df, experiment, task, model, eval_set, False, str(path), seed))
    out = [(CLEAN, p) for p in with_cors(clean)]
    for condition, preds in laundered.items():
        out += [(condition, p) for p in with_cors(preds)]
    return out


def score_laundered(pred_root: str | Path) -> list[RobustResult]:
    """Macro F1 (%) of every laundered prediction set and of its clean counterpart."""
    out = []
    for condition, p in load_laundered(pred_root):
        m = summarize(p.labels, p.probs, p.task)
        out.append(RobustResult(p.experiment, p.task, p.model, p.seed, p.eval_set, condition,
                                float(m["macro_f1"]), len(p.labels)))
    return out


def _stats(results: list[RobustResult]) -> dict[tuple, SeedStats]:
    by: dict[tuple, dict] = defaultdict(dict)
    for r in results:
        by[(r.experiment, r.task, r.model, r.eval_set, r.condition)][r.seed] = r.macro_f1
    return {k: SeedStats.of(v) for k, v in by.items()}


def _order(values, preferred) -> list[str]:
    preferred = list(preferred)
    return sorted(set(values), key=lambda v: (preferred.index(v) if v in preferred
                                              else len(preferred), v))


SET_ORDER = (CORS, "test_seen", "test_unseen", "cosg_known", "cosg_all")


def _cell(stats: SeedStats | None) -> str:
    return format_stats(stats) if stats is not None and stats.n else "–"


def robustness_table(results: list[RobustResult], task: str, experiment: str,
                     conditions: list[str] | None = None, baseline: str = BASELINE) -> str | None:
    """Markdown: per set, a row per (condition, model): macro F1 (%) mean ± std over seeds, the
    drop from clean paired by seed with its verdict, and that drop minus the baseline's (paired
    by seed) with its verdict. None when the task has no laundered predictions."""
    stats = _stats([r for r in results if r.task == task and r.experiment == experiment])
    if not stats:
        return None
    conds = conditions or _order({k[4] for k in stats if k[4] != CLEAN}, CONDITIONS)
    models = sorted({k[2] for k in stats}, key=model_sort_key)
    parts = []
    for eval_set in _order({k[3] for k in stats}, SET_ORDER):
        rows = []
        for condition in [CLEAN, *conds]:
            for model in models:
                f1 = stats.get((experiment, task, model, eval_set, condition))
                if f1 is None:
                    continue
                row = [condition, display_name(model, task), str(f1.n), _cell(f1)]
                if condition == CLEAN:
                    rows.append(row + ["", "", "", ""])
                    continue
                clean = stats.get((experiment, task, model, eval_set, CLEAN))
                drop = f1.minus(clean) if clean is not None else None
                row += [_cell(drop), versus_baseline(drop) if drop is not None else "–"]
                base_drop = _drop(stats, experiment, task, baseline, eval_set, condition)
                if model == baseline or base_drop is None or drop is None:
                    row += ["", ""]
                else:
                    diff = drop.minus(base_drop)
                    row += [_cell(diff), versus_baseline(diff)]
                rows.append(row)
        n_clips = next((r.n for r in results if r.task == task and r.eval_set == eval_set), 0)
        parts.append(f"**{SET_NAMES.get(eval_set, eval_set)}** ({n_clips} clips)\n\n"
                     + _markdown(["Condition", "Model", "n", "macro F1", "drop from clean",
                                  "drop verdict", f"drop − {display_name(baseline, task)}'s",
                                  "verdict"], rows))
    return "\n\n".join(parts)


def _drop(stats, experiment, task, model, eval_set, condition) -> SeedStats | None:
    f1 = stats.get((experiment, task, model, eval_set, condition))
    clean = stats.get((experiment, task, model, eval_set, CLEAN))
    return f1.minus(clean) if f1 is not None and clean is not None else None


def plot_robustness(results: list[RobustResult], task: str, experiment: str, path: str | Path,
                    conditions: list[str] | None = None) -> Path | None:
    """Macro F1 (mean ± std over seeds) against condition, one panel per set, one line per model."""
    stats = _stats([r for r in results if r.task == task and r.experiment == experiment])
    if not stats:
        return None
    conds = [CLEAN, *(conditions or _order({k[4] for k in stats if k[4] != CLEAN}, CONDITIONS))]
    sets = _order({k[3] for k in stats}, SET_ORDER)
    models = sorted({k[2] for k in stats}, key=model_sort_key)
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.6), dpi=110,
                             sharey=True, squeeze=False)
    x = np.arange(len(conds))
    for ax, eval_set in zip(axes[0], sets):
        for model in models:
            s = [stats.get((experiment, task, model, eval_set, c)) for c in conds]
            mean = [v.mean if v is not None and v.n else math.nan for v in s]
            std = [v.std if v is not None and v.n > 1 else 0.0 for v in s]
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=display_name(model, task))
        ax.set_xticks(x, conds, rotation=35, ha="right")
        ax.set_title(SET_NAMES.get(eval_set, eval_set))
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{task.upper()} macro F1 (%)")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{task.upper()}: macro F1 against laundering condition (mean ± std over seeds)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def robustness_metrics(results: list[RobustResult]) -> tuple[dict, dict]:
    """Flat metrics in the evaluation files' layout, the condition as the view:
    ``{"<experiment>_<task>": {"<model>/<set>/<condition>/macro_f1": mean, ..._std, n_seeds}}``
    and per seed ``<model>/seed<k>/<set>/<condition>/macro_f1`` (the model card reads both)."""
    agg, per_seed = {}, {}
    for (experiment, task, model, eval_set, condition), s in sorted(
            _stats([r for r in results if r.condition != CLEAN]).items()):
        group = agg.setdefault(f"{experiment}_{task}", {})
        prefix = f"{model}/{eval_set}/{condition}"
        if math.isfinite(s.mean):
            group[f"{prefix}/macro_f1"] = round(s.mean, 4)
        if math.isfinite(s.std):
            group[f"{prefix}/macro_f1_std"] = round(s.std, 4)
        group[f"{prefix}/n_seeds"] = s.n
    for r in results:
        if r.condition != CLEAN and r.seed is not None:
            per_seed.setdefault(f"{r.experiment}_{r.task}", {})[
                f"{r.model}/seed{r.seed}/{r.eval_set}/{r.condition}/macro_f1"] = round(r.macro_f1, 4)
    return agg, per_seed


ROBUSTNESS_NOTE = (
    "Macro F1 (%) of each model on laundered copies of the evaluation sets (stage `launder`, "
    "docs/laundering.md), mean ± sample std over the n training seeds; `clean` is the same "
    "clips unlaundered. Drop from clean = laundered − clean of the same seed, then mean ± std "
    "(negative: laundering costs F1); drop − baseline's = that drop minus the baseline's of "
    "the same seed (positive: the model loses less). A difference whose |mean| is not larger "
    "than its std is inside the seed spread: not a finding.")


def write_robustness(pred_root: str | Path, reports_dir: str | Path, tasks, *,
                     conditions: list[str] | None = None,
                     baseline: str = BASELINE) -> tuple[dict[str, str], list[RobustResult]]:
    """``reports/tables/robustness_<task>.md`` and ``reports/plots/robustness_<task>.png`` for
    every task with laundered predictions; returns ({task: table markdown}, results)."""
    results = score_laundered(pred_root)
    experiments = {r.experiment for r in results}
    experiment = "full" if "full" in experiments else "seen250"
    tables = {}
    for task in tasks:
        table = robustness_table(results, task, experiment, conditions, baseline)
        if table is None:
            continue
        tables[task] = table
        write_text(Path(reports_dir) / "tables" / f"robustness_{task}.md",
                   f"**Robustness to laundering, {task.upper()} task.** {ROBUSTNESS_NOTE} "
                   f"Experiment: {experiment}.\n\n{table}\n")
        plot_robustness(results, task, experiment,
                        Path(reports_dir) / "plots" / f"robustness_{task}.png", conditions)
    return tables, results


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
