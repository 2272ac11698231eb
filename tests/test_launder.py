"""Laundering transforms (sastnet/launder.py) and their params section: each transform does
what its name says, measured on tiny synthetic clips; reruns give the same bytes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from pipelines.common.determinism import derive_seed
from pipelines.params import ParamsError, parse_params
from pipelines.params.launder import LaunderParams, check_transform
from sastnet.launder import (
    CONDITIONS,
    Gain,
    Mp3,
    Noise,
    Opus,
    Telephone,
    coloured_noise,
    decode,
    encode_mp3,
    encode_opus,
    launder,
)

ROOT = Path(__file__).resolve().parents[1]
SR = 16_000


def voiced_clip(seconds: float, seed: int) -> np.ndarray:
    """A speech-like clip: a gliding 140 Hz harmonic source through three formants, syllable
    (4 Hz) envelope, a little noise floor; peak 0.3."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * rng.standard_normal()
    phase = 2 * np.pi * np.cumsum(f0) / SR
    source = sum(np.cos(k * phase) / k for k in range(1, 40))
    y = np.zeros_like(t)
    for centre_hz, bandwidth_hz in ((700, 130), (1200, 150), (2600, 250)):
        b, a = signal.iirpeak(centre_hz, centre_hz / bandwidth_hz, fs=SR)
        y += signal.lfilter(b, a, source)
    y = y * np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 0.5
    y += 0.003 * rng.standard_normal(len(t))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def white_clip(seconds: float, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def band_power_db(y: np.ndarray, low_hz: float, high_hz: float) -> float:
    """Power in [low_hz, high_hz) as a fraction of the clip's total, in dB (FFT)."""
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    return 10 * np.log10(power[(freqs >= low_hz) & (freqs < high_hz)].sum() / power.sum())


def level_db(y: np.ndarray) -> float:
    return 10 * np.log10(np.mean(y.astype(np.float64) ** 2))


def rng_for(condition: str, key: str, seed: int = 1234) -> np.random.Generator:
    return np.random.default_rng(LaunderParams(seed=seed).clip_seed(condition, key))


# --- each transform does what its name says -------------------------------------------------

def test_telephone_keeps_only_the_voice_band():
    # white noise has power everywhere: what is left outside 300-3400 Hz is the channel's leak.
    x = white_clip(4, seed=0)
    y = launder(x, CONDITIONS["telephone"], rng_for("telephone", "a"))
    assert band_power_db(x, 4000, 8000) > -4  # the input has half its power up there
    assert band_power_db(y, 4000, 8001) < -40  # measured -61 dB: 8 kHz sampling
    assert band_power_db(y, 0, 250) < -30  # measured -52 dB: the 300 Hz edge (and mu-law noise)
    # the voice band itself goes through: 500-3000 Hz loses under 1 dB
    def kept(z):
        return 10 * np.log10(np.sum(np.abs(np.fft.rfft(z.astype(np.float64))[
            (np.fft.rfftfreq(len(z), 1 / SR) >= 500) & (np.fft.rfftfreq(len(z), 1 / SR) < 3000)]) ** 2))
    assert abs(kept(y) - kept(x)) < 1.0


def test_telephone_without_mu_law_is_the_band_alone():
    x = voiced_clip(2, seed=1)
    with_law = launder(x, Telephone(mu_law=True), rng_for("telephone", "a"))
    without = launder(x, Telephone(mu_law=False), rng_for("telephone", "a"))
    quantisation = 10 * np.log10(np.sum(without.astype(np.float64) ** 2)
                                 / np.sum((with_law - without).astype(np.float64) ** 2))
    assert 20 < quantisation < 50  # G.711 mu-law's 8 bits: measured 27.5 dB on this clip


@pytest.mark.parametrize("condition,snr_db", [("noise_20db", 20.0), ("noise_10db", 10.0)])
def test_noise_snr_is_on_target(condition, snr_db):
    x = voiced_clip(3, seed=2)
    y = launder(x, CONDITIONS[condition], rng_for(condition, "utt_001"))
    noise = y.astype(np.float64) - x
    measured = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(noise ** 2))
    assert abs(measured - snr_db) < 0.5, measured  # measured: within 0.001 dB


def test_noise_is_pink():
    # pink: the same power in every octave (white would have 8x more in 2-4 kHz than 250-500 Hz)
    n = coloured_noise(4 * SR, 1.0, np.random.default_rng(0))
    octave_low, octave_high = band_power_db(n, 250, 500), band_power_db(n, 2000, 4000)
    assert abs(octave_low - octave_high) < 1.0
    white = coloured_noise(4 * SR, 0.0, np.random.default_rng(0))
    assert band_power_db(white, 2000, 4000) - band_power_db(white, 250, 500) > 8.0


def test_mp3_bitrate_is_what_was_asked():
    # bytes per second of audio, 10 s clip minus 5 s clip: the headers (ID3, LAME info frame)
    # and the encoder's padding frames cancel, leaving the constant bitrate of the frames
    five, ten = white_clip(5, seed=3), white_clip(10, seed=4)
    a, b = encode_mp3(five, 64), encode_mp3(ten, 64)
    marginal_kbps = 8 * (len(b) - len(a)) / 5 / 1000
    assert abs(marginal_kbps - 64) < 0.64, marginal_kbps  # 1 %; measured 64.05
    assert abs(8 * len(a) / 5 / 1000 - 64) < 64 * 0.05  # whole file, headers in: 65.4 (2 %)
    assert abs(8 * len(encode_mp3(five, 32)) / 5 / 1000 - 32) < 32 * 0.05  # it follows the ask


def test_opus_bitrate_is_near_the_target():
    # libopus runs VBR here (libsndfile offers no CBR for Opus): the rate follows the content,
    # below the target on this simple voiced clip (13-14 kbit/s for 16). Bounds: 70-105 %.
    x = voiced_clip(8, seed=5)
    rates = {k: 8 * len(encode_opus(x, k)) / 8 / 1000 for k in (8, 16, 32)}
    for target, rate in rates.items():
        assert 0.70 * target < rate < 1.05 * target, rates
    assert rates[8] < rates[16] < rates[32]


@pytest.mark.parametrize("gain_db", [-12.0, 6.0])
def test_gain_changes_the_level_by_the_asked_db(gain_db):
    x = voiced_clip(2, seed=6)  # peak 0.3: +6 dB stays below full scale
    y = launder(x, Gain(gain_db=gain_db), rng_for("gain", "a"))
    assert abs(level_db(y) - level_db(x) - gain_db) < 0.01


def test_gain_clips_at_full_scale():
    x = 3.0 * voiced_clip(2, seed=6)  # peak 0.9
    y = launder(x, CONDITIONS["gain_p6db"], rng_for("gain_p6db", "a"))
    assert np.max(np.abs(y)) == 1.0
    assert 0 < np.mean(np.abs(y) == 1.0) < 0.2
    assert level_db(y) - level_db(x) < 6.0  # clipping costs level


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_same_length_no_shift_float32(condition):
    x = voiced_clip(1.7, seed=7)
    y = launder(x, CONDITIONS[condition], rng_for(condition, "a"))
    assert y.dtype == np.float32 and y.shape == x.shape and np.max(np.abs(y)) <= 1.0
    xc = signal.correlate(y.astype(np.float64), x.astype(np.float64), method="fft")
    assert int(np.argmax(xc)) - (len(x) - 1) == 0  # VAD timestamps of the clean clip still hold


# --- seeded by identity, same bytes on a rerun -----------------------------------------------

DIGEST_ALL = """
import hashlib, sys
import numpy as np
from sastnet.launder import CONDITIONS, launder
x, seeds = np.load(sys.argv[1]), dict(zip(sorted(CONDITIONS), map(int, sys.argv[2:])))
h = hashlib.sha256()
for name in sorted(CONDITIONS):
    h.update(launder(x, CONDITIONS[name], np.random.default_rng(seeds[name])).tobytes())
print(h.hexdigest())
"""


def test_two_calls_give_identical_bytes():
    x = voiced_clip(1.5, seed=8)
    for name, transform in CONDITIONS.items():
        first = launder(x, transform, rng_for(name, "utt_001")).tobytes()
        assert launder(x, transform, rng_for(name, "utt_001")).tobytes() == first, name
    assert encode_mp3(x, 64) == encode_mp3(x, 64)


def test_another_process_gives_identical_bytes(tmp_path):
    # nothing in the process (libsndfile state, RNG state, import order) leaks into the output
    np.save(tmp_path / "clip.npy", voiced_clip(1.5, seed=8))
    seeds = [str(LaunderParams().clip_seed(name, "utt_001")) for name in sorted(CONDITIONS)]
    def run():
        return subprocess.run([sys.executable, "-c", DIGEST_ALL, str(tmp_path / "clip.npy"),
                               *seeds], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    first = run()
    assert len(first) == 64 and run() == first


def _ogg_without_serials(data: bytes) -> bytes:
    """Ogg bytes with each page's stream serial number and CRC zeroed (header bytes 14-17, 22-25)."""
    out, pos = bytearray(data), 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS"
        n_segments = data[pos + 26]
        size = 27 + n_segments + sum(data[pos + 27:pos + 27 + n_segments])
        out[pos + 14:pos + 18] = out[pos + 22:pos + 26] = b"\0" * 4
        pos += size
    return bytes(out)


def test_opus_bytes_differ_only_in_the_ogg_serial():
    # libsndfile draws the Ogg serial from the clock: the audio and every other byte repeat
    x = voiced_clip(1.5, seed=9)
    a, b = encode_opus(x, 16), encode_opus(x, 16)
    assert _ogg_without_serials(a) == _ogg_without_serials(b)
    assert decode(a).tobytes() == decode(b).tobytes()


def test_different_clip_keys_give_different_noise():
    x = voiced_clip(1.5, seed=10)
    noise = {key: launder(x, CONDITIONS["noise_10db"], rng_for("noise_10db", key)) - x
             for key in ("utt_001", "utt_002")}
    # pink noise is mostly slow wander: compare sample-to-sample steps (its fast part), where
    # 24,000 samples make two independent draws correlate by about 1/sqrt(24000) = 0.006
    def steps(n):
        return np.diff(n.astype(np.float64))
    assert abs(np.corrcoef(steps(noise["utt_001"]), steps(noise["utt_002"]))[0, 1]) < 0.05
    # and the condition is part of the identity: noise_20db's draw is not noise_10db's, scaled
    other = launder(x, CONDITIONS["noise_20db"], rng_for("noise_20db", "utt_001")) - x
    assert abs(np.corrcoef(steps(noise["utt_001"]), steps(other))[0, 1]) < 0.05
    same = launder(x, CONDITIONS["noise_10db"], rng_for("noise_10db", "utt_001")) - x
    assert np.corrcoef(steps(noise["utt_001"]), steps(same))[0, 1] > 0.999


def test_clip_seed_comes_from_seed_condition_and_key():
    p = LaunderParams(seed=7)
    assert p.clip_seed("noise_10db", "utt_001") == derive_seed(7, "launder", "noise_10db", "utt_001")
    seeds = {LaunderParams(seed=s).clip_seed(c, k) for s in (7, 8)
             for c in ("noise_10db", "noise_20db") for k in ("utt_001", "utt_002")}
    assert len(seeds) == 8


# --- params -----------------------------------------------------------------------------------

def test_default_is_off_and_every_profile_loads_the_section():
    assert LaunderParams().conditions == () and LaunderParams().transforms() == {}
    for profile in ("params.yaml", *sorted(str(p) for p in (ROOT / "profiles").glob("*.yaml"))):
        from pipelines.params import load_params
        assert isinstance(load_params(ROOT / profile).launder, LaunderParams)


def test_catalogue_conditions_pass_the_params_checks():
    for name, transform in CONDITIONS.items():
        check_transform(transform, name)


def test_chosen_and_custom_conditions_become_transforms():
    p = parse_params({"launder": {
        "conditions": ["telephone", "mp3_32k", "noise_5db_white"],
        "custom": {"mp3_32k": {"kind": "mp3", "bitrate_kbps": 32},
                   "noise_5db_white": {"kind": "noise", "snr_db": 5, "colour_exponent": 0}}}}).launder
    assert p.transforms() == {"telephone": Telephone(), "mp3_32k": Mp3(bitrate_kbps=32),
                              "noise_5db_white": Noise(snr_db=5.0, colour_exponent=0.0)}
    assert list(p.transforms()) == ["telephone", "mp3_32k", "noise_5db_white"]  # params order


@pytest.mark.parametrize("section,message", [
    ({"conditions": ["mp3_65k"]}, "launder.conditions[0]: unknown condition 'mp3_65k'; known: mp3_64k"),
    ({"conditions": ["telephone", "telephone"]}, "launder.conditions: telephone listed more than once"),
    ({"custom": {"x": {"kind": "flac"}}}, "launder.custom.x.kind: 'flac' is not a laundering kind"),
    ({"custom": {"x": {"kind": "mp3", "bitrate_kbps": 65}}},
     "launder.custom.x.bitrate_kbps: MP3 at 16 kHz has no 65 kbit/s"),
    ({"custom": {"x": {"kind": "mp3", "bitrate": 64}}},
     "launder.custom.x: unknown key(s) bitrate for kind mp3; allowed keys: kind, bitrate_kbps"),
    ({"custom": {"x": {"kind": "opus", "bitrate_kbps": "low"}}},
     "launder.custom.x.bitrate_kbps: expected an integer"),
    ({"custom": {"x": {"kind": "telephone", "high_hz": 4200}}}, "launder.custom.x.low_hz: need 0 <"),
    ({"custom": {"telephone": {"kind": "gain", "gain_db": 3}}},
     "launder.custom.telephone: is already a built-in condition"),
    ({"custom": {"Noise 5": {"kind": "noise"}}}, "launder.custom.Noise 5: a condition name uses"),
    ({"seed": -1}, "launder.seed: must be >= 0"),
    ({"conditoins": ["telephone"]}, "launder: unknown key(s) conditoins; allowed keys: enabled, conditions"),
])
def test_invalid_params_are_named(section, message):
    with pytest.raises(ParamsError) as err:
        parse_params({"launder": section})
    assert message in str(err.value), str(err.value)


def test_lossy_encoders_refuse_what_they_cannot_do():
    x = voiced_clip(0.5, seed=11)
    with pytest.raises(ValueError, match="no 65 kbit/s"):
        launder(x, Mp3(bitrate_kbps=65), rng_for("x", "a"))
    with pytest.raises(ValueError, match=r"\[6, 256\]"):
        launder(x, Opus(bitrate_kbps=4), rng_for("x", "a"))
    with pytest.raises(ValueError, match="mono"):
        launder(np.zeros((2, 100), np.float32), Gain(), rng_for("x", "a"))


def test_silent_clip_stays_silent_under_noise():
    # no power, no SNR to keep: adding noise "at 10 dB" would invent a signal
    y = launder(np.zeros(SR, np.float32), CONDITIONS["noise_10db"], rng_for("noise_10db", "a"))
    assert not np.any(y)


def test_wide_narrow_band_at_12_khz():
    # a custom telephone channel at 12 kHz keeps up to its 5.5 kHz edge and (almost) nothing
    # above 6 kHz: measured -39 dB, the 3:4 resampler's images (the 1:2 one of 8 kHz gives -61)
    x = white_clip(2, seed=12)
    y = launder(x, Telephone(rate_hz=12_000, high_hz=5_500), rng_for("t", "a"))
    assert band_power_db(y, 6000, 8001) < -35 and band_power_db(y, 4000, 5000) > -10
