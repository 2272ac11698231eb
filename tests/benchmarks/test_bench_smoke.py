"""The runner end to end on its cheapest benchmarks (tiny inputs)."""

import json

import pytest

import benchmarks.__main__ as runner
from benchmarks.measure import Figure, Side
from benchmarks.registry import BENCHMARKS, Skip, settings_for


class Fake:
    figure, title, accepts = "B9", "fake", ()

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def run(self, work, **settings):
        if self.behaviour == "skip":
            raise Skip("no tool")
        if self.behaviour == "fail":
            raise RuntimeError("boom")
        fig = Figure("B9.x", "w", "s", False, Side.single("a", 2.0), Side.single("b", 1.0))
        return {"figures": [fig.to_dict()], "details": {"work": str(work)}}


@pytest.mark.parametrize("behaviour,status", [("ok", "ok"), ("skip", "skipped: no tool"),
                                              ("fail", "failed: RuntimeError: boom")])
def test_run_one_writes_result_with_fingerprint(tmp_path, monkeypatch, behaviour, status):
    monkeypatch.setitem(runner.BENCHMARKS, "fake", Fake(behaviour))
    monkeypatch.setattr(runner, "settings_for", lambda name, mode: {"n": 1})
    out = runner.run_one("fake", "smoke", tmp_path, {"stage_times": None})
    saved = json.loads((tmp_path / "fake.json").read_text())
    assert saved["status"] == out["status"] == status
    assert saved["settings"] == {"n": 1}
    assert {"load_average_before", "load_average_after", "cpu", "packages"} <= set(saved["machine"])
    if behaviour == "ok":
        assert saved["figures"][0]["ratio"] == 2.0


def test_every_benchmark_has_settings_for_every_mode():
    for name in BENCHMARKS:
        for mode in ("quick", "full", "smoke"):
            assert isinstance(settings_for(name, mode), dict)


def test_loader_smoke_run(tmp_path):
    from benchmarks import loader_throughput

    out = loader_throughput.run(tmp_path, **loader_throughput.SMOKE)
    ids = [f["id"] for f in out["figures"]]
    assert ids == ["B2.cold_0w", "B2.cold_1w", "B2.warm_0w", "B2.warm_1w", "B2.http_0w",
                   "B2.http_1w", "B2.decode_share", "B2.loader_vs_step_tiny"]
    assert all(f["a"]["best"] > 0 and f["b"]["best"] > 0 for f in out["figures"])
    assert out["details"]["clips"] == 24


def test_summary_only_rerenders(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"clips": 1}))
    runner.write_summary(tmp_path, None)
    assert "x.json" in (tmp_path / "summary.md").read_text()
