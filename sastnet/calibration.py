"""Temperature scaling (Guo et al., 2017) and the calibration error it is judged by.

A classifier's softmax output is *calibrated* when, among clips it gives confidence ~0.8, about
80 % are right. Temperature scaling divides the logits by one scalar ``T`` fitted on held-out
data by negative log-likelihood: the argmax (so accuracy and F1) never changes, only how sharp
the probabilities are. It works from probabilities as well as logits, because
``softmax(log p / T) == softmax(z / T)`` (``log p`` differs from ``z`` by a per-row constant).

    T = fit_temperature(dev_probs, dev_labels)
    calibrated = apply_temperature(test_probs, T)
    expected_calibration_error(test_probs, y), expected_calibration_error(calibrated, y)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

EPS = 1e-12  # floor for log(p): a softmax output can underflow to exactly 0
T_BOUNDS = (0.05, 20.0)  # wide enough for any sane model; a bound hit means "degenerate data"


def _log_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"expected (N, C) probabilities with N > 0, got shape {probs.shape}")
    return np.log(np.clip(probs, EPS, 1.0))


def _check_labels(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"labels shape {labels.shape} does not match {probs.shape[0]} rows")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(f"labels must lie in [0, {probs.shape[1]}), got {labels.min()}..{labels.max()}")
    return labels


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities re-sharpened (``T < 1``) or softened (``T > 1``); ``T == 1`` is identity."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return softmax(_log_probs(probs) / float(temperature))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean NLL of the true class (nats)."""
    logp = _log_probs(probs)
    labels = _check_labels(labels, logp)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray,
                    bounds: tuple[float, float] = T_BOUNDS) -> float:
    """The ``T`` minimising the NLL of ``apply_temperature(probs, T)`` on ``labels``.

    One scalar, searched on ``log T`` (the NLL is smooth and unimodal there in practice).
    """
    logp = _log_probs(probs)
    labels = _check_labels(labels, logp)
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float((np.log(np.exp(z).sum(axis=1)) - z[rows, labels]).mean())

    result = minimize_scalar(nll, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded",
                             options={"xatol": 1e-5})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float  # confidence range [lower, upper)
    upper: float
    count: int
    confidence: float  # mean max-probability in the bin (nan when empty)
    accuracy: float  # fraction right in the bin (nan when empty)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> list[ReliabilityBin]:
    """Equal-width bins of top-class confidence with their accuracy (the reliability diagram)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = _check_labels(labels, _log_probs(probs))
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed last bin so confidence 1.0 is counted.
    index = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        mask = index == b
        n = int(mask.sum())
        bins.append(ReliabilityBin(lower=float(edges[b]), upper=float(edges[b + 1]), count=n,
                                   confidence=float(conf[mask].mean()) if n else float("nan"),
                                   accuracy=float(correct[mask].mean()) if n else float("nan")))
    return bins


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over the reliability bins (0..1)."""
    bins = reliability_bins(probs, labels, n_bins)
    total = sum(b.count for b in bins)
    return float(sum(b.count * abs(b.accuracy - b.confidence) for b in bins if b.count) / total)
