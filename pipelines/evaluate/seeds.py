"""Seeds as a dimension of the results: per-seed scores -> mean ± std with n.

Every trained model exists once per seed (``train.seeds``); a table cell is the mean over
those seeds, the spread is the *sample* standard deviation (``ddof=1``, the estimate of the
seed-to-seed spread; undefined, shown as "–", for one seed) and ``n`` says how many seeds.
Differences between two views of the same model (Table II's rm_sil - original) are taken
per seed first, then averaged: the seeds pair the two views. ``flat_metrics`` (over seeds) and
``flat_metrics_per_seed`` flatten the results into the DVC metrics files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from pipelines.evaluate.scoring import EvalResult

METRICS = ("macro_f1", "weighted_f1", "accuracy", "eer")


@dataclass(frozen=True)
class SeedStats:
    """One metric of one (experiment, task, model, eval set, view) over its seeds."""

    mean: float
    std: float  # sample std (ddof=1); nan for n = 1
    n: int
    per_seed: dict = field(default_factory=dict)  # seed (int, or None for an unseeded file) -> value

    @classmethod
    def of(cls, values: dict) -> SeedStats:
        """Stats of ``{seed: value}``; NaN values (metric undefined for a seed) are left out."""
        finite = {s: float(v) for s, v in values.items() if v is not None and math.isfinite(v)}
        if not finite:
            return cls(math.nan, math.nan, 0, {})
        arr = np.array(list(finite.values()), dtype=np.float64)
        std = float(arr.std(ddof=1)) if len(arr) > 1 else math.nan
        return cls(float(arr.mean()), std, len(arr), dict(sorted(finite.items(), key=_seed_order)))

    def minus(self, other: SeedStats) -> SeedStats:
        """Per-seed ``self - other`` over the seeds both have, then its stats."""
        common = set(self.per_seed) & set(other.per_seed)
        return SeedStats.of({s: self.per_seed[s] - other.per_seed[s] for s in common})


def _seed_order(item: tuple) -> tuple:
    seed = item[0]
    return (seed is not None, seed if seed is not None else 0)


Key = tuple  # (experiment, task, model, eval_set, rm_sil)


def aggregate(results: Iterable[EvalResult]) -> dict[Key, dict[str, SeedStats]]:
    """``{(experiment, task, model, eval_set, rm_sil): {metric: SeedStats}}`` over seeds."""
    by: dict[Key, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        key = (r.experiment, r.task, r.model, r.eval_set, r.rm_sil)
        for metric in METRICS:
            if metric in r.metrics:
                if r.seed in by[key][metric]:
                    raise ValueError(f"{key}: two results for seed {r.seed}")
                by[key][metric][r.seed] = r.metrics[metric]
    return {key: {m: SeedStats.of(v) for m, v in metrics.items()} for key, metrics in by.items()}


def format_stats(stats: SeedStats | None, digits: int = 2) -> str:
    """``80.44 ± 2.10`` (or ``80.44`` for one seed); "–" when there is no value."""
    if stats is None or stats.n == 0:
        return "–"
    if stats.n == 1:
        return f"{stats.mean:.{digits}f}"
    return f"{stats.mean:.{digits}f} ± {stats.std:.{digits}f}"


def _finite(value) -> bool:
    return value is not None and bool(np.isfinite(value))


def flat_metrics(results: list[EvalResult]) -> dict[str, dict[str, float]]:
    """Over seeds: ``{"<experiment>_<task>": {"<model>/<eval_set>[/rm_sil]/<metric>": mean,
    ".../<metric>_std": sample std, ".../n_seeds": n}}``, NaNs left out (``dvc metrics show``
    lists the numbers of each file). Per-seed values: ``flat_metrics_per_seed``."""
    out: dict[str, dict[str, float]] = {}
    for (experiment, task, model, eval_set, rm_sil), metrics in sorted(
            aggregate(results).items(), key=lambda kv: str(kv[0])):
        group = out.setdefault(f"{experiment}_{task}", {})
        prefix = f"{model}/{eval_set}" + ("/rm_sil" if rm_sil else "")
        for name, stats in metrics.items():
            if _finite(stats.mean):
                group[f"{prefix}/{name}"] = round(stats.mean, 4)
            if _finite(stats.std):
                group[f"{prefix}/{name}_std"] = round(stats.std, 4)
        group[f"{prefix}/n_seeds"] = max((s.n for s in metrics.values()), default=0)
    return out


def flat_metrics_per_seed(results: list[EvalResult]) -> dict[str, dict[str, float]]:
    """``{"<experiment>_<task>": {"<model>/seed<k>/<eval_set>[/rm_sil]/<metric>": value}}``."""
    out: dict[str, dict[str, float]] = {}
    for r in results:
        group = out.setdefault(f"{r.experiment}_{r.task}", {})
        seed = "unseeded" if r.seed is None else f"seed{r.seed}"
        prefix = f"{r.model}/{seed}/{r.eval_set}" + ("/rm_sil" if r.rm_sil else "")
        for name in ("macro_f1", "weighted_f1", "accuracy", "eer", "n"):
            value = r.metrics.get(name)
            if _finite(value):
                group[f"{prefix}/{name}"] = round(float(value), 4)
    return {k: dict(sorted(v.items())) for k, v in out.items()}
