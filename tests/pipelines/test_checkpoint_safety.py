"""Checkpoints load with ``torch.load(weights_only=True)`` (issue 20): no code runs on load."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from pipelines.train.checkpoint import load_training_state, save_training_state


class _Payload:
    def __reduce__(self):
        return (print, ("code ran on load",))


def test_a_real_training_state_round_trips_with_numpy_metrics(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    history = [{"dev_macro_f1": 100 * np.float64(0.5), "loss": 0.25}]  # sklearn gives numpy floats
    save_training_state(tmp_path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "epoch": 1,
                                   "history": history, "best": {"epoch": 1}}, {"epoch": 1})
    state = load_training_state(tmp_path)
    assert state["history"] == [{"dev_macro_f1": 50.0, "loss": 0.25}]
    assert torch.equal(state["model"]["weight"], model.state_dict()["weight"])


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    torch.save({"model": {}, "evil": _Payload()}, tmp_path / "state.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_training_state(tmp_path)
