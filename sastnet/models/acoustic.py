"""Acoustic front ends: a waveform (B, N) becomes a 2-D "image" (B, T, F).

- ``W2V2Frontend``: trainable wav2vec 2.0 (XLS-R 300M in the paper) + Linear(hidden -> F).
  82,200 samples give T = 256 frames, the release's 1 x 256 x 128 image.
- ``LogMelFrontend``: log-mel spectrogram computed in torch (the MAE-only ablations).

``load_w2v2_from_baseline`` copies the wav2vec 2.0 weights of a trained W2V2-AASIST baseline
into another model ("Tuned W2V2", paper Sec. III-B).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from sastnet.models.config import MelConfig, W2V2Config

if TYPE_CHECKING:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

# transformers is imported inside the functions that need it: `import transformers` takes
# seconds and loads yaml, which `sastnet/` must not (tests/test_import_rule.py).

W2V2_PREFIX = "frontend.w2v2."  # where every model keeps its wav2vec 2.0 encoder


def _crop_frames(image: Tensor, num_frames: int | None, what: str, num_samples: int) -> Tensor:
    if num_frames is None:
        return image
    if image.shape[1] < num_frames:
        raise ValueError(
            f"{what}: {num_samples} samples give {image.shape[1]} frames, fewer than the "
            f"{num_frames} the model was built for; pad or tile clips to the configured "
            f"num_samples (ModelConfig.num_samples)")
    return image[:, :num_frames]


def hf_wav2vec2_config(cfg: W2V2Config) -> Wav2Vec2Config:
    """A transformers config with the sizes of ``cfg`` (XLS-R layout: layer norm, stable LN)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        conv_dim=list(cfg.conv_dim), conv_kernel=list(cfg.conv_kernel),
        conv_stride=list(cfg.conv_stride), conv_bias=True, feat_extract_norm="layer",
        do_stable_layer_norm=True, num_conv_pos_embeddings=cfg.num_conv_pos_embeddings,
        num_conv_pos_embedding_groups=cfg.num_conv_pos_embedding_groups,
        hidden_dropout=cfg.dropout, attention_dropout=cfg.dropout, activation_dropout=0.0,
        feat_proj_dropout=cfg.dropout, final_dropout=0.0,
        # Fine-tuning as in SSL-AASIST: no SpecAugment inside the SSL model, and no layer drop
        # (it also leaves parameters unused in a step, which DDP rejects).
        apply_spec_augment=False, mask_time_prob=0.0, layerdrop=0.0,
    )


class W2V2Frontend(nn.Module):
    """wav2vec 2.0 (trainable) -> Linear(hidden -> out_dim): (B, N) -> (B, T, out_dim)."""

    def __init__(self, cfg: W2V2Config, out_dim: int, num_frames: int | None = None,
                 load_weights: bool = True) -> None:
        super().__init__()
        from transformers import Wav2Vec2Model

        if cfg.pretrained and load_weights:
            self.w2v2 = _load_pretrained(cfg.pretrained)
        else:
            self.w2v2 = Wav2Vec2Model(hf_wav2vec2_config(cfg))
        self.proj = nn.Linear(self.w2v2.config.hidden_size, out_dim)
        self.num_frames = num_frames
        self._strides = tuple(self.w2v2.config.conv_stride)
        self._kernels = tuple(self.w2v2.config.conv_kernel)

    def frames_for(self, num_samples: int) -> int:
        """Frames the conv feature encoder gives for ``num_samples`` samples."""
        length = num_samples
        for k, s in zip(self._kernels, self._strides):
            length = (length - k) // s + 1
        return max(length, 0)

    def forward(self, wave: Tensor) -> Tensor:
        hidden = self.w2v2(wave).last_hidden_state  # (B, T, hidden)
        return _crop_frames(self.proj(hidden), self.num_frames, "W2V2Frontend", wave.shape[-1])


def _load_pretrained(name: str) -> Wav2Vec2Model:
    from transformers import Wav2Vec2Model

    try:
        return Wav2Vec2Model.from_pretrained(name, apply_spec_augment=False, layerdrop=0.0,
                                             mask_time_prob=0.0)
    except OSError as err:
        raise OSError(
            f"wav2vec 2.0 weights {name!r} not found (looked for a local directory of that "
            f"name, then the Hugging Face cache/hub). Put the transformers checkpoint there, "
            f"or set w2v2.pretrained to a local directory or null (random init).") from err


class LogMelFrontend(nn.Module):
    """Log-mel spectrogram in torch, standardised per clip: (B, N) -> (B, T, n_mels)."""

    def __init__(self, cfg: MelConfig, sample_rate_hz: int, num_frames: int | None = None):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        fbank = mel_filter_bank(num_frequency_bins=cfg.n_fft // 2 + 1, num_mel_filters=cfg.n_mels,
                                min_frequency=cfg.f_min_hz, max_frequency=cfg.f_max_hz,
                                sampling_rate=sample_rate_hz, norm="slaney", mel_scale="slaney")
        self.register_buffer("fbank", torch.from_numpy(np.asarray(fbank, np.float32)),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.n_fft, self.hop = cfg.n_fft, cfg.hop_length
        self.num_frames = num_frames

    def frames_for(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop  # centred STFT

    def forward(self, wave: Tensor) -> Tensor:
        spec = torch.stft(wave.float(), self.n_fft, self.hop, window=self.window, center=True,
                          return_complex=True).abs().pow(2)  # (B, n_fft/2+1, T)
        logmel = torch.log(torch.matmul(spec.transpose(1, 2), self.fbank) + 1e-6)  # (B, T, M)
        mean = logmel.mean(dim=(1, 2), keepdim=True)
        std = logmel.std(dim=(1, 2), keepdim=True)
        logmel = (logmel - mean) / (std + 1e-5)
        return _crop_frames(logmel, self.num_frames, "LogMelFrontend", wave.shape[-1])


def load_w2v2_from_baseline(model: nn.Module, baseline_state_dict: Mapping[str, Tensor]
                            ) -> list[str]:
    """Copy the wav2vec 2.0 encoder of a trained W2V2-AASIST baseline into ``model``.

    Args:
        model: any model of ``build_model`` with a W2V2 front end (``frontend.w2v2``).
        baseline_state_dict: the baseline's state dict (a ``module.`` DDP prefix is accepted).

    Returns:
        The keys of ``model``'s state dict that were overwritten (all under ``frontend.w2v2.``).
    """
    source = {k.removeprefix("module."): v for k, v in baseline_state_dict.items()}
    target = model.state_dict()
    wanted = [k for k in target if k.startswith(W2V2_PREFIX)]
    if not wanted:
        raise ValueError("model has no wav2vec 2.0 front end (no 'frontend.w2v2.*' keys); "
                         "only w2v2_aasist, w2v2_m_mae and sastnet have one")
    missing = [k for k in wanted if k not in source]
    if missing:
        raise KeyError(f"baseline state dict lacks {len(missing)} wav2vec 2.0 keys, e.g. "
                       f"{missing[:3]}; is it a W2V2-AASIST checkpoint of the same size?")
    bad = [k for k in wanted if source[k].shape != target[k].shape]
    if bad:
        raise ValueError(f"shape mismatch for {bad[:3]}: baseline {tuple(source[bad[0]].shape)}"
                         f" vs model {tuple(target[bad[0]].shape)}; sizes differ")
    changed = [k for k in wanted if not torch.equal(source[k].to(target[k].dtype), target[k])]
    model.load_state_dict({k: source[k] for k in wanted}, strict=False)
    return changed
