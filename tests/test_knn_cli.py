"""``sastnet knn attribute`` / ``enrol`` on real audio files and a real (tiny, random) Whisper
encoder: clips of a system missing from the index are flagged unknown, and enrolling that
system from a folder of its clips turns its other clips into correct, unflagged attributions."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.knn.index import IndexEncoder, SupportIndex, load_index
from sastnet import knn
from tests.test_features import make_tiny_whisper

SR = 16000
NUM_SAMPLES = 16000  # 1 s clips


def system_clip(system: str, rng: np.random.Generator) -> np.ndarray:
    """Three "systems" with different spectral fingerprints, each clip jittered."""
    t = np.arange(NUM_SAMPLES) / SR
    if system == "lowhum":
        f = rng.uniform(180, 260)
        wave = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2 * f * t)
    elif system == "noise":
        wave = rng.standard_normal(NUM_SAMPLES)
    else:  # "chirp": a fast rising sweep in the upper band
        f0 = rng.uniform(3000, 4000)
        wave = np.sin(2 * np.pi * (f0 * t + 1500 * t ** 2))
    wave = wave / np.abs(wave).max() * rng.uniform(0.3, 0.6)
    return (wave + 0.003 * rng.standard_normal(NUM_SAMPLES)).astype(np.float32)


def write_clips(folder: Path, system: str, n: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{system}_{i:02d}.flac"
        sf.write(path, system_clip(system, rng), SR)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    """An index of two known systems, threshold fitted on their validation clips."""
    root = tmp_path_factory.mktemp("knn_cli")
    model = make_tiny_whisper(root / "whisper")
    meta = {"model": str(model), "local_files_only": True, "num_samples": NUM_SAMPLES,
            "layer": 1}
    encode = IndexEncoder(meta)
    support, labels, val = [], [], []
    for s, system in enumerate(("lowhum", "noise")):
        support.append(encode(write_clips(root / "support" / system, system, 12, seed=s)))
        labels += [system] * 12
        val.append(encode(write_clips(root / "val" / system, system, 6, seed=10 + s)))
    support = np.concatenate(support)
    codes = np.unique(labels, return_inverse=True)[1]
    k = 3
    # twice the largest validation distance: the maximum of 12 distances is a noisy bound
    # for new clips of a known system (measured: known queries <= 1.0x it, the unknown
    # "chirp" ~10x it, centred cosine)
    threshold = 2.0 * knn.fit_threshold(
        knn.knn_predict(support, codes, np.concatenate(val), k).distances, 1.0 - 1e-9)
    cols = {"systems": labels, "classes": labels, "vq": ["mvq"] * 12 + ["sq"] * 12,
            "aux": ["none"] * 24, "dec": ["time"] * 12 + ["freq"] * 12,
            "keys": [f"k{i}" for i in range(24)]}
    index = SupportIndex(support, {f: np.asarray(v, dtype=str) for f, v in cols.items()},
                         meta={**meta, "k": k, "threshold": threshold})
    index.save(root / "index")
    return root


def attribute(index: Path, paths: list[Path]) -> list[dict]:
    out = CliRunner().invoke(app, ["knn", "attribute", "--index", str(index), "--json",
                                   *map(str, paths)])
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.stdout.strip().splitlines()]


def test_known_systems_are_attributed(index_dir):
    for system in ("lowhum", "noise"):
        answers = attribute(index_dir / "index",
                            write_clips(index_dir / "query" / system, system, 4, seed=50))
        assert [a["system"] for a in answers] == [system] * 4
        assert not any(a["unknown"] for a in answers)


def test_enrolling_an_unknown_system_turns_unknown_into_correct_attributions(index_dir):
    queries = write_clips(index_dir / "query" / "chirp", "chirp", 6, seed=60)
    before = attribute(index_dir / "index", queries)
    assert all(a["unknown"] for a in before), [a["distance"] for a in before]

    write_clips(index_dir / "enrol" / "chirp", "chirp", 8, seed=61)
    out = CliRunner().invoke(app, ["knn", "enrol", "chirp", str(index_dir / "enrol" / "chirp"),
                                   "--index", str(index_dir / "index"),
                                   "--out", str(index_dir / "enrolled")])
    assert out.exit_code == 0, out.output
    after = attribute(index_dir / "enrolled", queries)
    assert [a["system"] for a in after] == ["chirp"] * 6
    assert not any(a["unknown"] for a in after)
    # the DVC-made index is untouched; the enrolled copy knows the new system
    assert "chirp" not in load_index(index_dir / "index").system_names
    assert load_index(index_dir / "enrolled").meta["enrolled"] == ["chirp"]


def test_bad_input_names_the_file(index_dir, tmp_path):
    out = CliRunner().invoke(app, ["knn", "attribute", "--index", str(index_dir / "index"),
                                   str(tmp_path / "missing.flac")])
    assert out.exit_code == 2 and "missing.flac" in out.output
    out = CliRunner().invoke(app, ["knn", "attribute", "--index", str(tmp_path / "none"),
                                   str(tmp_path)])
    assert out.exit_code == 2 and "dvc repro knn" in out.output


def test_trace_takes_its_ood_flag_from_the_knn_index(index_dir, tmp_path):
    """``trace --knn-index``: each file gets the index's answer, and its open-set flag (not the
    confidence rule) sets every task's ``ood``; a 48 kHz stereo file is embedded after the
    same resampling and down-mix as the model input. The document still fits the schema."""
    import jsonschema
    import soundfile as sf

    from pipelines.trace import TraceOptions, trace_files, trace_report
    from tests.test_trace import SCHEMA, energy_model

    known = write_clips(tmp_path / "known", "noise", 1, seed=70)[0]
    unknown = write_clips(tmp_path / "unknown", "chirp", 1, seed=71)[0]
    wave = system_clip("noise", np.random.default_rng(72))
    stereo = tmp_path / "noise48k.flac"
    sf.write(stereo, np.stack([np.interp(np.arange(3 * len(wave)) / 3, np.arange(len(wave)), wave)] * 2,
                              axis=1), 48000)
    model = energy_model()
    files = [str(known), str(unknown), str(stereo)]
    records = trace_files(files, {"aux": model},
                          TraceOptions(knn_index=index_dir / "index", ood_confidence=0.0))
    jsonschema.validate(trace_report(records, {"aux": model}), SCHEMA)
    by_file = {Path(r["file"]).name: r for r in records}
    for name in ("noise_00.flac", "noise48k.flac"):
        r = by_file[name]
        assert r["knn"]["system"] == "noise" and not r["knn"]["unknown"], r["knn"]
        assert r["results"]["aux"]["ood"] is False and r["results"]["aux"]["ood_source"] == "knn"
    chirp = by_file["chirp_00.flac"]
    assert chirp["knn"]["unknown"] and chirp["results"]["aux"]["ood"]  # confidence rule is off
    assert "kNN: distance" in chirp["results"]["aux"]["ood_reason"]
    plain = trace_files(files, {"aux": model}, TraceOptions(ood_confidence=0.0))
    assert all(r["knn"] is None and r["results"]["aux"]["ood_source"] == "confidence" for r in plain)
