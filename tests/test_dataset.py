import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import webdataset as wds
from shard_dummies import fake_vad, make_manifest

from pipelines.dataset.loader import collate, make_dataset, shard_paths_for
from pipelines.dataset.shards import build_shards
from pipelines.params.shard import ShardParams

N = 4000


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    manifest = make_manifest(root / "clips")
    build_shards(manifest, fake_vad(manifest), root / "shards",
                 ShardParams(samples_per_shard=3, tasks=("aux",)), seed=1)
    return root / "shards", manifest


def _keys(ds):
    return [s["key"] for s in ds]


def test_exactly_once_across_2_ranks_x_2_workers(shards):
    shards_dir, _ = shards
    paths = shard_paths_for(shards_dir, "test_seen")  # 16 samples in 6 shards: uneven on purpose
    everything = _keys(make_dataset(paths, num_samples=N, split_by_node=False, split_by_worker=False))
    seen = []
    per_rank = []
    for rank in range(2):
        ds = make_dataset(paths, num_samples=N, shuffle_buffer=5, seed=3, rank=rank, world_size=2)
        loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)
        keys = [k for batch in loader for k in batch["key"]]
        per_rank.append(keys)
        seen += keys
    assert sorted(seen) == sorted(everything) and len(everything) == 16
    assert len(set(per_rank[0]) & set(per_rank[1])) == 0


def test_rank_from_environment(shards, monkeypatch):
    shards_dir, _ = shards
    paths = shard_paths_for(shards_dir, "test_seen")
    monkeypatch.setenv("WORLD_SIZE", "2")
    seen = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        seen += _keys(make_dataset(paths, num_samples=N))
    assert len(seen) == len(set(seen)) == 16


def test_sample_format_and_fixed_length(shards):
    shards_dir, manifest = shards
    sample = next(iter(make_dataset(shard_paths_for(shards_dir, "train-aux"), num_samples=20000)))
    assert sample["wave"].dtype == np.float32 and sample["wave"].shape == (20000,)
    assert set(sample["labels"]) == {"vq", "aux", "dec", "bin"}
    row = manifest.set_index("key").loc[sample["key"]]
    original, _ = sf.read(row["path"], dtype="float32")
    assert len(original) < 20000  # short clip: repeat-tiled from its first sample
    np.testing.assert_array_equal(sample["wave"][:len(original)], original)
    np.testing.assert_array_equal(sample["wave"][len(original):2 * len(original)],
                                  original[:20000 - len(original)][:len(original)])
    assert sample["labels"]["aux"] == row["label_aux"]


def test_rm_sil_view_uses_vad_segments(shards):
    shards_dir, _ = shards
    paths = shard_paths_for(shards_dir, "cosg_all")
    plain = next(iter(make_dataset(paths, num_samples=6000)))
    view = next(iter(make_dataset(paths, num_samples=6000, rm_sil=True)))
    half = view["meta"]["vad"][0][1]  # fake VAD: first half of the clip is speech
    np.testing.assert_array_equal(view["wave"][:half], plain["wave"][:half])
    np.testing.assert_array_equal(view["wave"][half:2 * half], plain["wave"][:half])


def _write_features(shards_dir: Path, feature_dir: Path, split: str, d: int = 8,
                    drop_last: bool = False) -> dict[str, float]:
    """Feature shards mirroring ``split``; each clip's features are filled with a value of its
    own (1, 2, 3, ... over the whole split), returned by WebDataset key."""
    values: dict[str, float] = {}
    for path in shard_paths_for(shards_dir, split):
        keys = [s["__key__"] for s in wds.WebDataset(path, shardshuffle=False)]
        if drop_last:
            keys = keys[:-1]
        out = feature_dir / split / Path(path).name
        out.parent.mkdir(parents=True, exist_ok=True)
        with wds.TarWriter(str(out)) as sink:
            for key in keys:
                values[key] = float(len(values) + 1)
                buf = io.BytesIO()
                np.save(buf, np.full((128, d), values[key], dtype=np.float16))
                sink.write({"__key__": key, "npy": buf.getvalue()})
    return values


def test_feature_shards_are_joined_key_by_key(shards, tmp_path):
    shards_dir, manifest = shards
    values = _write_features(shards_dir, tmp_path / "features", "dev")
    samples = list(make_dataset(shard_paths_for(shards_dir, "dev"), num_samples=N,
                                feature_dir=str(tmp_path / "features")))
    assert len(samples) == len(values) == 6
    rows = manifest.set_index("key")
    for sample in samples:
        # the features written for this clip's key, not a neighbour's
        np.testing.assert_array_equal(sample["whisper"], values[sample["key"].replace(".", "_")])
        # the audio and labels of the same clip as the manifest row
        row = rows.loc[sample["key"]]
        assert sample["labels"]["aux"] == int(row["label_aux"])
        source, _ = sf.read(row["path"], dtype="float32")
        np.testing.assert_allclose(sample["wave"][: min(len(source), N)],
                                   source[: min(len(source), N)], atol=1 / 2**15)
    batch = collate(samples)
    assert batch["whisper"].shape == (6, 128, 8) and batch["whisper"].dtype == torch.float32
    assert batch["wave"].shape == (6, N) and batch["labels"]["aux"].dtype == torch.long


def test_feature_shard_out_of_step_is_a_clear_error(shards, tmp_path):
    shards_dir, _ = shards
    _write_features(shards_dir, tmp_path / "features", "dev", drop_last=True)
    ds = make_dataset(shard_paths_for(shards_dir, "dev"), num_samples=N, feature_dir=str(tmp_path / "features"))
    with pytest.raises(ValueError, match="out of step"):
        list(ds)


def _copy_split(shards_dir: Path, split: str, dest: Path) -> list[Path]:
    dest.mkdir(parents=True)
    out = []
    for path in shard_paths_for(shards_dir, split):
        target = dest / Path(path).name
        target.write_bytes(Path(path).read_bytes())
        out.append(target)
    return out


def test_truncated_tar_raises_or_keeps_the_samples_before_the_damage(shards, tmp_path, caplog):
    shards_dir, _ = shards
    paths = _copy_split(shards_dir, "test_seen", tmp_path / "test_seen")
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(Exception, match="shard-000000.tar"):
        list(make_dataset(paths, num_samples=N))
    loader = torch.utils.data.DataLoader(make_dataset(paths, num_samples=N), batch_size=2, num_workers=2,
                                         collate_fn=collate, timeout=60)
    with pytest.raises(Exception, match="shard-000000.tar"):  # re-raised from the worker, no hang
        list(loader)
    with caplog.at_level(logging.WARNING):
        keys = _keys(make_dataset(paths, num_samples=N, on_error="skip"))
    assert 13 <= len(keys) < 16 and "skipped" in caplog.text


def _rewrite_member(path: Path, key_suffix: str, member: str, data: bytes) -> None:
    samples = list(wds.WebDataset(str(path), shardshuffle=False))
    with wds.TarWriter(str(path), encoder=False) as sink:
        for s in samples:
            s = {k: v for k, v in s.items() if k in ("__key__", "flac", "json")}
            if s["__key__"].endswith(key_suffix):
                s[member] = data
            sink.write(s)


def test_corrupt_member_and_wrong_rate_clip(shards, tmp_path, caplog):
    shards_dir, _ = shards
    paths = _copy_split(shards_dir, "cosg_all", tmp_path / "cosg_all")
    buf = io.BytesIO()
    sf.write(buf, np.zeros(4000, np.float32), 8000, format="FLAC")
    _rewrite_member(paths[0], "VALLE__0", "flac", buf.getvalue())
    _rewrite_member(paths[0], "MASKGCT__1", "flac", b"garbage")
    with pytest.raises(ValueError, match=r"shard-000000.tar:MASKGCT__1: unreadable audio \(Format not recognised"):
        list(make_dataset(paths, num_samples=N))
    with caplog.at_level(logging.WARNING):
        keys = _keys(make_dataset(paths, num_samples=N, on_error="skip"))
    assert sorted(keys) == ["MASKGCT__0", "VALLE__1"]
    assert "VALLE__0: sample rate 8000 Hz, expected 16000 Hz" in caplog.text
    assert "MASKGCT__1: unreadable audio" in caplog.text


def test_shard_paths_for_unknown_split_names_the_splits(shards):
    shards_dir, _ = shards
    with pytest.raises(KeyError, match="split 'train' not in .*train-aux"):
        shard_paths_for(shards_dir, "train")


def test_member_json_labels_match_loader(shards):
    shards_dir, _ = shards
    for sample in make_dataset(shard_paths_for(shards_dir, "cosg_known"), num_samples=N):
        assert sample["labels"]["bin"] == 1 and json.dumps(sample["meta"])


@pytest.mark.slow
def test_shards_read_with_ray_data(shards):
    import ray

    from pipelines.dataset.loader import ray_dataset

    shards_dir, _ = shards
    paths = shard_paths_for(shards_dir, "test_seen")
    expected = {s["key"]: s["labels"]["vq"] for s in make_dataset(paths, num_samples=N)}
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        rows = ray_dataset(paths, num_samples=N).take_all()
    finally:
        ray.shutdown()
    assert {r["key"]: r["label_vq"] for r in rows} == expected
    assert all(len(r["wave"]) == N for r in rows)


def test_rm_sil_without_speech_keeps_the_clip_and_flags_it():
    from pipelines.dataset.loader import decode_sample

    buf = io.BytesIO()
    wave = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    sf.write(buf, wave, 16000, format="FLAC", subtype="PCM_16")
    meta = {"key": "k.1", "vad": [], "has_speech": False, **{f"label_{t}": 0 for t in ("vq", "aux", "dec", "bin")}}
    out = decode_sample({"__key__": "k_1", "flac": buf.getvalue(), "json": json.dumps(meta).encode()},
                        num_samples=1500, rm_sil=True)
    assert out["meta"]["rm_sil_fallback"] is True and out["key"] == "k.1"
    np.testing.assert_allclose(out["wave"][1000:], out["wave"][:500])  # tiled, not zero-padded
