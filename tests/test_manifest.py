import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.common.manifest import (
    CLIP_SCHEMA,
    COLUMNS,
    ManifestError,
    read_manifest,
    validate_manifest,
    write_manifest,
)


def _manifest():
    return pd.DataFrame({
        "key": ["p227_001", "p227_001_bigcodec", "VIOLA__x_1"],
        "path": ["a.flac", "b.flac", "c.wav"],
        "speaker": ["p227", "p227", "VIOLA"],
        "utt_id": pd.array([1, 1, None], dtype="Int64"),
        "text": [None, None, None],
        "codec": ["bonafide", "bigcodec", "VIOLA"],
        "subset": ["CoRS", "CoRS", "CoSG"],
        "split": ["test", "test", "test"],
        "seen": pd.array([True, True, None], dtype="boolean"),
        "pair_key": ["p227_001", "p227_001", "VIOLA__x_1"],
        "codec_seen": [True, True, True],
        "label_vq": [0, 2, 1], "label_aux": [0, 1, 1], "label_dec": [0, 1, 1],
        "label_bin": [0, 1, 1],
        "duration_s": [1.5, 1.5, 2.0],
    })


def test_roundtrip_keeps_schema_and_values(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(_manifest(), path)
    assert pq.read_schema(path).names == list(COLUMNS)
    assert pq.read_schema(path).field("label_vq").type == CLIP_SCHEMA.field("label_vq").type
    back = read_manifest(path)
    assert back["key"].tolist() == ["p227_001", "p227_001_bigcodec", "VIOLA__x_1"]
    assert back["utt_id"].isna().tolist() == [False, False, True]
    assert back["seen"].isna().tolist() == [False, False, True]
    assert back["label_vq"].tolist() == [0, 2, 1]
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("change, message", [
    (lambda df: df.drop(columns="codec"), "lacks column.*codec"),
    (lambda df: df.assign(extra=1), "unknown column.*extra"),
    (lambda df: df.assign(key=["a", "a", "b"]), "'key' is not unique"),
    (lambda df: df.assign(split=["train", "eval", "test"]), "'split' must be one of"),
    (lambda df: df.assign(label_dec=[0, 3, 1]), "'label_dec' must be in 0..2"),
    (lambda df: df.assign(label_bin=[0, 0, 1]), "mix bona fide"),
    (lambda df: df.assign(duration_s=[1.0, 0.0, 1.0]), "'duration_s' must be a positive"),
    (lambda df: df.assign(path=["a", None, "c"]), "'path' has nulls"),
    (lambda df: df.assign(seen=pd.array([True, True, False], dtype="boolean")),
     "'seen' must be null where 'utt_id' is null"),
])
def test_validation_names_column(change, message):
    with pytest.raises(ManifestError, match=message):
        validate_manifest(change(_manifest()))


def test_invalid_manifest_is_not_written(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(_manifest(), path)
    with pytest.raises(ManifestError):
        write_manifest(_manifest().assign(label_vq=[0, 9, 1]), path)
    assert len(read_manifest(path)) == 3  # the old manifest survives


def test_read_missing_manifest_names_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro corpus"):
        read_manifest(tmp_path / "nope.parquet")
