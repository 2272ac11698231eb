from pathlib import Path

import pytest
import yaml

from pipelines.params import PROFILES_DIR, ParamsError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", sorted(PROFILES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(profile):
    params = load_params(profile)
    assert params.common.profile == profile.stem


def test_params_yaml_loads():
    load_params(ROOT / "params.yaml")


def _default():
    return yaml.safe_load((PROFILES_DIR / "default.yaml").read_text())


def test_unknown_key_is_named_with_allowed_keys():
    data = _default()
    data["common"]["sed"] = 1
    with pytest.raises(ParamsError, match=r"common: unknown key\(s\) sed; allowed keys: .*seed"):
        parse_params(data)


def test_unknown_section_is_named():
    with pytest.raises(ParamsError, match="unknown section.*trian"):
        parse_params({**_default(), "trian": {}})


def test_wrong_type_is_named():
    data = _default()
    data["common"]["seed"] = "abc"
    with pytest.raises(ParamsError, match="common.seed: expected an integer"):
        parse_params(data)


def test_literal_lists_allowed_values():
    data = _default()
    data["corpus"]["source"] = "vctk2"
    with pytest.raises(ParamsError, match="corpus.source: 'vctk2' is not allowed; allowed values: "
                                          "'synthetic', 'codecfake_plus'"):
        parse_params(data)


def test_impossible_value_is_named():
    data = _default()
    data["common"]["sample_rate_hz"] = 22050
    with pytest.raises(ParamsError, match="common.sample_rate_hz: 22050 is not supported"):
        parse_params(data)


def test_nested_impossible_value_names_full_path():
    data = _default()
    data["corpus"]["codecfake_plus"] = {"seen_max_utt_id": 0}
    with pytest.raises(ParamsError, match=r"corpus\.codecfake_plus\.seen_max_utt_id"):
        parse_params(data)


def test_profile_switch_cli(tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    target = tmp_path / "params.yaml"
    result = CliRunner().invoke(app, ["profile", "paper", "--params-file", str(target)])
    assert result.exit_code == 0, result.output
    assert load_params(target).common.profile == "paper"
    result = CliRunner().invoke(app, ["profile", "nope", "--params-file", str(target)])
    assert result.exit_code != 0


def test_cross_section_rules_name_both_keys():
    data = _default()
    data["features"]["num_samples"] = data["train"]["num_samples"] + 1
    with pytest.raises(ParamsError, match="features.num_samples.*train.num_samples"):
        parse_params(data)
    data = _default()
    data["train"]["tasks"] = ["dec"]
    data["shard"]["tasks"] = ["aux"]
    with pytest.raises(ParamsError, match="train.tasks: dec have no training shards"):
        parse_params(data)
