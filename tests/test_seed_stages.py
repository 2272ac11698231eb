"""The seed dimension in dvc.yaml, and the stage clock that times a `dvc repro` run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from pipelines.common.stage_times import StageClock
from pipelines.params.train import TrainParams

ROOT = Path(__file__).resolve().parents[1]
MATRIX_KEYS = {"tasks", "variants", "seeds"}  # they shape the matrix, not one training


def test_train_stages_track_every_train_key_but_the_matrix_ones():
    """Adding a seed must train only the new seed: the per-model stages may not depend on
    the whole ``train`` section, so they list every other key a training reads."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = {f"train.{f.name}" for f in dataclasses.fields(TrainParams)} - {
        f"train.{k}" for k in MATRIX_KEYS}
    for name in ("train_baseline", "train"):
        params = set(stages[name]["params"])
        assert "train" not in params and not {f"train.{k}" for k in MATRIX_KEYS} & params
        assert expected <= params, f"{name}: add {sorted(expected - params)} to its params"
        assert "seed" in stages[name]["matrix"] and "seed${item.seed}" in str(stages[name]["outs"])
    for name in ("predict_baseline", "predict"):
        assert "seed" in stages[name]["matrix"]
        assert "seed${item.seed}" in str(stages[name]["outs"])


def test_stage_clock_times_the_stages_dvc_ran(tmp_path):
    ticks = iter([0.0, 10.0, 25.0, 26.0, 40.0, 41.0, 50.0])
    clock = StageClock(tmp_path, clock=lambda: next(ticks))  # run starts at 0
    for line in ["Stage 'corpus' didn't change, skipping\n",
                 "Running stage 'codecs':\n", "> python -m stages.codecs\n", "training...\n",
                 "Updating lock file 'dvc.lock'\n",  # codecs: 10 -> 25
                 "Running stage 'train@aux-sastnet-1':\n",  # 26
                 "Updating lock file 'dvc.lock'\n"]:  # 40
        clock.feed(line)
    clock.finish(0)  # 41
    data = json.loads((tmp_path / "stage_times.json").read_text())
    assert data["stages"]["codecs"]["wall_s"] == 15.0
    assert data["stages"]["train@aux-sastnet-1"]["wall_s"] == 14.0
    assert "corpus" not in data["stages"]
    assert data["run"]["stages_run"] == ["codecs", "train@aux-sastnet-1"]
    assert data["run"]["wall_s"] == 41.0 and data["run"]["status"] == "ok"

    # a failing stage is closed as failed; the earlier stage keeps its record
    ticks = iter([0.0, 1.0, 4.0, 5.0])
    again = StageClock(tmp_path, clock=lambda: next(ticks))
    again.feed("Running stage 'evaluate':\n")
    again.finish(255)
    data = json.loads((tmp_path / "stage_times.json").read_text())
    assert data["stages"]["evaluate"]["status"] == "failed"
    assert data["stages"]["evaluate"]["wall_s"] == 3.0
    assert data["stages"]["codecs"]["wall_s"] == 15.0
    assert data["run"]["stages_run"] == ["evaluate"] and "255" in data["run"]["status"]


def test_readme_results_section_copies_no_numbers_by_hand():
    """The README points at reports/summary.md; it quotes results only in the checked block."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Results"):readme.index("## Running the heavy jobs")]
    assert "reports/summary.md" in section
    # numbers only inside the results block, which tests/test_docs.py checks against the
    # published run's reports (docs/results/default.md)
    begin, end = section.index("<!-- results:begin -->"), section.index("<!-- results:end -->")
    outside = section[:begin] + section[end:]
    assert not re.findall(r"\d+\.\d+|\d+ ?%|\d+ min", outside), "a hand-copied number"


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in tree.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _keys(value, f"{prefix}{key}.")
    return out


def test_every_profile_has_every_param_a_stage_tracks():
    """DVC refuses a stage whose tracked param is missing from params.yaml (a dataclass
    default does not count), so each shipped profile must spell out every tracked key."""
    tracked = set()
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values():
        for entry in stage.get("params", []):
            tracked |= {entry} if isinstance(entry, str) else set()
    for profile in [ROOT / "params.yaml", *sorted((ROOT / "profiles").glob("*.yaml"))]:
        missing = tracked - _keys(yaml.safe_load(profile.read_text()))
        assert not missing, f"{profile.name}: add {sorted(missing)}"
