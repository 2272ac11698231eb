"""Where pretrained models come from: directory, cached hub id, or an error naming the fix."""

from __future__ import annotations

import pytest

from sastnet.pretrained import looks_like_path, not_in_cache, resolve_source


def test_directory_with_config_is_loaded_offline(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_source(str(tmp_path), what="m", fix="f", allow_download=True) == (
        str(tmp_path), True)


def test_directory_without_config_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json.*dvc repro x"):
        resolve_source(str(tmp_path), what="m", fix="`dvc repro x`", allow_download=False)


@pytest.mark.parametrize("name", ["./missing", "/no/such/dir", "data/whisper/tiny.en"])
def test_missing_path_is_not_taken_for_a_hub_id(name):
    assert looks_like_path(name)
    with pytest.raises(FileNotFoundError, match="does not exist; run this"):
        resolve_source(name, what="model", fix="run this", allow_download=True)


def test_hub_id_stays_offline_unless_allowed():
    assert not looks_like_path("openai/whisper-small")
    assert resolve_source("openai/whisper-small", what="m", fix="f",
                          allow_download=False) == ("openai/whisper-small", True)
    assert resolve_source("openai/whisper-small", what="m", fix="f",
                          allow_download=True) == ("openai/whisper-small", False)


def test_cache_miss_message_names_cache_and_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", "/tmp/some-cache")
    err = not_in_cache("org/model", "encoder", "set knn.embeddings.model", OSError("boom"))
    assert "org/model" in str(err) and "/tmp/some-cache" in str(err)
    assert "set knn.embeddings.model" in str(err) and "boom" in str(err)


def test_knn_encoder_cache_miss_names_its_param(monkeypatch, tmp_path):
    from pipelines.knn.encoder import PooledEncoder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="knn.embeddings.model"):
        PooledEncoder("nobody/no-such-encoder", num_samples=16000)
    with pytest.raises(FileNotFoundError, match="knn.embeddings.model"):
        PooledEncoder(str(tmp_path / "missing" / "dir"), num_samples=16000)
