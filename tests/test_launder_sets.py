"""The laundered evaluation sets (``pipelines/launder/sets.py``) and the robustness table
(``pipelines/evaluate/robustness.py``), on tiny synthetic shards and hand-made predictions."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import webdataset as wds

from pipelines.common.io import write_json
from pipelines.evaluate.robustness import (
    CLEAN,
    robustness_metrics,
    robustness_table,
    score_laundered,
    write_robustness,
)
from pipelines.launder.sets import build_laundered_shards, read_clean_samples, select_subset
from pipelines.params import ParamsError
from pipelines.params.launder import LaunderParams
from sastnet.taxonomy import TASKS

# codec -> (vq, aux, dec, bin) labels; three systems and bona fide
CODECS = {"bonafide": (0, 0, 0, 0), "c_a": (1, 1, 1, 1), "c_b": (2, 2, 2, 1), "c_c": (3, 3, 1, 1)}


def _clip(rng: np.random.Generator, n: int) -> bytes:
    t = np.arange(n) / 16_000
    wave = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.02 * rng.standard_normal(n)
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), 16_000, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def make_clean_shards(root: Path, per_codec: int = 3) -> Path:
    """``root/shards``: splits test_unseen and cosg_all, ``per_codec`` clips per system."""
    rng = np.random.default_rng(0)
    shards, splits = root / "shards", {}
    for split in ("test_unseen", "cosg_all"):
        rel = f"{split}/shard-000000.tar"
        (shards / split).mkdir(parents=True)
        n = 0
        with wds.TarWriter(str(shards / rel), encoder=False, mtime=0.0) as sink:
            for codec, labels in CODECS.items():
                for i in range(per_codec):
                    key = f"{split}_{codec}_{i}"
                    meta = {"key": key, "codec": codec, "vad": [[800, 8000]], "has_speech": True,
                            **{f"label_{t}": v for t, v in zip(TASKS, labels)}}
                    sink.write({"__key__": key, "flac": _clip(rng, int(rng.integers(12_000, 20_000))),
                                "json": json.dumps(meta, sort_keys=True).encode()})
                    n += 1
        splits[split] = {"shards": [{"path": rel, "samples": n}]}
    write_json(shards / "index.json", {"complete": True, "splits": splits})
    return shards


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _members(path: Path) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for m in tar:
            stem, _, ext = m.name.partition(".")
            out.setdefault(stem, {})[ext] = tar.extractfile(m).read()
    return out


CFG = LaunderParams(enabled=True, conditions=("mp3_64k", "noise_10db", "telephone"),
                    sets=("test_unseen", "cosg_all"), max_clips_per_set=8)


def test_two_runs_give_the_same_laundered_bytes(tmp_path):
    clean = make_clean_shards(tmp_path)
    one = build_laundered_shards(clean, tmp_path / "one", CFG, samples_per_shard=5, workers=1)
    two = build_laundered_shards(clean, tmp_path / "two", CFG, samples_per_shard=5, workers=2)
    assert one == two  # index: plans, sha256 of every shard, keys, counts
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.tar"))
    assert len(files) == 2 * 3 * 2  # 2 sets x 3 conditions x 2 shards of <= 5 clips
    for rel in files:
        assert _sha(tmp_path / "one" / rel) == _sha(tmp_path / "two" / rel), rel
    # a rerun keeps every shard (plan and bytes match) and writes the same index
    before = {rel: (tmp_path / "one" / rel).stat().st_mtime_ns for rel in files}
    assert build_laundered_shards(clean, tmp_path / "one", CFG, samples_per_shard=5) == one
    assert {rel: (tmp_path / "one" / rel).stat().st_mtime_ns for rel in files} == before


def test_laundered_sets_keep_labels_classes_and_length(tmp_path):
    clean_dir = make_clean_shards(tmp_path)
    index = build_laundered_shards(clean_dir, tmp_path / "out", CFG, samples_per_shard=64)
    for split, entry in index["splits"].items():
        eval_set, condition = split.split("@")
        assert (entry["set"], entry["condition"]) == (eval_set, condition)
        clean = {s["meta"]["key"]: s for s in read_clean_samples(
            [str(clean_dir / f"{eval_set}/shard-000000.tar")])}
        members = _members(tmp_path / "out" / entry["shards"][0]["path"])
        assert len(members) == entry["samples"] == 8
        assert set(entry["codecs"]) == set(CODECS)  # every system, so every class of every task
        for tar_key, m in members.items():
            meta = json.loads(m["json"])
            src = clean[meta["key"]]
            assert tar_key == f"{meta['key']}@{condition}"
            assert meta.pop("launder") == {"condition": condition,
                                           "seed": CFG.clip_seed(condition, meta["key"])}
            assert meta == src["meta"]  # labels, codec, VAD unchanged
            wave, rate = sf.read(io.BytesIO(m["flac"]), dtype="float32")
            clean_wave, _ = sf.read(io.BytesIO(src["flac"]), dtype="float32")
            assert rate == 16_000 and len(wave) == len(clean_wave)
            assert not np.array_equal(wave, clean_wave)
        for t in TASKS:
            assert set(entry["labels"][t]) == {str(v[TASKS.index(t)]) for v in CODECS.values()}


def test_subset_depends_on_identity_not_order(tmp_path):
    samples = read_clean_samples([str(make_clean_shards(tmp_path) / "cosg_all/shard-000000.tar")])
    chosen = [s["key"] for s in select_subset(samples, 6, 1234, "cosg_all")]
    assert [s["key"] for s in select_subset(samples[::-1], 6, 1234, "cosg_all")] == chosen[::-1]
    codecs = [s["meta"]["codec"] for s in samples if s["key"] in chosen]
    assert sorted(set(codecs)) == sorted(CODECS) and max(map(codecs.count, CODECS)) == 2
    assert select_subset(samples, 6, 99, "cosg_all") != select_subset(samples, 6, 1234, "cosg_all")
    with pytest.raises(ValueError, match="max_clips_per_set: 3 clips cannot keep the 4 systems"):
        select_subset(samples, 3, 1234, "cosg_all")


def test_disabled_leaves_an_empty_index(tmp_path):
    clean = make_clean_shards(tmp_path)
    build_laundered_shards(clean, tmp_path / "out", CFG)
    index = build_laundered_shards(clean, tmp_path / "out", LaunderParams())
    assert index["splits"] == {} and not list((tmp_path / "out").rglob("*.tar"))


@pytest.mark.parametrize("fields, message", [
    ({"enabled": True}, "launder.enabled is true but no condition"),
    ({"sets": ("cors",)}, "sets[0]: unknown evaluation set 'cors'"),
    ({"sets": ("cosg_all", "cosg_all")}, "sets: cosg_all listed more than once"),
    ({"max_clips_per_set": 0}, "max_clips_per_set: must be null"),
    ({"workers": 0}, "workers: must be >= 1"),
    ({"custom": {"clean": {"kind": "gain", "gain_db": 3}}}, "custom.clean: rm_sil, clean name"),
])
def test_params_name_the_bad_key(fields, message):
    with pytest.raises(ParamsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LaunderParams(**fields)


# --- the robustness table, on hand-made predictions ------------------------------------------

LABELS = [0, 0, 1, 1, 2, 2, 3, 3]  # AUX labels of 8 clips


def _write_preds(path: Path, keys, preds) -> None:
    rows = []
    for key, label, pred in zip(keys, LABELS[:len(keys)], preds):
        probs = np.full(4, 0.1)
        probs[pred] = 0.7
        rows.append({"key": key, "codec": "x", **{f"label_{t}": label for t in TASKS},
                     **{f"prob_{c}": p for c, p in enumerate(probs)}, "pred": pred})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)


def _fake_predictions(root: Path) -> None:
    keys = [f"k{i}" for i in range(8)]
    right = LABELS
    for model in ("w2v2_aasist", "sastnet"):
        for seed in (0, 1):
            exp = root / "aux" / model / f"seed{seed}" / "seen250"
            # clean: all 8 clips right; the laundered subset is the first 4 clips (classes 0, 1)
            _write_preds(exp / "cosg_all.parquet", keys, right)
            if model == "w2v2_aasist":  # seed 0: one of 4 wrong, seed 1: two of 4 wrong
                noisy = [0, 1, 1, 1] if seed == 0 else [1, 1, 0, 0]
            else:  # SASTNet: seed 0 all right, seed 1 one wrong
                noisy = [0, 0, 1, 1] if seed == 0 else [0, 0, 1, 0]
            _write_preds(exp / "launder" / "noise_10db" / "cosg_all.parquet", keys[:4], noisy)


def _macro_f1(y, p) -> float:  # by hand, over the classes present in y or p
    f1s = []
    for c in sorted(set(y) | set(p)):
        tp = sum(a == c and b == c for a, b in zip(y, p))
        fp = sum(a != c and b == c for a, b in zip(y, p))
        fn = sum(a == c and b != c for a, b in zip(y, p))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return 100 * sum(f1s) / len(f1s)


def test_robustness_table_matches_hand_computed_values(tmp_path):
    _fake_predictions(tmp_path / "predictions")
    results = score_laundered(tmp_path / "predictions")
    got = {(r.model, r.seed, r.condition): r.macro_f1 for r in results}
    y = [0, 0, 1, 1]
    # seed 0, baseline: [0,1,1,1] -> class 0: tp1 fn1 -> 2/3; class 1: tp2 fp1 -> 4/5
    assert _macro_f1(y, [0, 1, 1, 1]) == pytest.approx(100 * (2 / 3 + 4 / 5) / 2)
    expected = {("w2v2_aasist", 0): _macro_f1(y, [0, 1, 1, 1]),
                ("w2v2_aasist", 1): _macro_f1(y, [1, 1, 0, 0]),
                ("sastnet", 0): 100.0, ("sastnet", 1): _macro_f1(y, [0, 0, 1, 0])}
    for (model, seed), value in expected.items():
        assert got[(model, seed, "noise_10db")] == pytest.approx(value, abs=1e-9)
        assert got[(model, seed, CLEAN)] == pytest.approx(100.0)  # clean cut to the 4 clips
    base_drops = [expected[("w2v2_aasist", s)] - 100 for s in (0, 1)]
    sast_drops = [expected[("sastnet", s)] - 100 for s in (0, 1)]
    diffs = [a - b for a, b in zip(sast_drops, base_drops)]
    table = robustness_table(results, "aux", "seen250")
    assert "**CoSG (All)** (4 clips)" in table
    row = next(r for r in table.splitlines() if r.startswith("| noise_10db | SASTNet |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    mean = np.mean([expected[("sastnet", s)] for s in (0, 1)])
    std = np.std([expected[("sastnet", s)] for s in (0, 1)], ddof=1)
    assert cells[2:4] == ["2", f"{mean:.2f} ± {std:.2f}"]
    assert cells[4] == f"{np.mean(sast_drops):.2f} ± {np.std(sast_drops, ddof=1):.2f}"
    assert cells[6] == f"{np.mean(diffs):.2f} ± {np.std(diffs, ddof=1):.2f}"
    verdict = "outside the spread" if abs(np.mean(diffs)) > np.std(diffs, ddof=1) else "inside"
    assert cells[7].startswith(verdict)
    base_row = next(r for r in table.splitlines() if r.startswith("| noise_10db | S-AUX |"))
    assert f"{np.mean(base_drops):.2f} ± {np.std(base_drops, ddof=1):.2f}" in base_row
    flat, per_seed = robustness_metrics(results)
    assert flat["seen250_aux"]["sastnet/cosg_all/noise_10db/macro_f1"] == round(mean, 4)
    assert per_seed["seen250_aux"]["w2v2_aasist/seed1/cosg_all/noise_10db/macro_f1"] == \
        round(expected[("w2v2_aasist", 1)], 4)
    tables, _ = write_robustness(tmp_path / "predictions", tmp_path / "reports", ["aux", "vq"])
    assert set(tables) == {"aux"}
    assert (tmp_path / "reports" / "tables" / "robustness_aux.md").read_text().count("noise_10db") == 2
    assert (tmp_path / "reports" / "plots" / "robustness_aux.png").stat().st_size > 1000
