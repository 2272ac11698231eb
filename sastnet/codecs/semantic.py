"""The frozen speech-encoder teacher of semantic distillation (SpeechTokenizer-style).

The teacher is a transformers ``WhisperEncoder``: the real Whisper tiny.en encoder converted to
``data/whisper/tiny.en`` (``sastnet.whisper.load_whisper_encoder``), or — for tests and when no
weights are given — a randomly initialised small one with the same call. Its features
(50 frames/s) are resampled in time to the codec's frame rate.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.codecs.losses import mel_basis

N_FFT, HOP, N_MELS = 400, 160, 80  # Whisper's front end


def whisper_log_mel(wave: Tensor, n_mels: int = N_MELS) -> Tensor:
    """Whisper's log-mel (B, T) -> (B, n_mels, T / 160), as ``WhisperFeatureExtractor`` computes it."""
    window = torch.hann_window(N_FFT, device=wave.device)
    stft = torch.stft(wave, N_FFT, HOP, window=window, return_complex=True)
    power = stft[..., :-1].abs().pow(2)
    mel = torch.einsum("bft,fm->bmt", power, mel_basis(N_FFT, n_mels, slaney=True).to(wave.device))
    log_spec = mel.clamp(min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.amax(dim=(1, 2), keepdim=True) - 8.0)
    return (log_spec + 4.0) / 4.0


class SemanticTeacher(nn.Module):
    """Frozen encoder: waves (B, T) -> features (B, d_model, frames) at the requested frame count."""

    def __init__(self, encoder: WhisperEncoder):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.d_model = encoder.config.d_model
        self.n_mels = encoder.config.num_mel_bins
        self.input_frames = 2 * encoder.config.max_source_positions

    def train(self, mode: bool = True) -> SemanticTeacher:
        return super().train(False)  # always frozen / eval

    @torch.no_grad()
    def forward(self, wave: Tensor, frames: int) -> Tensor:
        mel = whisper_log_mel(wave, self.n_mels)
        used = mel.shape[-1]
        if used > self.input_frames:
            raise ValueError(f"teacher accepts {self.input_frames / 100:.1f} s; got "
                             f"{wave.shape[-1] / SAMPLE_RATE_HZ:.2f} s (raise max_source_seconds)")
        mel = F.pad(mel, (0, self.input_frames - used), value=float(mel.min()))
        feats = self.encoder(input_features=mel).last_hidden_state  # (B, P, d)
        feats = feats[:, : math.ceil(used / 2)].transpose(1, 2)
        return F.interpolate(feats, size=frames, mode="linear", align_corners=False)


def build_random_teacher(d_model: int = 384, max_source_seconds: float = 1.0,
                         seed: int = 0) -> SemanticTeacher:
    """A small randomly initialised Whisper encoder (the stand-in when no weights are given)."""
    torch.manual_seed(seed)
    config = WhisperConfig(d_model=d_model, encoder_layers=1, encoder_attention_heads=4,
                           encoder_ffn_dim=2 * d_model, num_mel_bins=N_MELS,
                           max_source_positions=int(math.ceil(50 * max_source_seconds)))
    return SemanticTeacher(WhisperEncoder(config))


def _keep_positions(encoder: WhisperEncoder, seconds: float) -> WhisperEncoder:
    """Keep the positional embeddings of the first ``seconds`` (Whisper encodes 50 frames/s).

    ``load_whisper_encoder`` refuses less than 5.12 s (its features need 256 frames); the
    teacher sees 1 s crops, and encoding them padded to 30 s (or 5 s) would cost 30x (5x).
    """
    positions = int(math.ceil(50 * seconds - 1e-6))
    if positions >= encoder.config.max_source_positions:
        return encoder
    weight = encoder.embed_positions.weight.data[:positions].clone()
    encoder.embed_positions = nn.Embedding.from_pretrained(weight, freeze=True)
    encoder.config = copy.deepcopy(encoder.config)
    encoder.config.max_source_positions = encoder.max_source_positions = positions
    return encoder


def load_teacher(path: str | None, max_source_seconds: float = 1.0) -> SemanticTeacher:
    """The real converted Whisper encoder at ``path``; ``None`` -> ``build_random_teacher``."""
    if path is None:
        return build_random_teacher(max_source_seconds=max_source_seconds)
    from sastnet.whisper import load_whisper_encoder  # the features part's converter/loader

    encoder = load_whisper_encoder(str(path), max_source_seconds=None)
    return SemanticTeacher(_keep_positions(encoder, max_source_seconds))
