"""Every output file follows the umask (issue 39): the kNN clip shards and the converted Whisper
weights were written 0600 (a ``mkstemp`` file, safetensors' private temporary file), which the
other users of a shared DVC cache or ``mlflow ui`` could not read."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import numpy as np
import pytest


@contextmanager
def _umask(mask: int):
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_knn_clip_shard_follows_the_umask(tmp_path, mask):
    import soundfile as sf

    from pipelines.knn.clips import SHARD_NAME, ClipUnit, make_unit_shard

    wav = tmp_path / "s0.wav"
    sf.write(wav, np.random.default_rng(0).uniform(-0.1, 0.1, 8000).astype(np.float32), 16000)
    unit = ClipUnit("Enc", "release", False, {"vq": "mvq", "aux": "none", "dec": "time"},
                    (("s0", str(wav), "s0_Enc"),))
    sources = {"s0": {"speaker": "a", "text": "x"}}
    shard = tmp_path / "shards" / "Enc@release" / SHARD_NAME
    with _umask(mask):
        make_unit_shard(unit, sources, max_seconds=1.0, path=str(shard))
    assert _mode(shard) == 0o666 & ~mask
    assert not [p for p in shard.parent.iterdir() if p.name != SHARD_NAME]  # no temp left


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_safetensors_weights_follow_the_umask(tmp_path, mask):
    """safetensors itself writes 0600 (the bug); ``follow_umask`` is what ``convert_whisper``
    applies to its folder after ``save_pretrained``."""
    import torch
    from safetensors.torch import save_file

    from pipelines.whisper.convert import follow_umask

    with _umask(mask):
        save_file({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
        (tmp_path / "config.json").write_text("{}")
        follow_umask(tmp_path)
    assert _mode(tmp_path / "model.safetensors") == 0o666 & ~mask
    assert _mode(tmp_path / "config.json") == 0o666 & ~mask


@pytest.mark.slow
def test_converted_whisper_follows_the_umask(tmp_path):
    """The real conversion (the bundled tiny.en) leaves no file 0600."""
    from pipelines.whisper.convert import bundled_model_dir, convert_whisper

    with _umask(0o022):
        convert_whisper(bundled_model_dir(), tmp_path)
    modes = {p.name: _mode(p) for p in tmp_path.rglob("*") if p.is_file()}
    assert modes["model.safetensors"] == 0o644
    assert set(modes.values()) == {0o644}, modes

