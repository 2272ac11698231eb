"""The model card renders the run's numbers, and only those: every number in it is read from a
report of the run (``tests/fixtures/export_run``: the published default run's reports, trimmed)
or from the export's own config.json, and reading each one back from its file gives the text
the card shows."""

import json
from pathlib import Path

import pytest

from pipelines.export.card import (
    NUMBER,
    PLACEHOLDER,
    Citations,
    card_draft,
    model_card,
    render,
    run_files,
)
from tests.export_dummies import RUN_DIR


def _config(path: Path, **changes) -> dict:
    """The config.json of an export of the fixture run's champion (sastnet, seed 2)."""
    config = {
        "format": "sastnet-export/1", "task": "aux", "classes": ["REAL", "None", "SEM", "Disent"],
        "sample_rate_hz": 16000, "num_samples": 24000, "input_s": 1.5, "min_input_s": 0.75,
        "temperature": None, "calibration": {},
        "model_config": {"variant": "sastnet", "size": "tiny"},
        "whisper": {"folder": "whisper", "source": "data/whisper/tiny.en", "variant": "fast",
                    "encoder_seconds": 5.12, "mel_frames": 512, "d_model": 384},
        "onnx": {"file": "model.onnx", "opset": 17, "whisper": "included",
                 "parity_max_abs_diff": 3.2e-07},
        "source": {"model": "models:/sastnet-aux@champion", "task": "aux", "variant": "sastnet",
                   "seed": 2, "experiment": None, "name": "sastnet-aux", "version": "18",
                   "run_id": "e1d4aa27873945afbd51b12bd1088e37"},
    } | changes
    path.write_text(json.dumps(config))
    return config


def _read_back(cite: Citations, citation) -> str:
    node = json.loads(cite.files[citation.file].read_text())
    for key in citation.keys:
        node = node[key]
    if citation.fmt == "key":  # a name shown from a report: part of a key that is there
        return citation.text if citation.text in citation.keys[-1] else citation.keys[-1]
    return render(node, citation.fmt)


def test_every_number_in_the_card_comes_from_the_runs_reports(tmp_path):
    config = _config(tmp_path / "config.json")
    cite = Citations(run_files(RUN_DIR, RUN_DIR / "reports", tmp_path / "config.json"))
    draft = card_draft(config, cite)
    assert NUMBER.findall(PLACEHOLDER.sub(" ", draft)) == []  # no number but cited ones
    card = cite.resolve(draft)
    assert card == model_card(config, Citations(cite.files))
    used = {c.file for c in cite.cited}
    assert used == set(cite.files)  # every report file contributes
    for citation in cite.cited:
        assert _read_back(cite, citation) == citation.text, citation
    # the figures a reader looks for, as the run's summary reports them
    assert "99.95 ± 0.10 (n=5)" in card  # CoRS macro F1 of the sastnet group
    assert "68.84 ± 3.34 (n=5)" in card  # CoRS rm_sil
    assert "| 408 | 100.00 | 100.00 |" in card  # seed 2 on CoRS: clips, macro, weighted F1
    summary = json.loads((RUN_DIR / "reports" / "summary.json").read_text())
    assert summary["fingerprint"]["git_commit"] in card
    for path, md5 in summary["fingerprint"]["dvc_inputs"].items():
        assert f"| `{path}` | `{md5}` |" in card
    assert "no laundering axis" in card and "not applied" in card
    assert "Closed set" in card and "CodecFake+" in card


def test_calibrated_and_robustness_rows_are_cited_too(tmp_path):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "reports").mkdir()
    metrics = json.loads((RUN_DIR / "metrics" / "evaluation.json").read_text())
    metrics["seen250_aux"] |= {"sastnet/cors/mp3_16k/macro_f1": 81.25,
                               "sastnet/cors/mp3_16k/macro_f1_std": 4.5,
                               "sastnet/cors/mp3_16k/n_seeds": 5}
    (run / "metrics" / "evaluation.json").write_text(json.dumps(metrics))
    source = {"model": "models/aux/sastnet/seed2", "variant": "sastnet", "seed": 2,
              "experiment": "seen250"}
    config = _config(tmp_path / "config.json", temperature=0.4321, source=source)
    cite = Citations(run_files(run, run / "reports", tmp_path / "config.json"))
    card = model_card(config, cite)
    assert "temperature 0.4321 fitted on dev" in card
    assert "| `cors` | `mp3_16k` | n/a | 81.25 ± 4.50 (n=5) |" in card
    assert "training data unknown" in card and "no fingerprint" in card
    for citation in cite.cited:
        assert _read_back(cite, citation) == citation.text


def test_a_number_not_read_from_a_report_is_refused():
    cite = Citations({})
    with pytest.raises(ValueError, match="not read from a report"):
        cite.resolve("accuracy 97.5 %, typed in by hand")
