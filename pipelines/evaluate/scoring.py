"""Score prediction files: one ``EvalResult`` per (experiment, task, model, seed, evaluation set,
view); ``pipelines.evaluate.seeds`` turns the seeds into mean ± std.

Prediction files (written by ``pipelines.evaluate.predict.predict``: columns ``key``, ``label_<task>``,
``prob_0..prob_{C-1}``, ``pred``) are found by their path::

    <pred_root>/<task>/<model>/seed<k>/<experiment>/<eval_set>[.rm_sil].parquet
    <pred_root>/<task>/<model>/<experiment>/<eval_set>[.rm_sil].parquet   (one unseeded run)

* ``experiment``: ``full`` (``train.experiment``; trained on the whole CoRS train set: Tables I and IV) or
  ``seen250`` (trained on utterance ids <= 250: Tables II and III);
* ``eval_set``: a shard split: ``test_seen``, ``test_unseen`` (together: CoRS test),
  ``cosg_known``, ``cosg_all``; a file may instead hold an ``eval_set`` column (and a boolean
  ``rm_sil`` column), then it is split by those columns;
* ``.rm_sil``: predictions on the silence-removed view.

A ``Random`` row (uniform random predictions, seeded by the global seed, the evaluation and the
seed k) is added for every evaluation and every seed its models have.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sastnet.metrics import summarize
from sastnet.taxonomy import TASKS, num_classes

RANDOM = "random"  # model name of the uniform random baseline
CORS = "cors"  # evaluation set assembled from test_seen + test_unseen
# test_list: the task's official CodecFake+ test list (paper profile, shard split test_list-<task>)
EVAL_SETS = ("test_seen", "test_unseen", CORS, "cosg_known", "cosg_all", "test_list")
SEED_DIR = re.compile(r"^seed(\d+)$")


@dataclass(frozen=True)
class Predictions:
    experiment: str
    task: str
    model: str
    eval_set: str
    rm_sil: bool
    labels: np.ndarray  # (N,) true labels of ``task``
    probs: np.ndarray  # (N, C)
    keys: np.ndarray  # (N,) sample keys
    seed: int | None = None  # training seed of the model (None: an unseeded file)


@dataclass(frozen=True)
class EvalResult:
    experiment: str
    task: str
    model: str
    eval_set: str
    rm_sil: bool
    metrics: dict  # sastnet.metrics.summarize(...)
    seed: int | None = None


def _from_frame(df: pd.DataFrame, experiment: str, task: str, model: str, eval_set: str,
                rm_sil: bool, source: str, seed: int | None) -> Predictions:
    n_classes = num_classes(task)
    prob_cols = [f"prob_{i}" for i in range(n_classes)]
    missing = [c for c in ["key", f"label_{task}", *prob_cols] if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: predictions lack column(s) {', '.join(missing)} "
                         f"(task {task!r} has {n_classes} classes)")
    if eval_set not in EVAL_SETS:
        raise ValueError(f"{source}: unknown evaluation set {eval_set!r}; allowed: "
                         + ", ".join(EVAL_SETS))
    return Predictions(experiment, task, model, eval_set, rm_sil,
                       labels=df[f"label_{task}"].to_numpy(np.int64),
                       probs=df[prob_cols].to_numpy(np.float64), keys=df["key"].to_numpy(),
                       seed=seed)


def _prediction_files(root: Path) -> list[tuple[Path, str, str, int | None, str]]:
    """(path, task, model, seed, experiment) of every file in either layout."""
    found = []
    for path in sorted(root.glob("*/*/*/*.parquet")):
        task, model, experiment = path.parts[-4:-1]
        found.append((path, task, model, None, experiment))
    for path in sorted(root.glob("*/*/*/*/*.parquet")):
        task, model, seed_dir, experiment = path.parts[-5:-1]
        match = SEED_DIR.match(seed_dir)
        if not match:
            raise ValueError(f"{path}: expected <task>/<model>/seed<k>/<experiment>/<file>; "
                             f"{seed_dir!r} is not a seed folder (seed0, seed1, ...)")
        found.append((path, task, model, int(match.group(1)), experiment))
    return found


def load_predictions(pred_root: str | Path) -> list[Predictions]:
    """All prediction files under ``pred_root`` (layout in the module docstring)."""
    out = []
    for path, task, model, seed, experiment in _prediction_files(Path(pred_root)):
        if task not in TASKS:
            raise ValueError(f"{path}: task folder {task!r} is not one of {', '.join(TASKS)}")
        df = pd.read_parquet(path)
        if "eval_set" in df.columns:
            view = df["rm_sil"].astype(bool) if "rm_sil" in df.columns else False
            for (eval_set, rm_sil), part in df.assign(_v=view).groupby(["eval_set", "_v"]):
                out.append(_from_frame(part, experiment, task, model, eval_set, bool(rm_sil),
                                       str(path), seed))
            continue
        name = path.name[: -len(".parquet")]
        rm_sil = name.endswith(".rm_sil")
        eval_set = name[: -len(".rm_sil")] if rm_sil else name
        out.append(_from_frame(df, experiment, task, model, eval_set, rm_sil, str(path), seed))
    return out


def with_cors(preds: list[Predictions]) -> list[Predictions]:
    """Add the CoRS test set (test_seen + test_unseen) wherever both halves exist."""
    index = {(p.experiment, p.task, p.model, p.seed, p.eval_set, p.rm_sil): p for p in preds}
    out = list(preds)
    for (exp, task, model, seed, eval_set, rm_sil), seen in index.items():
        unseen = index.get((exp, task, model, seed, "test_unseen", rm_sil))
        if (eval_set != "test_seen" or unseen is None
                or (exp, task, model, seed, CORS, rm_sil) in index):
            continue
        out.append(Predictions(exp, task, model, CORS, rm_sil,
                               np.concatenate([seen.labels, unseen.labels]),
                               np.concatenate([seen.probs, unseen.probs]),
                               np.concatenate([seen.keys, unseen.keys]), seed))
    return out


def random_baseline(labels: np.ndarray, task: str, seed: int) -> np.ndarray:
    """Uniform random class scores (N, C): the argmax is a uniformly drawn class."""
    rng = np.random.default_rng(seed)
    return rng.random((len(labels), num_classes(task)))


def _stable_seed(seed: int, *names: str) -> int:
    return (seed + zlib.crc32("/".join(names).encode())) % 2**32


def with_random(preds: list[Predictions], seed: int) -> list[Predictions]:
    """Add a ``random`` model for every (experiment, task, eval set, view, seed) with labels:
    one draw per seed the trained models have, so the Random row has a spread too."""
    out, done = list(preds), set()
    for p in preds:
        ident = (p.experiment, p.task, p.eval_set, p.rm_sil, p.seed)
        if ident in done or p.model == RANDOM:
            continue
        done.add(ident)
        names = [p.experiment, p.task, p.eval_set] + ([f"seed{p.seed}"] if p.seed is not None else [])
        s = _stable_seed(seed, *names)  # same draw for both views
        out.append(Predictions(p.experiment, p.task, RANDOM, p.eval_set, p.rm_sil, p.labels,
                               random_baseline(p.labels, p.task, s), p.keys, p.seed))
    return out


def evaluate(preds: list[Predictions], seed: int = 1234) -> list[EvalResult]:
    """Score every prediction set, after adding the CoRS union and the Random baseline."""
    return [EvalResult(p.experiment, p.task, p.model, p.eval_set, p.rm_sil,
                       summarize(p.labels, p.probs, p.task), p.seed)
            for p in with_random(with_cors(preds), seed)]
