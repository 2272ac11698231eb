"""RawBoost keeps length and finiteness, is seedable, and actually changes the signal."""

import numpy as np
import pytest

from sastnet.augment import rawboost


@pytest.fixture(scope="module")
def wave():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32)


@pytest.mark.parametrize("algo", range(9))
def test_length_dtype_finite(wave, algo):
    out = rawboost(wave, algo, np.random.default_rng(1))
    assert out.shape == wave.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    if algo == 0:
        assert np.array_equal(out, wave)
    else:
        assert not np.allclose(out, wave)


def test_seeded_and_silence_safe(wave):
    a = rawboost(wave, 5, np.random.default_rng(7))
    b = rawboost(wave, 5, np.random.default_rng(7))
    c = rawboost(wave, 5, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    silent = np.zeros(4000, np.float32)
    for algo in range(9):
        assert np.all(np.isfinite(rawboost(silent, algo, np.random.default_rng(0))))


def test_bad_input():
    with pytest.raises(ValueError, match="allowed"):
        rawboost(np.zeros(100, np.float32), 9, np.random.default_rng(0))
    with pytest.raises(ValueError, match="mono"):
        rawboost(np.zeros((2, 100), np.float32), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        rawboost(np.full(100, np.nan, np.float32), 1, np.random.default_rng(0))
