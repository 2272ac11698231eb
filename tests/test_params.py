from pathlib import Path

import pytest
import yaml

from pipelines.params import PROFILES_DIR, ParamsError, load_params, parse_params
from pipelines.params.model_check import check_model_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", sorted(PROFILES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(profile):
    params = load_params(profile)
    check_model_params(params)
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


def _cli(args):
    from typer.testing import CliRunner

    from pipelines.cli import app

    return CliRunner().invoke(app, args)


def _write(tmp_path, data):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _check(data):
    check_model_params(parse_params(data))


def test_misspelt_override_names_its_path_and_allowed_keys(tmp_path):
    data = _default()
    data["model"]["overrides"] = {"mae": {"mask_ration": 0.4}}
    with pytest.raises(ParamsError, match=r"model\.overrides\.mae\.mask_ration: unknown key; "
                                          r"allowed keys: .*mask_ratio"):
        _check(data)
    result = _cli(["check-params", str(_write(tmp_path, data))])
    assert result.exit_code == 2
    assert "model.overrides.mae.mask_ration" in result.output


def test_unknown_top_level_override_and_fixed_fields_are_rejected():
    data = _default()
    data["model"]["overrides"] = {"mask_ratio": 0.4}  # the field of mae, not of the model
    with pytest.raises(ParamsError, match=r"model\.overrides\.mask_ratio: unknown key; "
                                          r"allowed keys: num_classes, .*mae"):
        _check(data)
    data["model"]["overrides"] = {"num_samples": 16000}  # train.num_samples sets it
    with pytest.raises(ParamsError, match=r"model\.overrides\.num_samples: unknown key"):
        _check(data)


def test_override_value_type_and_range_are_checked():
    data = _default()
    data["model"]["overrides"] = {"mae": {"mask_ratio": "high"}}
    with pytest.raises(ParamsError, match=r"model\.overrides\.mae\.mask_ratio: expected a number"):
        _check(data)
    data["model"]["overrides"] = {"mae": {"mask_ratio": 1.5}}
    with pytest.raises(ParamsError, match=r"model\.overrides: mae\.mask_ratio: must be in \[0, 1\)"):
        _check(data)


def test_valid_override_reaches_the_model_config():
    from sastnet.models.config import model_config

    data = _default()
    data["model"]["overrides"] = {"mae": {"mask_ratio": 0.5}, "fusion": {"num_layers": 1}}
    params = parse_params(data)
    check_model_params(params)
    from pipelines.params.model_check import check_overrides

    cfg = model_config("sastnet", "aux", params.model.size, **check_overrides(params.model.overrides))
    assert cfg.mae.mask_ratio == 0.5 and cfg.fusion.num_layers == 1
    assert cfg.mae.depth == model_config("sastnet", "aux", "tiny").mae.depth  # others kept


def test_check_params_cli_rejects_unknown_section(tmp_path):
    result = _cli(["check-params", str(_write(tmp_path, {**_default(), "trian": {}}))])
    assert result.exit_code == 2
    assert "unknown section(s) trian" in result.output


def test_unknown_variant_is_named():
    data = _default()
    data["train"]["variants"] = ["sastnet", "sastnett"]
    with pytest.raises(ParamsError, match=r"train\.variants: 'sastnett' is not a variant; "
                                          r"allowed: w2v2_aasist, "):
        _check(data)
