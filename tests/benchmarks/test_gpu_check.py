"""The prepared GPU check (issue #37) runs end to end on CPU at the tiny size: step figures,
parity within tolerance, a cost table computed from the measured steps."""

import json

import pytest

from benchmarks import gpu_check


@pytest.mark.slow
def test_gpu_check_on_cpu(tmp_path):
    report = gpu_check.main(["--device", "cpu", "--size", "tiny", "--steps", "2", "--batch", "2",
                             "--out", str(tmp_path)])
    assert report["ok"]
    assert [s["variant"] for s in report["steps"]] == ["w2v2_aasist", "sastnet"]
    assert all(s["step_s_median"] > 0 and s["samples_per_s"] > 0 for s in report["steps"])
    assert all(c["fp32"]["ok"] and c["fp32"]["same_argmax"] for c in report["parity"])
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["cost"] == report["cost"]
    assert "hours on this CPU" in (tmp_path / "gpu_check.md").read_text()


def test_cost_table_from_steps():
    steps = {"w2v2_aasist": {"step_s_median": 0.5, "batch": 8},
             "sastnet": {"step_s_median": 1.0, "batch": 24}}
    rows = {r["variant"]: r for r in gpu_check.cost_table(steps, seeds=3)}
    # 20 epochs x ceil(85,930 / 8) steps x 0.5 s; SASTNet's step scaled to its batch 12: 0.5 s
    assert rows["w2v2_aasist"]["steps"] == 20 * 10742
    assert rows["w2v2_aasist"]["gpu_h_per_task"] == round(20 * 10742 * 0.5 / 3600, 2)
    assert rows["sastnet"]["gpu_h_per_task"] == round(40 * 7161 * 0.5 / 3600, 2)
