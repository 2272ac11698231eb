"""The views-vs-clean benchmark's verdict maths and its refusal without the default run's data."""

from __future__ import annotations

import math

import pytest

from benchmarks.whisper_views import paired_difference


def test_paired_difference_by_hand():
    d = paired_difference([50.0, 60.0, 70.0], [52.0, 66.0, 73.0])  # diffs 2, 6, 3
    assert d["per_seed"] == [2.0, 6.0, 3.0]
    assert d["mean"] == pytest.approx(11 / 3, abs=0.01)
    assert d["std"] == pytest.approx(math.sqrt(((2 - 11 / 3) ** 2 + (6 - 11 / 3) ** 2
                                                 + (3 - 11 / 3) ** 2) / 2), abs=0.01)
    assert d["outside_spread"]  # 3.67 > 2.08


def test_paired_difference_inside_spread_and_single_seed():
    assert not paired_difference([50.0, 60.0], [60.0, 50.0])["outside_spread"]  # 0 ± 14.1
    one = paired_difference([50.0], [55.0])
    assert one["mean"] == 5.0 and math.isnan(one["std"]) and not one["outside_spread"]
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_skips_without_the_default_runs_data(tmp_path, monkeypatch):
    import benchmarks.whisper_views as views
    from benchmarks.registry import Skip

    (tmp_path / "params.yaml").write_text(
        "common: {data_dir: data}\ntrain: {models_dir: models, seeds: [0], "
        "baseline_variant: w2v2_aasist}\n")
    monkeypatch.setattr(views, "ROOT", tmp_path)
    with pytest.raises(Skip, match="dvc repro shard"):
        views.run(tmp_path / "work", task="aux", variant="sastnet", seeds=1, views=2, algo=5)
