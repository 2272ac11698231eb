"""Encoder, the two decoder kinds (time / frequency domain) and the global speaker encoder.

Shapes: waves ``(B, T)``; latents ``(B, D, F)`` with ``F = T / hop`` frames and
``hop = prod(strides)``. Both decoders map ``F`` frames back to exactly ``F * hop`` samples.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class ResidualUnit(nn.Module):
    """Dilated conv + 1x1 conv with a skip connection (SEANet / EnCodec style, no weight norm)."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ELU(), nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            nn.ELU(), nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def _res_stack(channels: int, depth: int) -> list[nn.Module]:
    return [ResidualUnit(channels, 3 ** i) for i in range(depth)]


class ConvEncoder(nn.Module):
    """Strided conv encoder: waveform -> latents at ``16000 / prod(strides)`` frames per second.

    Args:
        channels: channels after the first conv; doubled at each downsampling (capped at 4x).
        strides: downsampling factors, e.g. ``(2, 4, 5, 8)`` -> hop 320 (50 Hz).
        dim: latent channels D.
        res_depth: residual units before each downsampling.
    """

    def __init__(self, channels: int, strides: tuple[int, ...], dim: int, res_depth: int = 1):
        super().__init__()
        # The first conv is strided straight from the waveform: no full-rate layers, which
        # dominate CPU time for little gain at this size.
        s0 = strides[0]
        layers: list[nn.Module] = [nn.Conv1d(1, channels, 2 * s0, stride=s0,
                                             padding=math.ceil(s0 / 2))]
        ch = channels
        for s in strides[1:]:
            out = min(ch * 2, channels * 4)
            layers += _res_stack(ch, res_depth)
            layers += [nn.ELU(), nn.Conv1d(ch, out, 2 * s, stride=s, padding=math.ceil(s / 2))]
            ch = out
        layers += _res_stack(ch, res_depth)
        layers += [nn.ELU(), nn.Conv1d(ch, dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)
        self.hop = math.prod(strides)

    def forward(self, wave: Tensor) -> Tensor:
        frames = wave.shape[-1] // self.hop
        return self.net(wave[:, None])[..., :frames]


class TimeDecoder(nn.Module):
    """Transposed-conv decoder straight to the waveform (EnCodec / DAC style)."""

    def __init__(self, dim: int, channels: int, strides: tuple[int, ...], res_depth: int = 1):
        super().__init__()
        ch = channels * 4
        layers: list[nn.Module] = [nn.Conv1d(dim, ch, 7, padding=3)]
        for i, s in enumerate(reversed(strides)):
            last = i == len(strides) - 1
            out = 1 if last else max(ch // 2, 8)
            layers += _res_stack(ch, res_depth)
            layers += [nn.ELU(), nn.ConvTranspose1d(ch, out, 2 * s, stride=s,
                                                    padding=math.ceil(s / 2), output_padding=s % 2)]
            ch = out
        self.net = nn.Sequential(*layers)
        self.hop = math.prod(strides)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)[:, 0, : z.shape[-1] * self.hop]


class FreqDecoder(nn.Module):
    """Frame-rate conv backbone predicting STFT magnitude and phase; waveform by ``torch.istft``.

    Vocos-style: the STFT hop equals the codec hop, so one latent frame is one STFT frame; the
    latents are padded by one frame so ``istft(center=True)`` returns exactly ``F * hop`` samples.

    Args:
        dim: latent channels D.
        channels: backbone width.
        hop: codec hop in samples (= STFT hop).
        n_fft: FFT size (``>= 2 * hop`` for overlap-add).
        depth: residual units in the backbone.
    """

    def __init__(self, dim: int, channels: int, hop: int, n_fft: int, depth: int = 3):
        super().__init__()
        self.hop, self.n_fft = hop, n_fft
        self.backbone = nn.Sequential(
            nn.Conv1d(dim, channels, 7, padding=3),
            *[ResidualUnit(channels, 1 + i) for i in range(depth)], nn.ELU())
        self.head = nn.Conv1d(channels, 2 * (n_fft // 2 + 1), 1)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        frames = z.shape[-1]
        z = torch.nn.functional.pad(z, (0, 1), mode="replicate")
        log_mag, phase = self.head(self.backbone(z)).chunk(2, dim=1)
        mag = torch.exp(log_mag.clamp(max=6.0))
        spec = torch.polar(mag, phase)
        return torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True,
                           length=frames * self.hop)


class SpeakerEncoder(nn.Module):
    """Global, time-invariant stream: frame features mean-pooled over the whole clip -> (B, D, 1)."""

    def __init__(self, in_dim: int, dim: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(in_dim, hidden, 3, padding=1), nn.ELU(),
                                 nn.Conv1d(hidden, hidden, 3, padding=1), nn.ELU())
        self.proj = nn.Conv1d(hidden, dim, 1)

    def forward(self, h: Tensor) -> Tensor:
        return self.proj(self.net(h).mean(-1, keepdim=True))
