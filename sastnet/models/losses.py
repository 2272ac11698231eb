"""Losses of SASTNet (paper Sec. III-D): margin reconstruction loss, AWL, weighted CE."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def margin_reconstruction_loss(per_decoder_mse: Tensor, labels: Tensor, margin: float,
                               reduce: str = "mean_of_relu") -> tuple[Tensor, dict[str, Tensor]]:
    """L_recon = L_y + penalty, averaged over the batch (paper Eq. 2).

    Args:
        per_decoder_mse: (B, N) masked-patch MSE of every decoder.
        labels: (B,) class index = index of the class's own decoder.
        margin: m; the penalty vanishes once L_y is below every other decoder's MSE by m.
        reduce: "mean_of_relu" (release): mean_i relu(m + L_y - L_i) over i != y;
            "relu_of_mean" (paper's Eq. 2 as written): relu(m + L_y - mean_i L_i).

    A single decoder (S-MAE) has no rivals: the loss is its MSE, whatever the label.
    """
    n = per_decoder_mse.shape[1]
    if n == 1:
        loss_y = per_decoder_mse[:, 0].mean()
        return loss_y, {"recon_y": loss_y.detach(), "margin": torch.zeros_like(loss_y)}
    loss_y = per_decoder_mse.gather(1, labels[:, None]).squeeze(1)  # (B,)
    # rivals = every decoder but the label's (a one-hot mask, no data-dependent indexing)
    rivals = 1.0 - F.one_hot(labels, n).to(per_decoder_mse.dtype)
    if reduce == "mean_of_relu":
        gaps = F.relu(margin + loss_y[:, None] - per_decoder_mse)
        penalty = (gaps * rivals).sum(dim=1) / (n - 1)
    elif reduce == "relu_of_mean":
        penalty = F.relu(margin + loss_y - (per_decoder_mse * rivals).sum(dim=1) / (n - 1))
    else:
        raise ValueError(f"reduce={reduce!r}; allowed: 'mean_of_relu', 'relu_of_mean'")
    loss = (loss_y + penalty).mean()
    return loss, {"recon_y": loss_y.mean().detach(), "margin": penalty.mean().detach()}


class AutomaticWeightedLoss(nn.Module):
    """sum_i 0.5 / p_i^2 * L_i + log(1 + p_i^2), p_i learnable, init 1 (Liebel & Koerner)."""

    def __init__(self, num_losses: int):
        super().__init__()
        self.params = nn.Parameter(torch.ones(num_losses))

    def forward(self, losses: Sequence[Tensor]) -> Tensor:
        if len(losses) != self.params.numel():
            raise ValueError(f"AWL built for {self.params.numel()} losses, got {len(losses)}")
        p2 = self.params.pow(2)
        return sum(0.5 / p2[i] * loss + torch.log1p(p2[i]) for i, loss in enumerate(losses))


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with fixed class weights (release: VQ/AUX [0.1,0.3,0.3,0.3], ...)."""

    def __init__(self, class_weights: Sequence[float] = ()):
        super().__init__()
        weight = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights else None
        self.register_buffer("weight", weight)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(logits, labels, weight=self.weight)
