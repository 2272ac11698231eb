"""Adapters for real pretrained codecs: EnCodec, DAC, Mimi (transformers) and SNAC (``snac``).

Each adapter has the zoo's interface (``sastnet.codecs.NeuralCodec``): ``encode(wave)``,
``decode(codes)``, ``resynthesize(wave)`` on 16 kHz ``(B, T)`` tensors; the model's own rate
(24 kHz for EnCodec/Mimi, 16/24/44.1 kHz for DAC and SNAC) is handled inside with polyphase
resampling. Weights are never fetched unless asked:

    codec = load_real_codec("encodec", "/models/encodec_24khz")              # local folder
    codec = load_real_codec("encodec", "facebook/encodec_24khz")             # HF cache only
    codec = load_real_codec("encodec", "facebook/encodec_24khz", allow_download=True)

Missing weights raise ``RealCodecUnavailable`` naming the codec and where it looked. Vocos is not
supported: its package needs torchaudio, whose PyPI build does not import here (docs/corpus.md).
"""

from __future__ import annotations

import os
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import Tensor, nn

from sastnet.audio import SAMPLE_RATE_HZ

__all__ = [
    "KINDS",
    "DacAdapter",
    "EncodecAdapter",
    "MimiAdapter",
    "RealCodec",
    "RealCodecUnavailable",
    "SnacAdapter",
    "load_real_codec",
    "real_codec_entry",
]



class RealCodecUnavailable(RuntimeError):
    """The weights of a pretrained codec are not on this machine (and download is off)."""


def resample(wave: Tensor, from_hz: int, to_hz: int) -> Tensor:
    """(B, T) polyphase resampling on CPU (scipy), same dtype/device back."""
    if from_hz == to_hz:
        return wave
    g = gcd(from_hz, to_hz)
    out = resample_poly(wave.detach().cpu().double().numpy(), to_hz // g, from_hz // g, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(out)).to(wave.device, wave.dtype)


class RealCodec(nn.Module):
    """Common part: 16 kHz in and out, the model at ``model_rate_hz`` in between."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, model: nn.Module, model_rate_hz: int):
        super().__init__()
        self.model = model.eval()
        self.model_rate_hz = int(model_rate_hz)

    def _to_model(self, wave: Tensor) -> Tensor:  # (B, T) 16 kHz -> (B, 1, T') model rate
        return resample(wave, SAMPLE_RATE_HZ, self.model_rate_hz).unsqueeze(1)

    def _from_model(self, wave: Tensor) -> Tensor:  # (B, 1, T') or (B, T') -> (B, T) 16 kHz
        return resample(wave.reshape(wave.shape[0], -1), self.model_rate_hz, SAMPLE_RATE_HZ)

    def encode(self, wave: Tensor) -> Any:
        raise NotImplementedError

    def decode(self, codes: Any) -> Tensor:
        raise NotImplementedError

    @torch.inference_mode()
    def resynthesize(self, wave: Tensor) -> Tensor:
        """Encode and decode; the output has exactly the input's length (trimmed/zero-padded)."""
        out = self.decode(self.encode(wave))
        n = wave.shape[-1]
        if out.shape[-1] < n:
            out = torch.nn.functional.pad(out, (0, n - out.shape[-1]))
        return out[..., :n]


class EncodecAdapter(RealCodec):
    """``transformers.EncodecModel``; ``bandwidth_kbps`` picks the number of codebooks."""

    def __init__(self, model: nn.Module, bandwidth_kbps: float = 0.0):
        super().__init__(model, model.config.sampling_rate)
        allowed = list(model.config.target_bandwidths)
        if bandwidth_kbps and bandwidth_kbps not in allowed:
            raise ValueError(f"EnCodec bandwidth {bandwidth_kbps} kbps not in {allowed}")
        self.bandwidth = bandwidth_kbps or min(allowed)

    def encode(self, wave: Tensor) -> tuple[Tensor, Any]:
        out = self.model.encode(self._to_model(wave), bandwidth=self.bandwidth)
        return out.audio_codes, out.audio_scales

    def decode(self, codes: tuple[Tensor, Any]) -> Tensor:
        audio_codes, scales = codes
        return self._from_model(self.model.decode(audio_codes, scales).audio_values)


class DacAdapter(RealCodec):
    """``transformers.DacModel`` (Descript Audio Codec)."""

    def __init__(self, model: nn.Module):
        super().__init__(model, model.config.sampling_rate)

    def encode(self, wave: Tensor) -> Tensor:
        return self.model.encode(self._to_model(wave)).audio_codes

    def decode(self, codes: Tensor) -> Tensor:
        return self._from_model(self.model.decode(audio_codes=codes).audio_values)


class MimiAdapter(RealCodec):
    """``transformers.MimiModel`` (Kyutai's Mimi; CodecFake+ calls it ``mini``/``mimicodec``)."""

    def __init__(self, model: nn.Module):
        super().__init__(model, model.config.sampling_rate)

    def encode(self, wave: Tensor) -> Tensor:
        return self.model.encode(self._to_model(wave)).audio_codes

    def decode(self, codes: Tensor) -> Tensor:
        return self._from_model(self.model.decode(codes).audio_values)


class SnacAdapter(RealCodec):
    """``snac.SNAC`` (multi-scale codes: a list of tensors, coarse to fine)."""

    def __init__(self, model: nn.Module):
        super().__init__(model, model.sampling_rate)

    def encode(self, wave: Tensor) -> list[Tensor]:
        return self.model.encode(self._to_model(wave))

    def decode(self, codes: list[Tensor]) -> Tensor:
        return self._from_model(self.model.decode(codes))


def _load_transformers(kind: str, source: str, allow_download: bool) -> nn.Module:
    import transformers

    cls = {"encodec": transformers.EncodecModel, "dac": transformers.DacModel,
           "mimi": transformers.MimiModel}[kind]
    return cls.from_pretrained(source, local_files_only=not allow_download)


def _load_snac(source: str, allow_download: bool) -> nn.Module:
    try:
        from snac import SNAC
    except ImportError:
        raise ImportError("resynthesize.real_codecs kind 'snac' needs the package snac: "
                          "`pip install -e \".[snac]\"`") from None

    if os.path.isdir(source):
        return SNAC.from_pretrained(source)
    return SNAC.from_pretrained(source, local_files_only=not allow_download)


KINDS = ("encodec", "dac", "mimi", "snac")


def load_real_codec(kind: str, source: str | Path, *, allow_download: bool = False,
                    bandwidth_kbps: float = 0.0) -> RealCodec:
    """Load a pretrained codec from a local folder or the local hub cache.

    Args:
        kind: one of ``KINDS``.
        source: a local folder (transformers layout, or SNAC's config.json + pytorch_model.bin),
            or a hub id looked up in the local cache (``HF_HOME``); downloaded only if allowed.
        allow_download: fetch missing weights from the hub (off by default, DESIGN.md).
        bandwidth_kbps: EnCodec only; 0 = the model's lowest bandwidth.

    Raises:
        RealCodecUnavailable: the weights are not there; the message says where it looked.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown real codec kind {kind!r}; allowed: {', '.join(KINDS)}")
    source = str(source)
    try:
        model = _load_snac(source, allow_download) if kind == "snac" \
            else _load_transformers(kind, source, allow_download)
    except (OSError, ValueError, FileNotFoundError) as err:
        where = f"local folder {source}" if os.path.isdir(source) else \
            f"{source!r} as a local folder (not found) and in the hub cache " \
            f"{os.environ.get('HF_HOME', '~/.cache/huggingface')}"
        hint = "" if allow_download else \
            "; copy the model folder there, or set allow_download: true to fetch it"
        raise RealCodecUnavailable(f"{kind} codec weights unavailable: looked for {where} "
                                   f"({type(err).__name__}){hint}") from None
    if kind == "encodec":
        return EncodecAdapter(model, bandwidth_kbps)
    return {"dac": DacAdapter, "mimi": MimiAdapter, "snac": SnacAdapter}[kind](model)


def real_codec_entry(spec):
    """A ``resynthesize.real_codecs`` entry -> ``pipelines.codecs.resynthesize.CodecEntry``."""
    from pipelines.codecs.resynthesize import CodecEntry
    from sastnet.taxonomy import DEFAULT_TAXONOMY

    DEFAULT_TAXONOMY.family(spec.name)  # labels come from the CodecFake+ table: name must be in it
    codec = load_real_codec(spec.kind, spec.source, allow_download=spec.allow_download,
                            bandwidth_kbps=spec.bandwidth_kbps)
    return CodecEntry(spec.name, codec, held_out=spec.held_out,
                      info={"kind": spec.kind, "source": spec.source})
