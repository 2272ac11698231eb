"""Timing maths shared by every benchmark: best-of-N with its spread, and side-by-side ratios.

A shared 2-core machine is noisy in one direction only: other work makes a run slower, never
faster. So the *best* of N repeats is the least disturbed estimate of a cost, the median says
what a typical repeat saw, and the spread ``(worst - best) / best`` says how much the machine
moved while we measured. A figure compares two sides measured in the same run, interleaved
(A, B, A, B, ...), so slow drift in the load hits both.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """N durations of the same work, in seconds."""

    seconds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.seconds:
            raise ValueError("a Timing needs at least one duration")
        if min(self.seconds) <= 0:
            raise ValueError(f"durations must be > 0, got {self.seconds}")

    @property
    def best_s(self) -> float:
        return min(self.seconds)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(worst - best) / best: 0.1 = the slowest repeat took 10% longer than the fastest."""
        return (max(self.seconds) - self.best_s) / self.best_s

    def rate(self, work: float) -> float:
        """Best throughput: ``work`` units (clips, steps) per second of the fastest repeat."""
        return work / self.best_s


def time_call(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleaved(sides: dict[str, Callable[[], Any]], repeats: int,
                warmup: bool = False) -> dict[str, Timing]:
    """Time every side ``repeats`` times, taking turns (A, B, A, B, ...).

    Args:
        sides: name -> zero-argument callable doing the whole unit of work once.
        repeats: N of best-of-N.
        warmup: run each side once, untimed, first (imports, caches, allocators).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup:
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            times[name].append(time_call(fn)[0])
    return {name: Timing(tuple(t)) for name, t in times.items()}


@dataclass(frozen=True)
class Side:
    """One side of a figure: a name and its numbers, in the figure's unit."""

    name: str
    best: float  # the best repeat (fastest time, or highest rate)
    median: float
    spread: float  # (worst - best) / best of the underlying durations
    n: int

    @classmethod
    def of_time(cls, name: str, timing: Timing, per: float = 1.0) -> Side:
        """Seconds per ``per`` units (e.g. per step): lower is better."""
        return cls(name, timing.best_s / per, timing.median_s / per, timing.spread,
                   len(timing.seconds))

    @classmethod
    def of_rate(cls, name: str, timing: Timing, work: float) -> Side:
        """``work`` units per second: higher is better."""
        return cls(name, work / timing.best_s, work / timing.median_s, timing.spread,
                   len(timing.seconds))

    @classmethod
    def single(cls, name: str, value: float) -> Side:
        """A number read from a record or measured once (n = 1, no spread)."""
        return cls(name, value, value, 0.0, 1)


@dataclass(frozen=True)
class Figure:
    """Two sides measured in the same run, and how many times better ``b`` is than ``a``.

    ``ratio`` is always "b over a" in the sense of *better*: for a rate ``b / a``, for a time
    ``a / b``, so > 1 means ``b`` wins either way.
    """

    id: str
    what: str
    unit: str
    higher_is_better: bool
    a: Side
    b: Side
    note: str = ""

    @property
    def ratio(self) -> float:
        return speedup(self.a.best, self.b.best, self.higher_is_better)

    @property
    def ratio_median(self) -> float:
        return speedup(self.a.median, self.b.median, self.higher_is_better)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3),
                "ratio_median": round(self.ratio_median, 3)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        fields = {k: v for k, v in data.items() if k not in ("ratio", "ratio_median")}
        return cls(**{**fields, "a": Side(**data["a"]), "b": Side(**data["b"])})


def speedup(a: float, b: float, higher_is_better: bool) -> float:
    """How many times better ``b`` is than ``a`` (rates: b / a; times: a / b)."""
    if a <= 0 or b <= 0:
        raise ValueError(f"speedup needs positive numbers, got {a}, {b}")
    return b / a if higher_is_better else a / b
