"""Laundering: what happens to a clip on its way to an analyst (issue #35).

Deepfake speech is rarely traced from the file its generator wrote: a platform re-encodes
it, a voice channel squeezes it, someone turns it up or records it in a noisy room. Each
condition here is one such journey as a named, seeded transform of a 16 kHz mono clip:

    mp3_64k      MP3 (MPEG-2 layer III, LAME) at 64 kbit/s constant bitrate, decoded back
    opus_16k     Ogg Opus at 16 kbit/s (a voice-call bitrate), decoded back
    telephone    narrow band: 8 kHz, 300-3400 Hz band (ITU-T G.712 mask), G.711 mu-law, back to 16 kHz
    noise_20db   pink noise added at 20 dB SNR (whole-clip power ratio)
    noise_10db   pink noise added at 10 dB SNR
    gain_m12db   -12 dB (a quiet re-recording)
    gain_p6db    +6 dB, clipped at full scale (a loud one)

    import numpy as np
    from sastnet.launder import CONDITIONS, launder
    rng = np.random.default_rng(clip_seed)       # from (seed, condition, clip key), never order
    y = launder(wave, CONDITIONS["noise_10db"], rng)

Conventions, the same for every transform: float32 in [-1, 1] in, float32 out with exactly
the input's length (codec delay is removed by the decoder, a missing tail is zero-padded) and
no time shift (filters are zero-phase), so a clean clip's VAD timestamps still hold for its
laundered copy. Output is clipped to [-1, 1], as writing 16-bit PCM or FLAC would.

The lossy codecs are libsndfile's (the copy bundled with the ``soundfile`` wheel, pinned by
the lock files: LAME/mpg123 for MP3, libopus for Opus, its own G.711), so the encoder versions
move only when the lock does; no codec is written here. Their decoded output is bit-identical
on a rerun; so are the MP3 bytes. The Opus *container* bytes are not: libsndfile draws each Ogg
stream's serial number from the clock, which changes 4 header bytes (and the page CRC) per
page, never the audio. Stored laundered copies are the decoded audio.

Randomness: only the noise condition draws from ``rng`` (the others ignore it), so a clip's
laundered copy depends on (seed, condition, key) through the caller's seed and nothing else.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from scipy import signal

from sastnet.audio import SAMPLE_RATE_HZ


@dataclass(frozen=True)
class Mp3:
    """MP3 at a constant bitrate. At 16 kHz LAME writes MPEG-2 layer III, whose bitrates are
    8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160 kbit/s."""

    bitrate_kbps: int = 64  # issue #35: a platform's re-encode


@dataclass(frozen=True)
class Opus:
    """Ogg Opus at a target bitrate. libsndfile runs libopus in its default (unconstrained) VBR
    mode, application AUDIO, complexity 10, and offers no CBR: a file's rate follows its content
    (a simple voiced test clip comes out at 13-14 kbit/s for a 16 kbit/s target)."""

    bitrate_kbps: int = 16  # a voice-call bitrate (WhatsApp/WebRTC voice sits at 16-32)


@dataclass(frozen=True)
class Telephone:
    """Narrow-band telephone channel: down to ``rate_hz``, the G.712 voice band, optionally
    G.711 mu-law (8 bits a sample), back up to 16 kHz."""

    rate_hz: int = 8_000  # narrow band (PSTN, G.711)
    low_hz: float = 300.0  # ITU-T G.712 pass band
    high_hz: float = 3_400.0
    filter_order: int = 6  # Butterworth order, applied forward and backward (zero phase)
    mu_law: bool = True  # G.711 mu-law quantisation, as on a PSTN/ISDN line


@dataclass(frozen=True)
class Noise:
    """Additive coloured noise at a given SNR: power spectral density ~ 1/f**colour_exponent
    (0 white, 1 pink, 2 brown), generated from ``rng``. The SNR is the ratio of whole-clip
    powers (silences included), measured against the clean clip."""

    snr_db: float = 20.0
    colour_exponent: float = 1.0  # pink: as much power per octave everywhere, like room/street noise


@dataclass(frozen=True)
class Gain:
    """A level change of ``gain_db``, clipped at full scale (+-1.0)."""

    gain_db: float = -12.0


Transform = Mp3 | Opus | Telephone | Noise | Gain

# The catalogue of named conditions; params (``launder.conditions``) choose from it.
CONDITIONS: dict[str, Transform] = {
    "mp3_64k": Mp3(bitrate_kbps=64),
    "opus_16k": Opus(bitrate_kbps=16),
    "telephone": Telephone(),
    "noise_20db": Noise(snr_db=20.0),
    "noise_10db": Noise(snr_db=10.0),
    "gain_m12db": Gain(gain_db=-12.0),
    "gain_p6db": Gain(gain_db=6.0),
}

TRANSFORM_KINDS: dict[str, type] = {"mp3": Mp3, "opus": Opus, "telephone": Telephone,
                                    "noise": Noise, "gain": Gain}

MP3_KBPS_16K = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)  # MPEG-2 layer III
OPUS_KBPS_RANGE = (6, 256)  # what libsndfile's compression level spans for Opus (per channel)


def launder(wave: np.ndarray, transform: Transform, rng: np.random.Generator) -> np.ndarray:
    """Apply one laundering transform to a 16 kHz mono clip.

    Args:
        wave: 1-D float samples at 16 kHz, nominally in [-1, 1].
        transform: one of the dataclasses above (``CONDITIONS[name]`` for a named condition).
        rng: the clip's generator, seeded from (seed, condition, clip key); only ``Noise`` uses it.

    Returns:
        float32, the same length as ``wave``, clipped to [-1, 1].
    """
    x = _as_clip(wave)
    if isinstance(transform, Mp3):
        y = decode(encode_mp3(x, transform.bitrate_kbps))
    elif isinstance(transform, Opus):
        y = decode(encode_opus(x, transform.bitrate_kbps))
    elif isinstance(transform, Telephone):
        y = telephone_band(x, transform)
    elif isinstance(transform, Noise):
        noise = coloured_noise(len(x), transform.colour_exponent, rng)
        y = add_noise(x, noise, transform.snr_db)
    elif isinstance(transform, Gain):
        y = x * np.float32(10.0 ** (transform.gain_db / 20.0))
    else:
        raise TypeError(f"not a laundering transform: {transform!r}")
    return _fit(y, len(x))


def encode_mp3(wave: np.ndarray, bitrate_kbps: int) -> bytes:
    """MP3 bytes of a 16 kHz clip at a constant ``bitrate_kbps`` (one of ``MP3_KBPS_16K``)."""
    if bitrate_kbps not in MP3_KBPS_16K:
        raise ValueError(f"MP3 at 16 kHz (MPEG-2 layer III) has no {bitrate_kbps} kbit/s; "
                         f"allowed: {', '.join(map(str, MP3_KBPS_16K))}")
    # libsndfile maps compression level c to a constant bitrate 160 - c * (160 - 8) kbit/s at
    # 16-31 kHz and truncates it to an integer: aim half a kbit/s above so 64 stays 64.
    level = (160.0 - (bitrate_kbps + 0.5)) / (160.0 - 8.0)
    return _encode(wave, "MP3", "MPEG_LAYER_III", min(max(level, 0.0), 1.0), "CONSTANT")


def encode_opus(wave: np.ndarray, bitrate_kbps: int) -> bytes:
    """Ogg Opus bytes of a 16 kHz clip at a target ``bitrate_kbps`` (6-256)."""
    low, high = OPUS_KBPS_RANGE
    if not low <= bitrate_kbps <= high:
        raise ValueError(f"Opus bitrate must be in [{low}, {high}] kbit/s, got {bitrate_kbps}")
    # libsndfile maps compression level c to a target of int(256000 - c * 250000) bit/s: aim
    # half a bit/s above so the truncation cannot take one off.
    level = (high * 1000.0 - (bitrate_kbps * 1000.0 + 0.5)) / ((high - low) * 1000.0)
    return _encode(wave, "OGG", "OPUS", min(max(level, 0.0), 1.0), None)


def decode(data: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Decode MP3/Ogg/WAV bytes to float32 mono; the file must be at ``sample_rate_hz``."""
    y, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if rate != sample_rate_hz:  # a decoder that changed the rate would shift every timestamp
        raise RuntimeError(f"decoded {rate} Hz audio, expected {sample_rate_hz} Hz")
    return y if y.ndim == 1 else y[:, 0]


def telephone_band(wave: np.ndarray, p: Telephone) -> np.ndarray:
    """The narrow-band channel of ``Telephone``; same length, no delay."""
    common = math.gcd(SAMPLE_RATE_HZ, p.rate_hz)
    wide, narrow_rate = SAMPLE_RATE_HZ // common, p.rate_hz // common  # 2 and 1 for 8 kHz
    narrow = signal.resample_poly(wave, narrow_rate, wide)  # its own anti-alias FIR, zero-phase
    sos = signal.butter(p.filter_order, [p.low_hz, p.high_hz], btype="bandpass",
                        fs=p.rate_hz, output="sos")
    narrow = signal.sosfiltfilt(sos, narrow)
    if p.mu_law:
        narrow = decode(_encode(np.clip(narrow, -1.0, 1.0), "WAV", "ULAW", None, None,
                                sample_rate_hz=p.rate_hz), sample_rate_hz=p.rate_hz)
        # the line's receive filter: mu-law noise is white up to rate/2, the band is not
        narrow = signal.sosfiltfilt(sos, narrow)
    return signal.resample_poly(narrow, wide, narrow_rate)


def coloured_noise(n: int, colour_exponent: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of Gaussian noise whose power spectral density is ~ 1/f**colour_exponent,
    zero mean, unit power."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    shape = np.zeros_like(freqs)
    shape[1:] = freqs[1:] ** (-colour_exponent / 2.0)  # amplitude ~ f^(-a/2): power ~ f^-a
    noise = np.fft.irfft(spectrum * shape, n)
    return noise / max(float(np.sqrt(np.mean(noise ** 2))), 1e-12)


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wave`` plus ``noise`` scaled so that power(wave) / power(scaled noise) is ``snr_db``.

    Any noise works (a babble bank made from training clips, say); it is tiled or cut to the
    clip's length. A silent clip (zero power) comes back unchanged: it has no SNR to keep.
    """
    noise = np.resize(np.asarray(noise, dtype=np.float64), len(wave))
    clean_power = float(np.mean(np.asarray(wave, dtype=np.float64) ** 2))
    noise_power = float(np.mean(noise ** 2))
    if clean_power == 0.0 or noise_power == 0.0:
        return np.array(wave, dtype=np.float64)
    scale = np.sqrt(clean_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return wave + scale * noise


def _encode(wave: np.ndarray, fmt: str, subtype: str, level: float | None,
            bitrate_mode: str | None, sample_rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    if subtype not in sf.available_subtypes(fmt):
        raise RuntimeError(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/"
                           f"{subtype}; the soundfile >= 0.13 wheels bundle one that can "
                           "(scripts/setup.sh installs it from the lock)")
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(wave, dtype=np.float32), sample_rate_hz, format=fmt,
             subtype=subtype, compression_level=level, bitrate_mode=bitrate_mode)
    return buffer.getvalue()


def _as_clip(wave: np.ndarray) -> np.ndarray:
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono 1-D clip, got shape {x.shape}")
    return np.clip(x, -1.0, 1.0)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)[:n]
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    return np.clip(y, -1.0, 1.0).astype(np.float32)
