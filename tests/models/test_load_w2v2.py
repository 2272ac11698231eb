"""Tuned-W2V2 initialisation: copy a W2V2-AASIST baseline's encoder into SASTNet."""

import pytest
import torch

from sastnet.models import build_model, load_w2v2_from_baseline, model_config


def test_changes_exactly_the_encoder():
    torch.manual_seed(0)
    baseline = build_model(model_config("w2v2_aasist", "aux", "tiny"))
    torch.manual_seed(1)
    model = build_model(model_config("sastnet", "aux", "tiny"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = {f"module.{k}": v for k, v in baseline.state_dict().items()}  # DDP prefix accepted
    changed = load_w2v2_from_baseline(model, state)
    after = model.state_dict()
    really_changed = sorted(k for k in after if not torch.equal(before[k], after[k]))
    assert sorted(changed) == really_changed
    assert changed and all(k.startswith("frontend.w2v2.") for k in changed)
    assert any("feature_extractor" in k for k in changed) and any("encoder.layers" in k
                                                                  for k in changed)
    for k in changed:
        assert torch.equal(after[k], baseline.state_dict()[k])


def test_rejects_wrong_sizes_and_models_without_w2v2():
    baseline = build_model(model_config("w2v2_aasist", "aux", "tiny"))
    bigger = build_model(model_config("sastnet", "aux", "tiny", w2v2={"hidden_size": 96}))
    with pytest.raises(ValueError, match="shape mismatch"):
        load_w2v2_from_baseline(bigger, baseline.state_dict())
    mel_model = build_model(model_config("m_mae", "aux", "tiny"))
    with pytest.raises(ValueError, match="no wav2vec 2.0"):
        load_w2v2_from_baseline(mel_model, baseline.state_dict())
