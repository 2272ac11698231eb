import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from shard_dummies import HELD_OUT, fake_vad, make_manifest

import pipelines.dataset.shards as shards_mod
from pipelines.dataset.shards import build_shards, shards_metrics, shards_report
from pipelines.params.shard import ShardParams

CFG = ShardParams(samples_per_shard=4, tasks=("aux", "bin"))


@pytest.fixture()
def corpus(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    return manifest, fake_vad(manifest)


def _tar_bytes(shards_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(shards_dir)): p.read_bytes() for p in sorted(shards_dir.glob("*/*.tar"))}


def test_splits_counts_and_members(tmp_path, corpus):
    manifest, vad = corpus
    index = build_shards(manifest, vad, tmp_path / "shards", CFG, seed=1)
    splits = index["splits"]
    assert index["complete"]
    assert set(splits) == {"train-aux", "train-bin", "dev", "test_seen", "test_unseen", "cosg_known", "cosg_all"}
    assert splits["train-aux"]["samples"] == 12
    assert splits["train-aux"]["labels"]["aux"] == {"0": 6, "1": 2, "2": 2, "3": 2}
    assert splits["dev"]["samples"] == 6  # AUX-balanced pairs of 3 dev utterances
    # CoRS test: utts 249, 250 seen; 251, 300 unseen; bona fide + 7 codecs each (held-out included)
    assert splits["test_seen"]["samples"] == 16 and splits["test_unseen"]["samples"] == 16
    assert splits["cosg_known"]["samples"] == 2 and splits["cosg_all"]["samples"] == 4
    for name in ("train-aux", "train-bin", "dev"):
        assert HELD_OUT not in splits[name]["codecs"]
    # 4 samples per shard, pairs never split
    assert [s["samples"] for s in splits["train-aux"]["shards"]] == [4, 4, 4]
    first = tmp_path / "shards" / splits["test_seen"]["shards"][0]["path"]
    with tarfile.open(first) as tar:
        names = tar.getnames()
        member = json.loads(tar.extractfile(names[1]).read())
    assert names[0].endswith(".flac") and names[1].endswith(".json")
    assert set(member) >= {"key", "speaker", "utt_id", "subset", "codec", "label_vq", "label_aux",
                           "label_dec", "label_bin", "vad", "has_speech", "pair_key", "seen"}
    assert "path" not in member
    # a key with a dot (SemantiCodec_0.35kbps_16k) keeps its name in the json, not in __key__
    with tarfile.open(tmp_path / "shards" / splits["test_seen"]["shards"][-1]["path"]) as tar:
        stems = [n.rsplit(".", 1)[0] for n in tar.getnames()]
    assert all("." not in s for s in stems)
    report, metrics = shards_report(index), shards_metrics(index)
    assert report["rejected"] == [] and metrics["train-aux_samples"] == 12 and metrics["no_speech"] == 0


def test_clips_without_speech_are_kept_and_counted(tmp_path, corpus):
    manifest, vad = corpus
    vad = vad.copy()
    quiet = vad["key"].isin(["VALLE__0", "MASKGCT__1"])
    vad.loc[quiet, "segments"] = pd.Series([[] for _ in range(int(quiet.sum()))], index=vad.index[quiet])
    index = build_shards(manifest, vad, tmp_path / "shards", CFG, seed=1)
    assert index["splits"]["cosg_all"]["samples"] == 4 and index["splits"]["cosg_all"]["no_speech"] == 2
    assert shards_report(index)["splits"]["cosg_known"]["no_speech"] == 1


def test_flac_bytes_are_copied_bit_exact(tmp_path, corpus):
    manifest, vad = corpus
    index = build_shards(manifest, vad, tmp_path / "shards", CFG, seed=1)
    with tarfile.open(tmp_path / "shards" / index["splits"]["cosg_all"]["shards"][0]["path"]) as tar:
        data = json.loads(tar.extractfile(tar.getnames()[1]).read())
        flac = tar.extractfile(tar.getnames()[0]).read()
    assert flac == Path(manifest.set_index("key").loc[data["key"], "path"]).read_bytes()


def test_resume_after_crash_mid_shard_writes_identical_shards(tmp_path, corpus, monkeypatch):
    manifest, vad = corpus
    clean = tmp_path / "clean"
    build_shards(manifest, vad, clean, CFG, seed=1)
    crashed = tmp_path / "crashed"
    real_load = shards_mod.load_clip
    calls = {"n": 0}

    def crashing_load(path, sr):
        calls["n"] += 1
        if calls["n"] == 10:  # inside the 3rd shard of train-aux
            raise KeyboardInterrupt("simulated crash")
        return real_load(path, sr)

    monkeypatch.setattr(shards_mod, "load_clip", crashing_load)
    with pytest.raises(KeyboardInterrupt):
        build_shards(manifest, vad, crashed, CFG, seed=1)
    monkeypatch.setattr(shards_mod, "load_clip", real_load)
    partial = json.loads((crashed / "index.json").read_text())
    assert not partial["complete"] and len(partial["splits"]["train-aux"]["shards"]) == 2
    assert not list(crashed.glob("*/.*.tmp"))  # the half-written shard was never renamed into place
    reused = []
    build_shards(manifest, vad, crashed, CFG, seed=1, on_shard=lambda r, was_reused: reused.append(was_reused))
    assert reused[:3] == [True, True, False] and not any(reused[3:])
    assert _tar_bytes(crashed) == _tar_bytes(clean)


def test_rerun_rewrites_a_shard_whose_checksum_does_not_match(tmp_path, corpus):
    manifest, vad = corpus
    out = tmp_path / "shards"
    build_shards(manifest, vad, out, CFG, seed=1)
    before = _tar_bytes(out)
    victim = out / "dev" / "shard-000000.tar"
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    reused = []
    build_shards(manifest, vad, out, CFG, seed=1, on_shard=lambda r, was_reused: reused.append((r.path, was_reused)))
    assert dict(reused)["dev/shard-000000.tar"] is False
    assert sum(not r for _, r in reused) == 1
    assert _tar_bytes(out) == before


def test_a_same_size_source_with_new_content_is_resharded_even_with_its_old_mtime(tmp_path, corpus):
    """Issue 20: reuse was keyed on the source's size; a re-exported release (same-size WAVs,
    new audio, mtimes kept by ``cp -p``/``rsync -t``) trained on the old audio."""
    import os
    manifest, vad = corpus
    out = tmp_path / "shards"
    build_shards(manifest, vad, out, CFG, seed=1)
    src = Path(manifest.set_index("key").loc["p003_249", "path"]).with_suffix(".wav")
    old = Path(manifest.set_index("key").loc["p003_249", "path"])
    wave, sr = sf.read(old, dtype="float32")
    sf.write(src, wave, sr, format="WAV", subtype="PCM_16")
    manifest = manifest.copy()
    manifest.loc[manifest["key"] == "p003_249", "path"] = str(src)
    build_shards(manifest, vad, out, CFG, seed=1)
    before = _tar_bytes(out)
    stat = src.stat()
    flipped = np.clip(-wave + 0.01, -1, 1)  # new audio, same length: a byte-identical-size WAV
    sf.write(src, flipped, sr, format="WAV", subtype="PCM_16")
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert src.stat().st_size == stat.st_size and src.stat().st_mtime_ns == stat.st_mtime_ns
    rewritten = []
    build_shards(manifest, vad, out, CFG, seed=1,
                 on_shard=lambda r, was_reused: None if was_reused else rewritten.append(r.path))
    holders = {rel for rel, data in before.items() if b"p003_249." in data}
    assert holders and set(rewritten) == holders  # exactly the shards holding that clip
    after = _tar_bytes(out)
    assert all(after[rel] != before[rel] for rel in holders)
    key = "p003_249"
    with tarfile.open(out / min(holders)) as tar:
        flac = tar.extractfile(f"{key}.flac").read()
    import io
    got, _ = sf.read(io.BytesIO(flac), dtype="float32")
    assert np.allclose(got, sf.read(src, dtype="float32")[0], atol=1e-4)


def test_bad_inputs_are_rejected_with_reasons_and_partners_dropped(tmp_path, corpus):
    manifest, vad = corpus
    keys = manifest.set_index("key")
    # a wrong-rate clip, a corrupt file and a missing file
    sf.write(keys.loc["p003_249", "path"], np.zeros(800, np.float32), 8000, format="FLAC")
    Path(keys.loc["p003_250_DAC24", "path"]).write_bytes(b"not audio at all")
    Path(keys.loc["VALLE__0", "path"]).unlink()
    # a bona fide train clip of every pair list: all of its spoofs become partner_rejected
    Path(keys.loc["p001_001", "path"]).write_bytes(b"\x00" * 10)
    index = build_shards(manifest, vad, tmp_path / "shards", CFG, seed=1)
    report = shards_report(index)
    reasons = {(r["key"], r["reason"]) for r in report["rejected"]}
    assert ("p003_249", "sample rate 8000 Hz, expected 16000 Hz") in reasons
    assert any(k == "p003_250_DAC24" and r.startswith("unreadable audio") for k, r in reasons)
    assert ("VALLE__0", "file not found") in reasons
    assert any(k == "p001_001" and r.startswith("unreadable audio") for k, r in reasons)
    partner = [r for r in report["rejected"] if r["reason"] == "partner_rejected" and r["split"] == "train-aux"]
    assert len(partner) == 1 and partner[0]["detail"].endswith("p001_001 was rejected")
    assert index["splits"]["train-aux"]["samples"] == 10  # one pair dropped, still paired 1:1
    assert index["splits"]["cosg_all"]["samples"] == 3
