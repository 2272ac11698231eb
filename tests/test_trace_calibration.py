"""Temperature scaling and ECE (sastnet/calibration.py) on seeded synthetic classifiers."""

import dataclasses

import numpy as np
import pytest

from sastnet.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    softmax,
)


def _overconfident(n: int, classes: int, sharpen: float, seed: int):
    """Labels drawn from softmax(z) (so softmax(z) is calibrated); the model reports softmax(sharpen*z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, classes))
    true_p = softmax(z)
    labels = np.array([rng.choice(classes, p=p) for p in true_p])
    return softmax(sharpen * z), labels


def test_calibration_lowers_ece_on_a_held_out_split():
    probs, labels = _overconfident(4000, 4, sharpen=3.0, seed=0)
    fit, held = slice(0, 2000), slice(2000, None)
    t = fit_temperature(probs[fit], labels[fit])
    assert 2.5 < t < 3.5  # recovers the sharpening factor
    before = expected_calibration_error(probs[held], labels[held])
    after = expected_calibration_error(apply_temperature(probs[held], t), labels[held])
    assert before > 0.1 and after < 0.04 and after < before / 3
    assert negative_log_likelihood(apply_temperature(probs[held], t), labels[held]) < \
        negative_log_likelihood(probs[held], labels[held])


def test_underconfident_model_gets_t_below_one():
    probs, labels = _overconfident(3000, 3, sharpen=0.4, seed=1)
    assert fit_temperature(probs, labels) < 0.6


def test_temperature_never_changes_the_decision_and_one_is_identity():
    probs, _ = _overconfident(200, 4, sharpen=2.0, seed=2)
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, atol=1e-9)
    for t in (0.3, 2.0, 7.0):
        scaled = apply_temperature(probs, t)
        np.testing.assert_array_equal(scaled.argmax(1), probs.argmax(1))
        np.testing.assert_allclose(scaled.sum(1), 1.0)


def test_reliability_bins_count_every_clip_and_perfect_model_has_zero_ece():
    probs = np.eye(3)[[0, 1, 2, 0]]
    labels = np.array([0, 1, 2, 0])
    bins = reliability_bins(probs, labels, n_bins=10)
    assert sum(b.count for b in bins) == 4 and bins[-1].count == 4  # confidence 1.0 -> last bin
    assert expected_calibration_error(probs, labels) == 0.0
    assert expected_calibration_error(probs, np.array([1, 2, 0, 1])) == 1.0


def test_bad_shapes_and_labels_are_named():
    with pytest.raises(ValueError, match="labels shape"):
        fit_temperature(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        apply_temperature(np.full((1, 2), 0.5), 0.0)


def test_family_in_words():
    from sastnet.taxonomy import describe_family

    assert describe_family({"vq": "MVQ", "aux": "SEM", "dec": "TIME"}) == \
        "spoof: multi-codebook VQ, semantic distillation, time-domain decoder"
    assert describe_family({"aux": "REAL", "bin": "bonafide"}) == "bona fide"
    assert describe_family({"bin": "spoof"}) == "spoof"
    assert describe_family({"aux": "Disent", "dec": "REAL"}) == \
        "spoof: disentanglement (DEC says bona fide)"
    with pytest.raises(ValueError, match="not a class"):
        describe_family({"aux": "MVQ"})


def test_register_calibration_figures_reliability_plot_and_report(tmp_path):
    from pipelines.evaluate.calibrate import calibrate_probs, plot_reliability
    from pipelines.register.versions import write_calibration_report

    probs, labels = _overconfident(600, 4, sharpen=2.5, seed=5)
    cal = calibrate_probs(probs, labels, seed=0)
    assert cal.dev_clips == 600 and 1.8 < cal.temperature < 3.5
    assert cal.ece_after < cal.ece_before and cal.ece_after_heldout < cal.ece_before
    assert cal.nll_after < cal.nll_before
    assert cal == calibrate_probs(probs, labels, seed=0)  # seeded: same split, same figures
    png = plot_reliability(probs, labels, cal.temperature, "aux / test", tmp_path / "rel.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = {"tasks": {"aux": {"calibration": {"sastnet/seed0": {**cal.to_dict(), "applied": True}}},
                        "vq": {"calibration": {}}}}
    write_calibration_report(report, tmp_path / "calibration")
    text = (tmp_path / "calibration" / "calibration.md").read_text()
    assert f"| aux/sastnet/seed0 | 600 | {cal.temperature:.2f} | yes | {cal.ece_before:.3f} |" in text
    assert "vq/" not in text


def test_temperature_is_applied_only_when_it_lowers_the_held_out_ece():
    from pipelines.evaluate.calibrate import calibrate_probs, temperature_to_apply

    probs, labels = _overconfident(600, 4, sharpen=2.5, seed=5)
    cal = calibrate_probs(probs, labels, seed=0)
    assert temperature_to_apply(cal) == cal.temperature
    # the ci profile's baseline on its 12 dev clips (00:40 run, docs/trace.md): the fit hurt
    worse = dataclasses.replace(cal, ece_before=0.025, ece_after=0.136, ece_after_heldout=0.329)
    assert temperature_to_apply(worse) is None


def test_no_temperature_is_applied_when_dev_is_all_right():
    """A dev set the model gets all right has no NLL minimum (run J's seed-2 SASTNet, 116 of 116
    dev clips: T = 0.052, next to the lower bound, turned every answer into 1.00): not applied."""
    from pipelines.evaluate.calibrate import (
        calibrate_probs,
        temperature_at_bound,
        temperature_to_apply,
    )
    from sastnet.calibration import T_BOUNDS

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=116)
    logits = rng.normal(size=(116, 4))
    logits[np.arange(116), labels] += 4.0  # right every time, not fully sure
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cal = calibrate_probs(probs, labels, seed=0)
    assert cal.accuracy == 1.0 and cal.ece_after_heldout < cal.ece_before  # the old rule applied it
    assert temperature_to_apply(cal) is None
    # run J's figures: the search ended 3 % above the bound, where the NLL was flat
    run_j = dataclasses.replace(cal, temperature=0.05155, ece_before=0.031309, ece_after=0.0,
                                ece_after_heldout=0.0, accuracy=1.0)
    assert temperature_to_apply(run_j) is None
    # one dev clip wrong: T is determined again and the ECE rule decides
    wrong = dataclasses.replace(cal, temperature=0.7, accuracy=115 / 116)
    assert temperature_to_apply(wrong) == 0.7
    assert temperature_at_bound(0.05155) and temperature_at_bound(T_BOUNDS[1])
    assert not temperature_at_bound(0.06) and not temperature_at_bound(1.0)


def test_trace_output_says_not_calibrated_and_why_when_dev_is_saturated(tmp_path):
    """The champion of run R2 (SASTNet, 272 of 272 dev clips right) has no temperature: the table
    and the JSON say "NOT calibrated" and why, never "calibrated"; a fitted one says where from;
    every model states that its label set is closed (#40)."""
    import json

    import soundfile as sf
    from rich.console import Console

    from pipelines.evaluate.calibrate import calibrate_probs, calibration_note, temperature_to_apply
    from pipelines.trace import TraceOptions, trace_files, trace_report
    from pipelines.trace.render import print_table
    from tests.test_trace import _tone, energy_model

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, size=272)
    logits = rng.normal(size=(272, 4))
    logits[np.arange(272), labels] += 5.0
    cal = calibrate_probs(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), labels, seed=0)
    temperature = temperature_to_apply(cal)
    assert temperature is None
    saturated = energy_model()
    saturated.calibration = {**cal.to_dict(), "applied": False}  # what register stores
    fitted = energy_model()
    fitted.temperature, fitted.calibration = 1.7, {**cal.to_dict(), "temperature": 1.7,
                                                   "accuracy": 0.9, "applied": True}
    never = energy_model()  # a checkpoint folder
    sf.write(tmp_path / "a.wav", _tone(2.5, 16000), 16000)
    for model, words in ((saturated, ["NOT calibrated", "every one of the 272 dev clips is right",
                                      "dev is saturated"]),
                         (fitted, ["calibrated: temperature 1.7 fitted on 272 dev clips"]),
                         (never, ["NOT calibrated", "never calibrated on dev"])):
        records = trace_files([str(tmp_path / "a.wav")], {"aux": model}, TraceOptions())
        described = trace_report(records, {"aux": model})["models"]["aux"]
        out = tmp_path / "table.txt"
        with open(out, "w") as fh:
            print_table(records, {"aux": model}, Console(file=fh, width=400))
        table = " ".join(out.read_text().split())
        for w in words:
            assert w in described["calibration_note"] and w in table, (w, table)
        assert described["calibrated"] is (model is fitted)
        assert "closed set: every clip gets one of REAL, None, SEM, Disent" in table
        assert described["closed_set_note"] in table
    assert calibration_note(None, {}) == calibration_note(None, None)
    assert json.dumps(saturated.describe())  # JSON-able
