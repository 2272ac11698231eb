"""Calibrate a trained model on dev: temperature, ECE before/after, reliability diagram.

    from pipelines.evaluate.calibrate import calibrate_on_dev
    result = calibrate_on_dev("models/aux/sastnet/best", dev_shards, "data/features")

The temperature is fitted on all dev clips (that is what the registered model uses). The ECE
after calibration is reported twice: on the dev clips it was fitted on, and *held out* - dev
split in two by a seeded permutation, each half scored with the temperature fitted on the
other - which is the honest figure for new clips. ``stages.register`` calls this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sastnet.calibration import (
    T_BOUNDS,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)

N_BINS = 10  # dev sets of the default profile are small: coarse bins keep each one populated
BOUND_TOLERANCE = 0.05  # |log(T / bound)| below this: the bounded search ended at the bound


@dataclass(frozen=True)
class Calibration:
    temperature: float
    dev_clips: int
    ece_before: float
    ece_after: float  # on the dev clips T was fitted on
    ece_after_heldout: float  # two-fold: each half with the T of the other half
    nll_before: float
    nll_after: float
    accuracy: float  # unchanged by calibration (argmax is invariant)

    def to_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def calibrate_probs(probs: np.ndarray, labels: np.ndarray, seed: int) -> Calibration:
    """Temperature and calibration figures for dev probabilities and labels."""
    temperature = fit_temperature(probs, labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    halves = (order[: len(order) // 2], order[len(order) // 2:])
    heldout = np.empty_like(probs, dtype=np.float64)
    if min(map(len, halves)) >= 2:
        for fit, score in (halves, halves[::-1]):
            heldout[score] = apply_temperature(probs[score], fit_temperature(probs[fit], labels[fit]))
    else:  # too few clips to split: held-out figure = in-sample one
        heldout = apply_temperature(probs, temperature)
    calibrated = apply_temperature(probs, temperature)
    return Calibration(
        temperature=temperature, dev_clips=len(labels),
        ece_before=expected_calibration_error(probs, labels, N_BINS),
        ece_after=expected_calibration_error(calibrated, labels, N_BINS),
        ece_after_heldout=expected_calibration_error(heldout, labels, N_BINS),
        nll_before=negative_log_likelihood(probs, labels),
        nll_after=negative_log_likelihood(calibrated, labels),
        accuracy=float((probs.argmax(1) == labels).mean()))


def temperature_at_bound(temperature: float, bounds: tuple[float, float] = T_BOUNDS) -> bool:
    """Whether the fit stopped at (within 5 % of) an end of its search range: the NLL had no
    minimum inside it, or was numerically flat there."""
    return any(abs(np.log(temperature / b)) < BOUND_TOLERANCE for b in bounds)


def temperature_to_apply(cal: Calibration) -> float | None:
    """The fitted temperature, or None (stay uncalibrated) when

    - it does not lower the held-out ECE: on a small or near-chance dev set the fit can make
      calibration worse, and a model should not then claim calibrated probabilities;
    - the model got every dev clip right: the NLL then keeps falling as T -> 0, so the dev set
      does not determine T, and the fit would make every answer - a wrong one on new audio
      included - 100 % sure (run J's seed-2 SASTNet: T = 0.052 on 116 of 116 dev clips);
    - it sits at a search bound (``temperature_at_bound``).
    """
    if cal.accuracy >= 1.0 or temperature_at_bound(cal.temperature):
        return None
    return cal.temperature if cal.ece_after_heldout < cal.ece_before else None


def calibration_reason(figures: dict) -> str:
    """Why a fitted temperature is applied or not, in words (``temperature_to_apply``'s rules).

    ``figures``: ``Calibration.to_dict()`` plus ``applied`` (what ``stages.register`` stores with
    every trace model). A temperature that is not applied is called a *fit*, never the model's
    temperature: the registered model has none.
    """
    fitted = (f"T = {figures['temperature']:.3g} fitted on {figures['dev_clips']} dev clips, "
              f"ECE {figures['ece_before']:.3f} -> {figures['ece_after_heldout']:.3f} held out")
    if figures["applied"]:
        return f"{fitted}; applied (it lowers the held-out ECE)"
    return f"{fitted}; not applied ({not_applied_why(figures)})"


def not_applied_why(figures: dict) -> str:
    """The rule of ``temperature_to_apply`` that kept a fitted temperature out."""
    if figures["accuracy"] >= 1.0:
        return (f"every one of the {figures['dev_clips']} dev clips is right (dev is saturated), "
                "so dev does not determine T")
    if temperature_at_bound(figures["temperature"]):
        return "T sits at an end of its search range"
    return "it does not lower the held-out ECE"


def calibration_note(temperature: float | None, figures: dict | None) -> str:
    """What a traced model's probabilities are, in one sentence for the output.

    Args:
        temperature: the temperature the model applies (None: raw softmax).
        figures: the register stage's dev figures stored with the model (empty or None for a
            checkpoint folder or a raw training version, which were never calibrated).
    """
    if temperature is not None:
        if figures and "dev_clips" in figures:
            return (f"calibrated: temperature {temperature:.3g} fitted on "
                    f"{figures['dev_clips']} dev clips (held-out ECE {figures['ece_before']:.3f} "
                    f"-> {figures['ece_after_heldout']:.3f})")
        return f"calibrated: temperature {temperature:.3g}"
    if figures and "dev_clips" in figures and not figures.get("applied", False):
        return (f"NOT calibrated (raw softmax): no temperature could be fitted, "
                f"{not_applied_why(figures)}; the probabilities are the network's own and "
                "may be over-confident, on new audio especially")
    return ("NOT calibrated (raw softmax): this model was never calibrated on dev (a checkpoint "
            "folder or a training's raw version; `dvc repro register` calibrates)")


def dev_probabilities(best_dir: str | Path, task: str, dev_shards: list[str],
                      feature_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of a ``best/`` model of ``task`` on the dev shards."""
    from pipelines.evaluate.predict import predict

    df = predict(best_dir, dev_shards, feature_dir, rm_sil=False)
    prob_cols = sorted((c for c in df.columns if c.startswith("prob_")), key=lambda c: int(c[5:]))
    return df[prob_cols].to_numpy(dtype=np.float64), df[f"label_{task}"].to_numpy(dtype=np.int64)


def plot_reliability(probs: np.ndarray, labels: np.ndarray, temperature: float, title: str,
                     path: str | Path) -> Path:
    """Reliability diagram before and after temperature scaling (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for name, p, style in (("raw", probs, "o-"),
                           (f"T = {temperature:.2f}", apply_temperature(probs, temperature), "s-")):
        bins = [b for b in reliability_bins(p, labels, N_BINS) if b.count]
        ece = expected_calibration_error(p, labels, N_BINS)
        ax.plot([b.confidence for b in bins], [b.accuracy for b in bins], style,
                label=f"{name} (ECE {ece:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top probability)", ylabel="accuracy",
           title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
