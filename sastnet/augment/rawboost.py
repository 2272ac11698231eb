"""RawBoost data augmentation (Tak et al., ICASSP 2022), numpy + scipy.signal.

Three noise types and their combinations (the paper's numbering):

    1 LnL   linear and non-linear convolutive noise (random multi-band notch FIR filters
            applied to x, x^2, ..., x^N_f, summed)
    2 ISD   impulsive signal-dependent additive noise (P% of samples perturbed)
    3 SSI   stationary signal-independent additive noise (coloured white noise at a random SNR)
    4 series 1 -> 2 -> 3     5 series 1 -> 2 (SASTNet's choice)     6 series 1 -> 3
    7 series 2 -> 3          8 parallel 1 + 2 (sum of both, peak-normalised)
    0 no augmentation

    rng = np.random.default_rng(1234)
    augmented = rawboost(wave, algo=5, rng=rng)   # same length, float32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from sastnet.audio import SAMPLE_RATE_HZ


@dataclass(frozen=True)
class RawBoostParams:
    """The RawBoost paper's standard settings (also its reference implementation's defaults)."""

    n_bands: int = 5  # notch filters per FIR
    min_f_hz: float = 20.0  # band centre range
    max_f_hz: float = 8000.0
    min_bw_hz: float = 100.0  # band width range
    max_bw_hz: float = 1000.0
    min_coeff: int = 10  # FIR taps range (made odd)
    max_coeff: int = 100
    min_gain_db: float = 0.0  # filter gain range
    max_gain_db: float = 0.0
    min_bias_db: float = 5.0  # gain decrease of the non-linear (power > 1) terms
    max_bias_db: float = 20.0
    n_f: int = 5  # LnL: highest power of x
    p_percent: float = 10.0  # ISD: at most this % of samples perturbed
    g_sd: float = 2.0  # ISD: impulse gain
    snr_min_db: float = 10.0  # SSI: SNR range
    snr_max_db: float = 40.0


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(0.0, 1.0) * (high - low) + low)


def _peak_normalise(x: np.ndarray, always: bool) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0 and (always or peak > 1.0):
        return x / peak
    return x


def _notch_fir(rng: np.random.Generator, p: RawBoostParams, gain_range: tuple[float, float],
               sr: int) -> np.ndarray:
    """Cascade of ``n_bands`` random band FIR filters, scaled to a random peak gain."""
    b = np.ones(1)
    for _ in range(p.n_bands):
        fc = _uniform(rng, p.min_f_hz, p.max_f_hz)
        bw = _uniform(rng, p.min_bw_hz, p.max_bw_hz)
        taps = int(_uniform(rng, p.min_coeff, p.max_coeff))
        taps += 1 - taps % 2  # firwin band filters need an odd number of taps
        lo = max(fc - bw / 2, 1e-3)
        hi = min(fc + bw / 2, sr / 2 - 1e-3)
        if hi <= lo:  # band entirely above Nyquist: nothing to shape
            continue
        b = np.convolve(signal.firwin(taps, [lo, hi], window="hamming", fs=sr), b)
    gain_db = _uniform(rng, *gain_range)
    _, h = signal.freqz(b, 1, fs=sr)
    return 10 ** (gain_db / 20) * b / max(float(np.max(np.abs(h))), 1e-12)


def _filter_same_length(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """FIR filter with zero padding, compensating the group delay, same length as x."""
    n = b.shape[0] + 1
    y = signal.lfilter(b, 1, np.pad(x, (0, n)))
    return y[n // 2: n // 2 + x.shape[0]]


def lnl_convolutive(x: np.ndarray, rng: np.random.Generator, p: RawBoostParams,
                    sr: int) -> np.ndarray:
    """Algorithm 1: sum_j FIR_j(x^j), j = 1..N_f; higher powers get lower gain."""
    y = np.zeros_like(x)
    gain = (p.min_gain_db, p.max_gain_db)
    for j in range(p.n_f):
        if j == 1:  # non-linear terms are attenuated by a random bias
            gain = (p.min_gain_db - p.min_bias_db, p.max_gain_db - p.max_bias_db)
        y = y + _filter_same_length(np.power(x, j + 1), _notch_fir(rng, p, gain, sr))
    return _peak_normalise(y - np.mean(y), always=False)


def isd_additive(x: np.ndarray, rng: np.random.Generator, p: RawBoostParams) -> np.ndarray:
    """Algorithm 2: a random beta% of samples get x[n] * g_sd * (product of two U(-1,1))."""
    beta = _uniform(rng, 0.0, p.p_percent)
    n = int(x.shape[0] * beta / 100)
    idx = rng.permutation(x.shape[0])[:n]
    f_r = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
    y = x.copy()
    y[idx] = x[idx] + p.g_sd * x[idx] * f_r
    return _peak_normalise(y, always=False)


def ssi_additive(x: np.ndarray, rng: np.random.Generator, p: RawBoostParams,
                 sr: int) -> np.ndarray:
    """Algorithm 3: white noise coloured by a random FIR, added at a random SNR."""
    noise = _filter_same_length(rng.normal(0.0, 1.0, x.shape[0]),
                                _notch_fir(rng, p, (p.min_gain_db, p.max_gain_db), sr))
    noise = _peak_normalise(noise, always=True)
    snr_db = _uniform(rng, p.snr_min_db, p.snr_max_db)
    noise_norm = float(np.linalg.norm(noise))
    if noise_norm == 0:
        return x
    noise = noise / noise_norm * np.linalg.norm(x) / 10.0 ** (0.05 * snr_db)
    return x + noise


def rawboost(wave: np.ndarray, algo: int, rng: np.random.Generator, sr: int = SAMPLE_RATE_HZ,
             params: RawBoostParams = RawBoostParams()) -> np.ndarray:
    """Augment a mono waveform with RawBoost algorithm ``algo`` (0..8, see module docstring).

    Returns a float32 array of the same length. Deterministic given ``rng``'s state.
    """
    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"rawboost expects a mono 1-D waveform, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("rawboost got NaN/inf samples; clean the audio before augmenting")
    p = params
    steps = {
        0: (), 1: ("lnl",), 2: ("isd",), 3: ("ssi",), 4: ("lnl", "isd", "ssi"),
        5: ("lnl", "isd"), 6: ("lnl", "ssi"), 7: ("isd", "ssi"),
    }
    if algo == 8:
        y = _peak_normalise(lnl_convolutive(x, rng, p, sr) + isd_additive(x, rng, p),
                            always=False)
        return y.astype(np.float32)
    if algo not in steps:
        raise ValueError(f"rawboost algo={algo}; allowed: 0..8")
    for step in steps[algo]:
        if step == "lnl":
            x = lnl_convolutive(x, rng, p, sr)
        elif step == "isd":
            x = isd_additive(x, rng, p)
        else:
            x = ssi_additive(x, rng, p, sr)
    return x.astype(np.float32)
