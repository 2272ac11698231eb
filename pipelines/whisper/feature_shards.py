"""Whisper feature shards: read an audio shard, encode it, write its mirror; the resume index.

A feature shard mirrors one audio shard file-for-file (``data/shards/<split>/shard-N.tar`` ->
``data/features/<split>/shard-N.tar``) with the same keys in the same order, one member
``<key>.npy`` (float16, ``128 x d_model``) per clip, so the loader can zip the two streams
and check keys. A shard is the unit of work and of resumption: it is written to a hidden
temporary file and renamed, then recorded in ``index.json`` with both files' SHA-256; a shard
is skipped on a rerun only when its record, its bytes and its audio shard all still match.
Tars are written with a fixed mtime, so the same input gives byte-identical shards.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import webdataset as wds

# the loader's own decoding and fixed-length rule (pipelines.dataset.loader), so the features are
# computed on exactly the wave the model sees next to them
from pipelines.common.audio_io import load_audio
from pipelines.common.io import atomic_path, file_sha256
from sastnet.crop import repeat_crop
from sastnet.silence import rm_sil as remove_silence

INDEX_NAME = "index.json"
FEATURE_DTYPE = np.float16  # docs/contracts.md: float16 128 x d_model per clip


def _member_key(name: str) -> tuple[str, str]:
    """(sample key, extension) of a tar member, split as WebDataset does (first dot of the basename)."""
    directory, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{directory}/{stem}" if directory else stem), ext


def read_audio_shard(path: str | Path, num_samples: int,
                     rm_sil: bool = False) -> list[tuple[str, np.ndarray]]:
    """(key, fixed-length wave) for every sample of an audio shard, in tar order.

    A sample is the run of members sharing a key (name up to the first dot of the basename,
    as WebDataset groups them); each must have a ``.flac`` member. ``rm_sil`` gives the
    loader's speech-only view (VAD segments of the ``.json``; a clip without speech stays whole).
    """
    samples: list[tuple[str, dict[str, bytes]]] = []
    with tarfile.open(path) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, ext = _member_key(member.name)
            if not samples or samples[-1][0] != key:
                samples.append((key, {}))
            samples[-1][1][ext] = tar.extractfile(member).read()
    out = []
    for key, members in samples:
        if "flac" not in members:
            raise ValueError(f"{path}: sample {key} has no .flac member (has {sorted(members)})")
        wave = load_audio(members["flac"], name=f"{path}: {key}.flac")
        if rm_sil:
            if "json" not in members:
                raise ValueError(f"{path}: sample {key} has no .json member (VAD segments)")
            speech = remove_silence(wave, json.loads(members["json"]).get("vad", []))
            wave = speech if len(speech) else wave
        out.append((key, repeat_crop(wave, num_samples)))
    return out


def write_feature_shard(path: str | Path, keys: list[str], features: np.ndarray) -> None:
    """Write ``<key>.npy`` members (float16) to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as stream, \
            wds.TarWriter(stream, mtime=0) as writer:
        for key, feat in zip(keys, features, strict=True):
            writer.write({"__key__": key, "npy": feat.astype(FEATURE_DTYPE)})


def read_feature_shard(path: str | Path) -> list[tuple[str, np.ndarray]]:
    """(key, float16 array) for every member of a feature shard, in order."""
    out = []
    with tarfile.open(path) as tar:
        for member in tar:
            key = member.name.rsplit(".npy", 1)[0]
            out.append((key, np.load(io.BytesIO(tar.extractfile(member).read()))))
    return out


def sample_keys(path: str | Path) -> list[str]:
    """Sample keys of a shard in order, from the tar headers only (nothing decoded)."""
    keys: list[str] = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                key = _member_key(member.name)[0]
                if not keys or keys[-1] != key:
                    keys.append(key)
    return keys


def _borrow(borrowed: dict[str, str]) -> dict[str, np.ndarray]:
    """Features of ``key -> finished feature shard`` read back (each shard read once)."""
    by_shard: dict[str, set[str]] = {}
    for key, shard in borrowed.items():
        by_shard.setdefault(shard, set()).add(key)
    found = {}
    for shard, keys in by_shard.items():
        found.update((k, f) for k, f in read_feature_shard(shard) if k in keys)
        missing = keys - set(found)
        if missing:
            raise ValueError(f"{shard}: expected features for {sorted(missing)[:3]} (rerun the stage)")
    return found


def extract_shard(encode: Callable[[list[np.ndarray]], np.ndarray], src: str | Path,
                  dst: str | Path, *, num_samples: int, batch_size: int,
                  borrowed: dict[str, str] | None = None, rm_sil: bool = False,
                  transform: Callable[[str, np.ndarray], np.ndarray] | None = None) -> dict:
    """Encode every clip of audio shard ``src`` and write its feature shard ``dst``.

    Args:
        encode: waves -> float32 ``(N, 128, d)`` (``whisper_features`` with its model bound).
        borrowed: key -> finished feature shard that already holds that clip's features
            (the same clip in another split); copied instead of encoded again.
        rm_sil: encode the speech-only view, as the loader gives it with ``rm_sil=True``.
        transform: ``(key, fixed-length wave) -> wave`` applied before encoding (the seeded
            RawBoost views of ``pipelines.whisper.views``).

    Returns:
        the shard's index record: clips, computed/reused counts, sha256 of both files.
    """
    clips = read_audio_shard(src, num_samples, rm_sil)
    if transform is not None:
        clips = [(key, transform(key, wave)) for key, wave in clips]
    if not clips:
        raise ValueError(f"{src}: no samples in this shard")
    borrowed = borrowed or {}
    keys = [key for key, _ in clips]
    todo = [(key, wave) for key, wave in clips if key not in borrowed]
    feats = dict(_borrow({k: v for k, v in borrowed.items() if k in set(keys)}))
    for i in range(0, len(todo), batch_size):
        batch = todo[i:i + batch_size]
        out = encode([w for _, w in batch]).astype(FEATURE_DTYPE)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{src}: Whisper features overflow float16 (non-finite values)")
        feats.update((k, f) for (k, _), f in zip(batch, out))
    write_feature_shard(dst, keys, np.stack([feats[k] for k in keys]))
    return {"clips": len(keys), "computed": len(todo), "reused": len(keys) - len(todo),
            "d_model": int(feats[keys[0]].shape[-1]),
            "sha256": file_sha256(dst), "source_sha256": file_sha256(src)}


def is_done(record: dict | None, src: Path, dst: Path) -> bool:
    """True when ``dst`` is the finished feature shard of the current ``src``."""
    return (record is not None and dst.is_file()
            and record.get("source_sha256") == file_sha256(src)
            and record.get("sha256") == file_sha256(dst))
