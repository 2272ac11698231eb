"""Frozen Whisper encoder features, SASTNet's semantic branch input.

The paper (and the official code) runs ``openai/whisper-small`` on every clip: the feature
extractor pads the clip to 30 s, the encoder returns 1500 frames (20 ms each), SASTNet keeps
the first 256 frames and average-pools them by 2 -> ``128 x d_model``. That is
``faithful=True`` here.

The first 256 frames cover only 5.12 s, yet the faithful path encodes 30 s. The fast variant
loads an encoder with fewer source positions (``max_source_seconds``; its positional
embeddings are the first rows of the real ones) and feeds it only the first
``2 * positions`` mel frames of the *same* log-mel spectrogram. The mel input of the kept
frames is identical; the outputs differ only because self-attention no longer sees the
(padding) frames after the cut. ``benchmarks/whisper_features.py`` measures the difference.

Models load from a local directory (``data/whisper/tiny.en`` made by ``whisper_convert``)
or a hub id (``openai/whisper-small``) with the same code; nothing is downloaded unless the
caller passes ``allow_download=True``.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.pretrained import not_in_cache, resolve_source

if TYPE_CHECKING:  # transformers imports yaml: keep it out of `import sastnet`
    from transformers import WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

KEPT_FRAMES = 256  # official SASTNet: encoder output[:, :256]
POOL = 2  # official SASTNet: avg_pool1d(kernel_size=2, stride=2) -> 128 frames
FRAMES_PER_SECOND = 50  # encoder frame = 20 ms (mel hop 10 ms, conv2 stride 2)
MIN_FAST_SECONDS = KEPT_FRAMES / FRAMES_PER_SECOND  # 5.12 s: fewer cannot give 256 frames
_FIX = ("build it with `dvc repro whisper_convert` (writes data/whisper/tiny.en) or pass a hub "
        "id such as openai/whisper-small")


def load_whisper_encoder(path_or_hub_id: str, max_source_seconds: float | None = None, *,
                         allow_download: bool = False,
                         min_seconds: float = MIN_FAST_SECONDS) -> WhisperEncoder:
    """Load a frozen Whisper encoder (eval mode, no gradients).

    Args:
        path_or_hub_id: a transformers Whisper directory or a hub id (from the local cache).
        max_source_seconds: None = faithful 30 s encoder; else keep this many seconds of
            source positions (>= 5.12 s so 256 frames exist), slicing the positional embeddings.
        allow_download: let transformers fetch a hub id that is not in the local cache.
        min_seconds: the shortest ``max_source_seconds`` allowed (SASTNet's features need
            5.12 s; the kNN embeddings pool whatever frames a short clip gives).

    Returns:
        ``transformers``' ``WhisperEncoder``; ``encoder.config.max_source_positions`` says
        how many 20 ms frames it encodes.
    """
    from transformers import WhisperModel

    source, local_only = resolve_source(path_or_hub_id, what="Whisper model", fix=_FIX,
                                        allow_download=allow_download)
    try:
        model = WhisperModel.from_pretrained(source, local_files_only=local_only,
                                             dtype=torch.float32)
    except OSError as err:
        raise not_in_cache(path_or_hub_id, "Whisper model",
                           f"{_FIX}, or allow_download=True", err) from None
    encoder = model.encoder
    if max_source_seconds is not None:
        encoder = _shorten(encoder, max_source_seconds, min_seconds)
    encoder.eval().requires_grad_(False)
    return encoder


def _shorten(encoder: WhisperEncoder, seconds: float,
             min_seconds: float = MIN_FAST_SECONDS) -> WhisperEncoder:
    full = encoder.config.max_source_positions
    positions = math.ceil(seconds * FRAMES_PER_SECOND - 1e-6)
    if seconds < min_seconds - 1e-9:
        raise ValueError(f"max_source_seconds={seconds} is too short: the features keep the "
                         f"first {KEPT_FRAMES} frames, which need >= {MIN_FAST_SECONDS} s")
    if positions >= full:
        return encoder
    config = copy.deepcopy(encoder.config)
    config.max_source_positions = positions
    weight = encoder.embed_positions.weight.data[:positions].clone()
    encoder.embed_positions = torch.nn.Embedding.from_pretrained(weight, freeze=True)
    encoder.max_source_positions = positions
    encoder.config = config
    return encoder


def _check_waves(waves: list[np.ndarray]) -> list[np.ndarray]:
    if len(waves) == 0:
        raise ValueError("whisper_features got no waves")
    out = []
    for i, wave in enumerate(waves):
        wave = np.asarray(wave)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"wave {i}: expected a non-empty mono 1-D array, got shape {wave.shape}")
        if not np.all(np.isfinite(wave)):
            raise ValueError(f"wave {i}: contains NaN or inf samples")
        out.append(wave.astype(np.float32, copy=False))
    return out


def log_mel(feature_extractor: WhisperFeatureExtractor, waves: list[np.ndarray],
            num_frames: int | None = None) -> torch.Tensor:
    """Whisper log-mel input, padded/truncated to 30 s exactly as the paper: (N, mels, 3000).

    ``num_frames``: only the first ``num_frames`` frames (N, mels, num_frames), with the same
    values, from less padding: the clips are padded to cover those frames (and themselves)
    plus one FFT window, not to 30 s. The frames left out are the log floor of the padding,
    which never raises the maximum Whisper normalises by, so nothing else changes (a fast
    encoder reads 512 of the 3000 frames; ``tests/test_export.py`` compares the two).
    """
    waves = _check_waves(waves)
    padding = {}
    if num_frames is not None:
        hop, n_fft = feature_extractor.hop_length, feature_extractor.n_fft
        length = max(max(len(w) for w in waves), num_frames * hop) + n_fft
        if length < feature_extractor.n_samples:
            padding = {"padding": "max_length", "max_length": length}
    feats = feature_extractor(waves, sampling_rate=SAMPLE_RATE_HZ, return_tensors="np",
                              **padding).input_features
    feats = feats[..., :num_frames] if num_frames is not None else feats
    return torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))


@torch.inference_mode()
def whisper_features(encoder: WhisperEncoder, feature_extractor: WhisperFeatureExtractor,
                     waves: list[np.ndarray], *, faithful: bool) -> np.ndarray:
    """SASTNet's semantic features for a batch of 16 kHz mono clips.

    Args:
        encoder: from ``load_whisper_encoder`` (a full one for ``faithful=True``, a shortened
            one for ``faithful=False``).
        feature_extractor: the model's ``WhisperFeatureExtractor``.
        waves: float arrays, any lengths (longer than 30 s are cut at 30 s).
        faithful: True = 30 s input as in the paper; False = only the encoder's kept seconds.

    Returns:
        float32 ``(N, 128, d_model)``: first 256 encoder frames, average-pooled by 2.
    """
    mel = log_mel(feature_extractor, waves)
    mel_frames = encoder_mel_frames(encoder)
    full_frames = mel.shape[-1]
    if faithful and mel_frames != full_frames:
        raise ValueError(f"faithful=True needs the full encoder ({full_frames} mel frames); this "
                         f"one takes {mel_frames}: load it with max_source_seconds=None")
    if not faithful and mel_frames >= full_frames:
        raise ValueError("faithful=False needs a shortened encoder: load it with "
                         f"max_source_seconds (e.g. {MIN_FAST_SECONDS})")
    return pooled_features(encoder, mel[..., :mel_frames]).float().numpy()


def encoder_mel_frames(encoder: WhisperEncoder) -> int:
    """Log-mel frames the encoder takes: 3000 (30 s) for a full one, fewer for a shortened one."""
    return (encoder.config.max_source_positions * encoder.conv1.stride[0]
            * encoder.conv2.stride[0])


def pooled_features(encoder: WhisperEncoder, mel: torch.Tensor) -> torch.Tensor:
    """(N, mels, ``encoder_mel_frames``) log-mel -> (N, 128, d): the first 256 encoder frames,
    average-pooled by 2. Plain tensor ops, so the exported ONNX graph holds it too."""
    hidden = encoder(mel.to(encoder.conv1.weight.dtype)).last_hidden_state[:, :KEPT_FRAMES]
    pooled = F.avg_pool1d(hidden.transpose(1, 2), kernel_size=POOL, stride=POOL)
    return pooled.transpose(1, 2)
