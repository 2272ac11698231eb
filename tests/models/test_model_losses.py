"""Margin reconstruction loss, automatic weighted loss, weighted CE, parameter groups."""

import math

import pytest
import torch
import torch.nn.functional as F

from sastnet.models import build_model, model_config, param_groups
from sastnet.models.losses import (
    AutomaticWeightedLoss,
    WeightedCrossEntropy,
    margin_reconstruction_loss,
)


def test_margin_loss_by_hand():
    mse = torch.tensor([[0.30, 0.25, 0.50, 0.35],   # y = 0
                        [0.20, 0.05, 0.40, 0.10]])  # y = 1
    labels = torch.tensor([0, 1])
    loss, terms = margin_reconstruction_loss(mse, labels, margin=0.1)
    # sample 0: L_y = .30; relu(.1+.30-.25)=.15, relu(.1+.30-.50)=0, relu(.1+.30-.35)=.05 -> .2/3
    # sample 1: L_y = .05; relu(.1+.05-.20)=0, relu(.1+.05-.40)=0, relu(.1+.05-.10)=.05 -> .05/3
    expected = ((0.30 + 0.20 / 3) + (0.05 + 0.05 / 3)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert terms["recon_y"].item() == pytest.approx(0.175, abs=1e-6)
    # the paper's Eq. 2 as written: relu(m + L_y - mean(L_other))
    loss_pm, _ = margin_reconstruction_loss(mse, labels, 0.1, reduce="relu_of_mean")
    expected_pm = ((0.30 + max(0, 0.4 - (0.25 + 0.50 + 0.35) / 3))
                   + (0.05 + max(0, 0.15 - (0.20 + 0.40 + 0.10) / 3))) / 2
    assert loss_pm.item() == pytest.approx(expected_pm, abs=1e-6)


def test_margin_penalty_zero_when_right_decoder_wins_by_more_than_m():
    mse = torch.tensor([[0.50, 0.02, 0.20]])
    loss, terms = margin_reconstruction_loss(mse, torch.tensor([1]), margin=0.1)
    assert terms["margin"].item() == 0.0
    assert loss.item() == pytest.approx(0.02)


def test_single_decoder_ignores_label():
    mse = torch.tensor([[0.3], [0.1]])
    loss, _ = margin_reconstruction_loss(mse, torch.tensor([2, 0]), margin=0.1)
    assert loss.item() == pytest.approx(0.2)


def test_awl_value_and_gradient_reach_p():
    awl = AutomaticWeightedLoss(2)
    losses = [torch.tensor(2.0), torch.tensor(0.5)]
    total = awl(losses)
    assert total.item() == pytest.approx(0.5 * 2.0 + math.log(2) + 0.5 * 0.5 + math.log(2))
    total.backward()
    # d/dp (0.5 L / p^2 + log(1 + p^2)) at p = 1: -L + 1
    assert torch.allclose(awl.params.grad, torch.tensor([-1.0, 0.5]))


def test_awl_gradient_through_model():
    torch.manual_seed(0)
    model = build_model(model_config("m_mae", "dec", "tiny", num_samples=16000))
    out = model(torch.randn(2, 16000), labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert model.awl.params.grad is not None and torch.all(model.awl.params.grad != 0)


def test_weighted_ce_uses_release_weights():
    cfg = model_config("w2v2_aasist", "vq", "tiny")
    assert cfg.loss.class_weights == (0.1, 0.3, 0.3, 0.3)
    assert model_config("sastnet", "dec").loss.class_weights == (0.2, 0.4, 0.4)
    assert model_config("sastnet", "bin").loss.class_weights == (0.5, 0.5)
    logits, labels = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    ce = WeightedCrossEntropy(cfg.loss.class_weights)
    ref = F.cross_entropy(logits, labels, weight=torch.tensor([0.1, 0.3, 0.3, 0.3]))
    assert torch.allclose(ce(logits, labels), ref)


def test_param_groups_exclude_awl_from_decay():
    model = build_model(model_config("sastnet", "aux", "tiny"))
    groups = param_groups(model, 1e-4)
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert groups[1]["params"] == [model.awl.params]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
