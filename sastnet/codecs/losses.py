"""Reconstruction losses and quality measures for codec training and the zoo report."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers.audio_utils import mel_filter_bank

from sastnet.audio import SAMPLE_RATE_HZ


@lru_cache(maxsize=16)
def mel_basis(n_fft: int, n_mels: int, sample_rate_hz: int = SAMPLE_RATE_HZ,
              slaney: bool = False) -> Tensor:
    """(n_fft/2+1, n_mels) mel filter bank (HTK scale; Slaney scale+norm for Whisper)."""
    fb = mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sample_rate_hz / 2, sample_rate_hz,
                         norm="slaney" if slaney else None,
                         mel_scale="slaney" if slaney else "htk")
    return torch.tensor(fb, dtype=torch.float32)


def _fitting(sizes: tuple[int, ...], length: int) -> tuple[int, ...]:
    """FFT sizes usable on ``length`` samples (reflect padding needs n_fft / 2 < length)."""
    fit = tuple(n for n in sizes if n // 2 < length)
    if not fit:
        raise ValueError(f"clips of {length} samples are too short for FFT sizes {sizes}")
    return fit


def _stft_mag(wave: Tensor, n_fft: int, hop: int) -> Tensor:
    window = torch.hann_window(n_fft, device=wave.device)
    spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True)
    return spec.abs()


def log_mel(wave: Tensor, n_fft: int = 1024, hop: int = 256, n_mels: int = 64) -> Tensor:
    """(B, T) -> (B, n_mels, frames) natural-log mel magnitude."""
    mag = _stft_mag(wave, n_fft, hop)
    mel = torch.einsum("bft,fm->bmt", mag, mel_basis(n_fft, n_mels).to(wave.device))
    return torch.log(mel.clamp(min=1e-5))


def multi_resolution_stft_loss(pred: Tensor, target: Tensor,
                               resolutions: tuple[int, ...] = (512, 1024, 2048)) -> Tensor:
    """Spectral convergence + log-magnitude L1, averaged over FFT sizes (Parallel WaveGAN)."""
    resolutions = _fitting(resolutions, target.shape[-1])
    total = pred.new_zeros(())
    for n_fft in resolutions:
        p, t = _stft_mag(pred, n_fft, n_fft // 4), _stft_mag(target, n_fft, n_fft // 4)
        sc = torch.linalg.norm(t - p) / torch.linalg.norm(t).clamp(min=1e-7)
        mag = F.l1_loss(torch.log(p.clamp(min=1e-5)), torch.log(t.clamp(min=1e-5)))
        total = total + sc + mag
    return total / len(resolutions)


def mel_loss(pred: Tensor, target: Tensor, scales: tuple[int, ...] = (512, 1024)) -> Tensor:
    """Log-mel L1 over a few FFT sizes (EnCodec / DAC's main reconstruction term)."""
    scales = _fitting(scales, target.shape[-1])
    return sum(F.l1_loss(log_mel(pred, n, n // 4), log_mel(target, n, n // 4))
               for n in scales) / len(scales)


def mel_distance(pred: Tensor, target: Tensor) -> Tensor:
    """Per-clip mean |log-mel difference| (B,) — the report's quality figure (lower is better)."""
    return (log_mel(pred) - log_mel(target)).abs().mean(dim=(1, 2))


def si_snr(pred: Tensor, target: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-clip scale-invariant SNR in dB (B,) (higher is better)."""
    pred = pred - pred.mean(-1, keepdim=True)
    target = target - target.mean(-1, keepdim=True)
    scale = (pred * target).sum(-1, keepdim=True) / (target.pow(2).sum(-1, keepdim=True) + eps)
    proj = scale * target
    noise = pred - proj
    return 10 * torch.log10(proj.pow(2).sum(-1).clamp(min=eps) / noise.pow(2).sum(-1).clamp(min=eps))


def matched_noise(wave: Tensor, seed: int = 0) -> Tensor:
    """The trivial baseline: white noise with each clip's RMS, independent of the content."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(wave.shape, generator=gen).to(wave.device)
    rms = wave.pow(2).mean(-1, keepdim=True).sqrt()
    return noise * rms
