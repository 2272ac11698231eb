"""AASIST back end (Jung et al., ICASSP 2022), as used after SSL front ends (Tak et al. 2022).

Input: a feature map (B, T, F) with F = filts[0] (128). A 2-D residual CNN encodes it; an
attention map pools it once over time (-> spectral nodes) and once over frequency (-> temporal
nodes); a graph attention layer + graph pooling runs on each; two heterogeneous stacking graph
attention branches (HS-GAL, with a master node each) combine both node types; the element-wise
max of the branches is read out (max|.| and mean of each node type + the master node: 5 x 32
= 160 values) into Linear(160 -> classes).

Written from the AASIST paper. One deliberate difference from the public code: its residual
block computes BN + SELU pre-activation and then convolves the *un*-activated input; here the
pre-activation is used, as the paper's figure describes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sastnet.models.config import AASISTConfig


def _attention_vector(dim: int) -> nn.Parameter:
    weight = torch.empty(dim, 1)
    nn.init.xavier_normal_(weight)
    return nn.Parameter(weight)


def _pairwise(x: Tensor) -> Tensor:
    """(B, N, D) -> (B, N, N, D): element-wise products of every pair of nodes."""
    return x[:, :, None, :] * x[:, None, :, :]


def _batch_norm_nodes(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class GraphAttention(nn.Module):
    """GAT layer: attention over all node pairs, out = W_a (A x) + W x, then BN + SELU."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_vec = _attention_vector(out_dim)
        self.with_att = nn.Linear(in_dim, out_dim)
        self.without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(0.2)
        self.temperature = temperature

    def forward(self, x: Tensor) -> Tensor:
        x = self.drop(x)
        scores = torch.tanh(self.att_proj(_pairwise(x))) @ self.att_vec  # (B, N, N, 1)
        att = F.softmax(scores.squeeze(-1) / self.temperature, dim=-2)
        x = self.with_att(att @ x) + self.without_att(x)
        return F.selu(_batch_norm_nodes(self.bn, x))


class HeteroGraphAttention(nn.Module):
    """HS-GAL layer: two node types + a master node; separate attention vectors for
    type1-type1, type2-type2 and cross-type edges; the master node attends to all nodes."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_proj_master = nn.Linear(in_dim, out_dim)
        self.att_11, self.att_22 = _attention_vector(out_dim), _attention_vector(out_dim)
        self.att_12, self.att_master = _attention_vector(out_dim), _attention_vector(out_dim)
        self.with_att = nn.Linear(in_dim, out_dim)
        self.without_att = nn.Linear(in_dim, out_dim)
        self.with_att_master = nn.Linear(in_dim, out_dim)
        self.without_att_master = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.drop = nn.Dropout(0.2)
        self.temperature = temperature

    def forward(self, x1: Tensor, x2: Tensor, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n1 = x1.shape[1]
        x = self.drop(torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1))
        hidden = torch.tanh(self.att_proj(_pairwise(x)))  # (B, N, N, out)
        s11, s22, s12 = (hidden @ v for v in (self.att_11, self.att_22, self.att_12))
        n = x.shape[1]
        type1 = torch.arange(n, device=x.device) < n1
        same1 = type1[:, None] & type1[None, :]
        same2 = ~type1[:, None] & ~type1[None, :]
        scores = torch.where(same1[..., None], s11, torch.where(same2[..., None], s22, s12))
        att = F.softmax(scores.squeeze(-1) / self.temperature, dim=-2)
        # Master node: attention over all nodes, then its own residual projection.
        m_scores = torch.tanh(self.att_proj_master(x * master)) @ self.att_master  # (B, N, 1)
        m_att = F.softmax(m_scores / self.temperature, dim=-2)
        master = self.with_att_master(m_att.transpose(1, 2) @ x) + self.without_att_master(master)
        x = self.with_att(att @ x) + self.without_att(x)
        x = F.selu(_batch_norm_nodes(self.bn, x))
        return x[:, :n1], x[:, n1:], master


class GraphPool(nn.Module):
    """Keep the top ``ratio`` of nodes by a learned sigmoid score (nodes scaled by it)."""

    def __init__(self, ratio: float, dim: int, dropout: float = 0.3):
        super().__init__()
        self.ratio = ratio
        self.score = nn.Linear(dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        scores = torch.sigmoid(self.score(self.drop(h)))  # (B, N, 1)
        keep = max(int(h.shape[1] * self.ratio), 1)
        idx = scores.topk(keep, dim=1).indices.expand(-1, -1, h.shape[-1])
        return torch.gather(h * scores, 1, idx)


class ResidualBlock(nn.Module):
    """Pre-activation 2-D residual block (RawNet2 style, kernel (2, 3), no pooling)."""

    def __init__(self, in_ch: int, out_ch: int, first: bool = False):
        super().__init__()
        self.pre = nn.Identity() if first else nn.Sequential(nn.BatchNorm2d(in_ch), nn.SELU())
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=(2, 3), padding=(0, 1))
        self.skip = (nn.Identity() if in_ch == out_ch
                     else nn.Conv2d(in_ch, out_ch, kernel_size=(1, 3), padding=(0, 1)))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.selu(self.bn2(self.conv1(self.pre(x)))))
        return out + self.skip(x)


class AASIST(nn.Module):
    """(B, T, F = filts[0]) -> logits (B, num_classes). Any T >= 3."""

    def __init__(self, cfg: AASISTConfig, num_classes: int):
        super().__init__()
        in_bins, b1, b2, b3, b4 = cfg.filts
        channels = [tuple(b1), tuple(b2), tuple(b3), tuple(b4), tuple(b4), tuple(b4)]
        self.in_bins = in_bins
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(*(ResidualBlock(i, o, first=(k == 0))
                                       for k, (i, o) in enumerate(channels)))
        feat = channels[-1][1]
        self.out_bn = nn.BatchNorm2d(feat)
        self.attention = nn.Sequential(nn.Conv2d(feat, 128, 1), nn.SELU(), nn.BatchNorm2d(128),
                                       nn.Conv2d(128, feat, 1))
        self.pos_spectral = nn.Parameter(torch.randn(1, in_bins // 3, feat))
        g0, g1 = cfg.gat_dims
        t = cfg.temperatures
        self.gat_spectral = GraphAttention(feat, g0, t[0])
        self.gat_temporal = GraphAttention(feat, g0, t[1])
        self.pool_spectral = GraphPool(cfg.pool_ratios[0], g0)
        self.pool_temporal = GraphPool(cfg.pool_ratios[1], g0)
        self.masters = nn.ParameterList(nn.Parameter(torch.randn(1, 1, g0)) for _ in range(2))
        self.hs_gal_a = nn.ModuleList(HeteroGraphAttention(g0, g1, t[2]) for _ in range(2))
        self.hs_gal_b = nn.ModuleList(HeteroGraphAttention(g1, g1, t[2]) for _ in range(2))
        self.pool_hs = nn.ModuleList(nn.ModuleList(GraphPool(cfg.pool_ratios[2], g1)
                                                   for _ in range(2)) for _ in range(2))
        self.branch_drop = nn.Dropout(cfg.branch_dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(5 * g1, num_classes)

    def _branch(self, k: int, temporal: Tensor, spectral: Tensor) -> tuple[Tensor, ...]:
        master = self.masters[k].expand(temporal.shape[0], -1, -1)
        t1, s1, m1 = self.hs_gal_a[k](temporal, spectral, master)
        pool_t, pool_s = self.pool_hs[k]
        t1, s1 = pool_t(t1), pool_s(s1)
        t_aug, s_aug, m_aug = self.hs_gal_b[k](t1, s1, m1)
        return (self.branch_drop(t1 + t_aug), self.branch_drop(s1 + s_aug),
                self.branch_drop(m1 + m_aug))

    def forward(self, feats: Tensor) -> Tensor:
        if feats.shape[-1] != self.in_bins or feats.shape[1] < 3:
            raise ValueError(f"AASIST expects (B, T>=3, {self.in_bins}), got {tuple(feats.shape)}")
        x = F.max_pool2d(feats.transpose(1, 2)[:, None], (3, 3))  # (B, 1, F/3, T/3)
        x = self.encoder(F.selu(self.first_bn(x)))
        x = F.selu(self.out_bn(x))  # (B, C, F', T')
        w = self.attention(x)
        spectral = (x * F.softmax(w, dim=-1)).sum(-1).transpose(1, 2) + self.pos_spectral
        temporal = (x * F.softmax(w, dim=-2)).sum(-2).transpose(1, 2)
        spectral = self.pool_spectral(self.gat_spectral(spectral))
        temporal = self.pool_temporal(self.gat_temporal(temporal))
        t_a, s_a, m_a = self._branch(0, temporal, spectral)
        t_b, s_b, m_b = self._branch(1, temporal, spectral)
        t, s, m = torch.maximum(t_a, t_b), torch.maximum(s_a, s_b), torch.maximum(m_a, m_b)
        hidden = torch.cat([t.abs().amax(1), t.mean(1), s.abs().amax(1), s.mean(1),
                            m.squeeze(1)], dim=1)
        return self.out(self.drop(hidden))
