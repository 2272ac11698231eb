"""SASTNet, its baseline and its ablations as one composable module.

| variant         | acoustic front end | MAE        | Whisper fusion | back end      |
| --------------- | ------------------ | ---------- | -------------- | ------------- |
| `w2v2_aasist`   | W2V2 -> Linear 128 | -          | -              | AASIST        |
| `s_mae`         | log-mel            | 1 decoder  | -              | Linear+AASIST |
| `m_mae`         | log-mel            | N decoders | -              | Linear+AASIST |
| `whisper_m_mae` | log-mel            | N decoders | yes            | Linear+AASIST |
| `w2v2_m_mae`    | W2V2 -> Linear 128 | N decoders | -              | Linear+AASIST |
| `sastnet`       | W2V2 -> Linear 128 | N decoders | yes            | Linear+AASIST |

Back end of the MAE variants: ``cfg.mae_backend`` "aasist" as in the table (paper size), or
"mean_linear" (tiny size): mean over the tokens, LayerNorm, Linear (``MeanLinearHead``).

N = number of classes, bona fide included. "Pretrained" vs "Tuned" W2V2 (paper Tables III-IV)
differ only in the weights loaded: ``w2v2_m_mae_pretrained`` / ``sastnet_pretrained`` build the
same network as ``w2v2_m_mae`` / ``sastnet`` and keep the SSL checkpoint, the tuned ones get the
baseline's wav2vec 2.0 (``load_w2v2_from_baseline``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from sastnet.models.aasist import AASIST
from sastnet.models.acoustic import LogMelFrontend, W2V2Frontend
from sastnet.models.config import ModelConfig
from sastnet.models.fusion import SemanticAcousticFusion
from sastnet.models.losses import (
    AutomaticWeightedLoss,
    WeightedCrossEntropy,
    margin_reconstruction_loss,
)
from sastnet.models.mae import MultiDecoderMAE


@dataclass
class ModelOutput:
    logits: Tensor  # (B, C)
    loss: Tensor | None = None  # only when labels are given
    terms: dict[str, Tensor] = field(default_factory=dict)  # detached loss parts for logging


class SourceTracingModel(nn.Module):
    """wave (B, N) [+ Whisper features (B, 128, d)] -> class logits (B, C)."""

    def __init__(self, cfg: ModelConfig, frontend: nn.Module, mae: MultiDecoderMAE | None,
                 fusion: SemanticAcousticFusion | None, to_backend: nn.Module, backend: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.frontend = frontend
        self.mae = mae
        self.fusion = fusion
        self.to_backend = to_backend
        self.backend = backend
        self.ce = WeightedCrossEntropy(cfg.loss.class_weights)
        self.awl = AutomaticWeightedLoss(2) if (mae is not None and cfg.loss.awl) else None

    @property
    def needs_whisper(self) -> bool:
        return self.fusion is not None

    def forward(self, wave: Tensor, whisper: Tensor | None = None, labels: Tensor | None = None,
                generator: torch.Generator | None = None) -> ModelOutput:
        if wave.dim() != 2:
            raise ValueError(f"wave must be (batch, samples), got {tuple(wave.shape)}")
        if self.needs_whisper and whisper is None:
            raise ValueError(f"variant {self.cfg.variant!r} needs Whisper features (B, 128, d); "
                             f"pass whisper=... (the loader's feature_dir)")
        image = self.frontend(wave)  # (B, T, F)
        mae_out = None
        feats = image
        if self.mae is not None:
            mae_out = self.mae(image, generator=generator)
            feats = mae_out.features
            if self.fusion is not None:
                feats = self.fusion(feats, whisper)
        logits = self.backend(self.to_backend(feats))
        if labels is None:
            return ModelOutput(logits=logits)
        ce = self.ce(logits, labels)
        terms = {"ce": ce.detach()}
        if mae_out is None:
            return ModelOutput(logits=logits, loss=ce, terms=terms)
        recon, recon_terms = margin_reconstruction_loss(
            mae_out.per_decoder_mse, labels, self.cfg.mae.margin, self.cfg.mae.margin_reduce)
        terms.update(recon=recon.detach(), **recon_terms)
        if self.awl is None:
            loss = recon + ce
        else:
            loss = self.awl([recon, ce])
            terms.update({f"awl_p{i}": p.detach() for i, p in enumerate(self.awl.params)})
        return ModelOutput(logits=logits, loss=loss, terms=terms)


def _round_down(n: int, multiple: int) -> int:
    return n // multiple * multiple


def build_model(cfg: ModelConfig, load_weights: bool = True) -> SourceTracingModel:
    """Build the model of ``cfg.variant``. ``load_weights=False`` never reads pretrained
    weights (random init from the configured sizes, e.g. to count parameters)."""
    patch = cfg.mae.patch_size
    if cfg.uses_w2v2:
        # The baseline's Linear is AASIST's input layer (LL); the MAE variants' makes the image.
        bins = cfg.w2v2.image_bins if cfg.uses_mae else cfg.aasist.filts[0]
        frontend: nn.Module = W2V2Frontend(cfg.w2v2, bins, load_weights=load_weights)
    else:
        frontend = LogMelFrontend(cfg.mel, cfg.sample_rate_hz)
        bins = cfg.mel.n_mels
    frames = frontend.frames_for(cfg.num_samples)
    mae = fusion = None
    if cfg.uses_mae:
        frontend.num_frames = _round_down(frames, patch)
        if frontend.num_frames < patch:
            raise ValueError(f"num_samples={cfg.num_samples} gives {frames} frames, fewer than "
                             f"one {patch}-frame patch; use longer clips")
        num_decoders = 1 if cfg.mae.single_decoder else cfg.num_classes
        mae = MultiDecoderMAE(cfg.mae, frontend.num_frames, bins, num_decoders)
        feat_dim = cfg.mae.embed_dim
        if cfg.uses_whisper:
            fusion = SemanticAcousticFusion(cfg.fusion, feat_dim)
            feat_dim = cfg.fusion.dim
        if cfg.mae_backend == "mean_linear":
            to_backend: nn.Module = nn.Identity()
            backend: nn.Module = MeanLinearHead(feat_dim, cfg.num_classes)
        else:
            to_backend = nn.Linear(feat_dim, cfg.aasist.filts[0])
            backend = AASIST(cfg.aasist, cfg.num_classes)
    else:
        to_backend = nn.Identity()  # the front end's Linear(hidden -> 128) is AASIST's LL
        backend = AASIST(cfg.aasist, cfg.num_classes)
    return SourceTracingModel(cfg, frontend, mae, fusion, to_backend, backend)


class MeanLinearHead(nn.Module):
    """Tokens (B, L, D) -> logits (B, C): mean over tokens, LayerNorm, Linear (``mae_backend``
    "mean_linear", ours: the tiny MAE variants' back end in place of AASIST)."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.out(self.norm(tokens.mean(dim=1)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: AWL weights p_i without weight decay (release), the rest with it."""
    no_decay, decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.startswith("awl.") else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups
