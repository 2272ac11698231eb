"""Timing maths: best-of-N, spread, rates and ratios against hand-computed values."""

import pytest

from benchmarks.measure import Figure, Side, Timing, interleaved, speedup


def test_timing_best_median_spread():
    t = Timing((2.0, 1.0, 1.5, 4.0))
    assert t.best_s == 1.0
    assert t.median_s == 1.75  # (1.5 + 2.0) / 2
    assert t.spread == pytest.approx(3.0)  # (4 - 1) / 1
    assert t.rate(10) == 10.0


def test_timing_refuses_empty_and_non_positive():
    with pytest.raises(ValueError):
        Timing(())
    with pytest.raises(ValueError):
        Timing((1.0, 0.0))


def test_sides_of_time_and_rate():
    t = Timing((4.0, 5.0, 8.0))
    per_step = Side.of_time("a", t, per=2)
    assert (per_step.best, per_step.median, per_step.spread, per_step.n) == (2.0, 2.5, 1.0, 3)
    rate = Side.of_rate("a", t, work=100)
    assert (rate.best, rate.median) == (25.0, 20.0)
    assert Side.single("x", 3.0) == Side("x", 3.0, 3.0, 0.0, 1)


def test_ratio_means_b_is_better_for_rates_and_times():
    rates = Figure("r", "w", "clips/s", True, Side.single("a", 100.0), Side.single("b", 150.0))
    assert rates.ratio == 1.5
    times = Figure("t", "w", "s", False, Side.single("a", 3.0), Side.single("b", 2.0))
    assert times.ratio == 1.5
    slower = Figure("t", "w", "s", False, Side.single("a", 2.0), Side.single("b", 3.0))
    assert slower.ratio == pytest.approx(2 / 3)


def test_figure_round_trip_and_median_ratio():
    fig = Figure("B9.x", "what", "clips/s", True, Side.of_rate("a", Timing((2.0, 4.0)), 8),
                 Side.of_rate("b", Timing((1.0, 1.0)), 8), note="n")
    d = fig.to_dict()
    assert d["ratio"] == 2.0  # 8/1 over 8/2
    assert d["ratio_median"] == 3.0  # 8/1 over 8/3
    assert Figure.from_dict(d) == fig


def test_speedup_refuses_zero():
    with pytest.raises(ValueError):
        speedup(0.0, 1.0, True)


def test_interleaved_takes_turns_and_warms_up():
    calls = []
    out = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                      repeats=2, warmup=True)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert [len(t.seconds) for t in out.values()] == [2, 2]
    with pytest.raises(ValueError):
        interleaved({"a": lambda: None}, repeats=0)
