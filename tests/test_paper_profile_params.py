"""Paper profile settings: it parses, it is on Whisper-small, the Whisper width is checked against
the model's whisper_dim before any work, the AudioMAE weights are required at paper size, and
every Table III/IV row of every task builds at paper sizes (meta device: shapes, no memory)."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from pipelines.params import ParamsError, parse_params
from pipelines.params.whisper_width import whisper_width
from pipelines.train.job import resolve_mae_init
from sastnet.models import build_model, model_config

PAPER = Path(__file__).resolve().parents[1] / "profiles" / "paper.yaml"


def _paper(**changes) -> dict:
    data = yaml.safe_load(PAPER.read_text())
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = data
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    return data


def test_paper_profile_parses_with_whisper_small_and_official_lists():
    p = parse_params(_paper(), "paper.yaml")
    assert p.features.model == "openai/whisper-small"
    assert p.shard.train_lists == "official" and p.train.experiment == "full"
    assert {"s_mae", "m_mae", "whisper_m_mae", "w2v2_m_mae", "sastnet",
            "w2v2_m_mae_pretrained", "sastnet_pretrained"} <= set(p.train.variants)


def test_whisper_dim_table_matches_the_model_config():
    from pipelines.params.whisper_width import WHISPER_DIM_BY_SIZE

    for size, dim in WHISPER_DIM_BY_SIZE.items():
        assert model_config("sastnet", "aux", size).fusion.whisper_dim == dim


def test_width_of_hub_ids_and_local_dirs(tmp_path):
    assert whisper_width("openai/whisper-small") == 768
    assert whisper_width("data/whisper/tiny.en") == 384
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "config.json").write_text(json.dumps({"d_model": 512}))
    assert whisper_width(str(tmp_path / "w")) == 512  # the config wins over the name
    assert whisper_width(str(tmp_path / "unknown")) is None


def test_width_mismatch_names_both_keys():
    with pytest.raises(ParamsError) as err:
        parse_params(_paper(**{"features.model": "data/whisper/tiny.en"}), "paper.yaml")
    msg = str(err.value)
    assert "features.model" in msg and "model.overrides.fusion.whisper_dim" in msg
    assert "384" in msg and "768" in msg


def test_width_override_makes_it_consistent(tmp_path):
    data = _paper(**{"features.model": "data/whisper/tiny.en",
                     "model.overrides": {"fusion": {"whisper_dim": 384}}})
    assert parse_params(data, "paper.yaml").model.overrides["fusion"]["whisper_dim"] == 384


def test_no_whisper_variant_no_width_check():
    data = _paper(**{"features.model": "data/whisper/tiny.en", "train.variants": ["m_mae"]})
    parse_params(data, "paper.yaml")


def test_official_lists_need_codecfake_plus():
    with pytest.raises(ParamsError, match="shard.train_lists.*codecfake_plus"):
        parse_params(_paper(**{"corpus.source": "synthetic"}), "paper.yaml")


def test_missing_audiomae_weights_stop_naming_the_key(tmp_path):
    mp = parse_params(_paper(**{"model.audiomae_checkpoint": str(tmp_path / "none.pth")})).model
    with pytest.raises(FileNotFoundError, match="model.audiomae_checkpoint.*audiomae_random_init"):
        resolve_mae_init(mp, uses_mae=True)
    assert resolve_mae_init(mp, uses_mae=False) is None  # the W2V2-AASIST baseline has no MAE
    opted = parse_params(_paper(**{"model.audiomae_checkpoint": None,
                                   "model.audiomae_random_init": True})).model
    assert resolve_mae_init(opted, uses_mae=True) is None
    (tmp_path / "w.pth").write_bytes(b"x")
    found = parse_params(_paper(**{"model.audiomae_checkpoint": str(tmp_path / "w.pth")})).model
    assert resolve_mae_init(found, uses_mae=True) == str((tmp_path / "w.pth").resolve())


@pytest.mark.slow  # ~40 s a task on 2 loaded cores (building 8 paper-size networks)
@pytest.mark.parametrize("task, classes", [("vq", 4), ("aux", 4), ("dec", 3), ("bin", 2)])
def test_every_variant_of_every_task_at_paper_size(task, classes):
    """82,200 samples, XLS-R 300M, ViT-B MAE with one decoder per class, Whisper-small width."""
    p = parse_params(_paper())
    width = whisper_width(p.features.model)
    for variant in (p.train.baseline_variant, *p.train.variants):
        cfg = model_config(variant, task, "paper", num_samples=p.train.num_samples)
        with torch.device("meta"):
            model = build_model(cfg, load_weights=False)
            wave, whisper = torch.randn(2, 82_200), torch.randn(2, 128, width)
            out = model.train()(wave, whisper, labels=torch.tensor([0, classes - 1]))
        assert out.logits.shape == (2, classes), variant
        if model.mae is not None and cfg.uses_w2v2:  # the release's 256 x 128 W2V2 image
            assert model.mae.grid == (16, 8)
            assert len(model.mae.decoders) == (1 if variant == "s_mae" else classes)
