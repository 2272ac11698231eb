"""``NeuralCodec``: encoder -> quantizer -> decoder, with the optional auxiliary streams.

The family of a codec (VQ x AUX x DEC of ``sastnet.taxonomy``) is fixed by its ``CodecConfig``:

- VQ: ``mvq`` residual VQ (K codebooks), ``svq`` one codebook, ``sq`` finite scalar quantization;
- AUX: ``none``; ``semantic`` (the first quantizer's output is regressed onto a frozen speech
  encoder's features during training: ``semantic_head``); ``disentangle`` (content latents are
  instance-normalised, and a pooled, separately quantised global speaker stream conditions the
  decoder);
- DEC: ``time`` (transposed convs) or ``freq`` (STFT magnitude + phase, ``torch.istft``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.codecs.checkpoint import load_checkpoint, save_checkpoint
from sastnet.codecs.modules import ConvEncoder, FreqDecoder, SpeakerEncoder, TimeDecoder
from sastnet.codecs.quantizers import (
    FiniteScalarQuantizer,
    ResidualVectorQuantizer,
    VectorQuantizer,
)
from sastnet.taxonomy import CodecFamily

CHECKPOINT_FORMAT = "sastnet-codec/1"


@dataclass(frozen=True)
class CodecConfig:
    """Architecture of one zoo codec (defaults: a small EnCodec-like 50 Hz codec)."""

    vq: Literal["mvq", "svq", "sq"] = "mvq"
    aux: Literal["none", "semantic", "disentangle"] = "none"
    dec: Literal["time", "freq"] = "time"
    strides: tuple[int, ...] = (2, 4, 5, 8)  # hop 320 = 50 frames/s, like EnCodec at 16 kHz
    channels: int = 16  # encoder width after the first conv
    dim: int = 64  # latent / codebook vector size
    res_depth: int = 1  # residual units per (de)coder scale
    codebook_size: int = 256  # per codebook (mvq, svq)
    num_quantizers: int = 4  # mvq only (ignored otherwise)
    vq_decay: float = 0.9  # EMA codebook decay; 0.99 (SoundStream) is too slow for a few hundred steps
    fsq_levels: tuple[int, ...] = (8, 5, 5, 5)  # sq only: 1000 codes (FSQ paper's 10-bit set)
    dec_channels: int = 32  # decoder width
    n_fft_per_hop: int = 4  # freq decoder: n_fft = n_fft_per_hop * hop (Vocos uses 4)
    semantic_dim: int = 384  # semantic: teacher feature size (Whisper tiny.en d_model)
    speaker_codebook_size: int = 64  # disentangle: codes per global-stream codebook
    speaker_quantizers: int = 2  # disentangle: global tokens per utterance

    def __post_init__(self) -> None:
        for name in ("channels", "dim", "codebook_size", "dec_channels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CodecConfig.{name} must be > 0")
        if not self.strides or min(self.strides) < 1:
            raise ValueError(f"CodecConfig.strides must be positive, got {self.strides}")

    @property
    def family(self) -> CodecFamily:
        return CodecFamily(vq=self.vq, aux=self.aux, dec=self.dec)

    @property
    def hop(self) -> int:
        return math.prod(self.strides)


class CodecCodes(NamedTuple):
    """Tokens of a batch: ``content`` (B, K, F) per frame; ``speaker`` (B, G) per utterance."""

    content: Tensor
    speaker: Tensor | None = None


class CodecOutput(NamedTuple):
    wave: Tensor  # (B, T) reconstruction
    codes: CodecCodes
    vq_loss: Tensor  # commitment losses
    first: Tensor  # (B, D, F) first quantizer's output (semantic distillation target side)


class NeuralCodec(nn.Module):
    """A small neural speech codec at 16 kHz. Build with ``build_codec(CodecConfig(...))``."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, config: CodecConfig, encoder: nn.Module, quantizer: nn.Module,
                 decoder: nn.Module, speaker: nn.Module | None = None,
                 speaker_quantizer: nn.Module | None = None,
                 semantic_head: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.encoder, self.quantizer, self.decoder = encoder, quantizer, decoder
        self.speaker, self.speaker_quantizer = speaker, speaker_quantizer
        self.semantic_head = semantic_head
        self.content_norm = nn.InstanceNorm1d(config.dim) if speaker is not None else nn.Identity()

    @property
    def family(self) -> CodecFamily:
        return self.config.family

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate_hz / self.hop

    @property
    def bits_per_frame(self) -> float:
        return float(self.quantizer.bits)

    @property
    def bitrate_kbps(self) -> float:
        """Content stream: frames/s x bits per frame (the global speaker tokens are per utterance)."""
        return self.frame_rate_hz * self.bits_per_frame / 1000

    @property
    def codebook_sizes(self) -> list[int]:
        """Vocabulary per content codebook (what a token LM predicts)."""
        if isinstance(self.quantizer, ResidualVectorQuantizer):
            return self.quantizer.codebook_sizes
        return [int(self.quantizer.codebook_size)]

    def _pad(self, wave: Tensor) -> Tensor:
        if wave.dim() != 2:
            raise ValueError(f"expected waves of shape (B, T), got {tuple(wave.shape)}")
        extra = -wave.shape[-1] % self.hop
        return torch.nn.functional.pad(wave, (0, extra))

    def forward(self, wave: Tensor) -> CodecOutput:
        """Training pass: reconstruction (same length as ``wave``), codes, VQ loss, first level."""
        length = wave.shape[-1]
        h = self.encoder(self._pad(wave))
        q = self.quantizer(self.content_norm(h))
        z, loss, spk_codes = q.z_q, q.loss, None
        if self.speaker is not None:
            s = self.speaker_quantizer(self.speaker(h))
            z, loss, spk_codes = z + s.z_q, loss + s.loss, s.codes[..., 0]
        out = self.decoder(z)[..., :length]
        first = q.first if q.first is not None else q.z_q
        return CodecOutput(out, CodecCodes(q.codes, spk_codes), loss, first)

    @torch.no_grad()
    def encode(self, wave: Tensor) -> CodecCodes:
        """Waves (B, T) -> tokens; the last frame covers the zero-padded tail."""
        h = self.encoder(self._pad(wave))
        codes = self.quantizer(self.content_norm(h)).codes
        speaker = None
        if self.speaker is not None:
            speaker = self.speaker_quantizer(self.speaker(h)).codes[..., 0]
        return CodecCodes(codes, speaker)

    @torch.no_grad()
    def decode(self, codes: CodecCodes | Tensor) -> Tensor:
        """Tokens -> waves (B, F * hop). A bare tensor is taken as content codes."""
        if isinstance(codes, Tensor):
            codes = CodecCodes(codes)
        z = self.quantizer.lookup(codes.content)
        if self.speaker is not None:
            if codes.speaker is None:
                raise ValueError("this codec has a speaker stream: decode needs codes.speaker")
            z = z + self.speaker_quantizer.lookup(codes.speaker[..., None])
        return self.decoder(z)

    @torch.no_grad()
    def resynthesize(self, wave: Tensor) -> Tensor:
        """Encode and decode: (B, T) -> (B, T), the same length."""
        return self.decode(self.encode(wave))[..., : wave.shape[-1]]


def build_codec(config: CodecConfig) -> NeuralCodec:
    """Build a codec (randomly initialised) from its config."""
    enc = ConvEncoder(config.channels, config.strides, config.dim, config.res_depth)
    if config.vq == "mvq":
        quantizer: nn.Module = ResidualVectorQuantizer(config.dim, config.codebook_size,
                                                       config.num_quantizers,
                                                       decay=config.vq_decay)
    elif config.vq == "svq":
        quantizer = VectorQuantizer(config.dim, config.codebook_size, decay=config.vq_decay)
    else:
        quantizer = FiniteScalarQuantizer(config.dim, config.fsq_levels)
    if config.dec == "time":
        dec: nn.Module = TimeDecoder(config.dim, config.dec_channels, config.strides,
                                     config.res_depth)
    else:
        dec = FreqDecoder(config.dim, config.dec_channels * 2, config.hop,
                          config.n_fft_per_hop * config.hop)
    speaker = speaker_q = semantic = None
    if config.aux == "disentangle":
        speaker = SpeakerEncoder(config.dim, config.dim)
        speaker_q = ResidualVectorQuantizer(config.dim, config.speaker_codebook_size,
                                            config.speaker_quantizers, decay=config.vq_decay)
    elif config.aux == "semantic":
        semantic = nn.Conv1d(config.dim, config.semantic_dim, 1)
    return NeuralCodec(config, enc, quantizer, dec, speaker, speaker_q, semantic)


def save_codec(codec: NeuralCodec, path: str | Path, **meta) -> None:
    """Write config + weights (+ ``meta`` such as name and step) to ``path``."""
    save_checkpoint(path, CHECKPOINT_FORMAT, codec.config, codec.state_dict(), meta)


def load_codec(checkpoint_path: str | Path) -> NeuralCodec:
    """Rebuild a codec from ``save_codec``'s file, in eval mode."""
    config, payload = load_checkpoint(checkpoint_path, CHECKPOINT_FORMAT, CodecConfig,
                                      "zoo codec checkpoint")
    codec = build_codec(config)
    codec.load_state_dict(payload["state_dict"])
    codec.meta = payload.get("meta", {})
    return codec.eval()
