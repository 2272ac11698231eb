"""Atomic writes and content hashes: the one copy every stage and pipeline uses.

A crash leaves either the old output or the new one, never half of one: everything is written
to a temporary sibling (same folder, so the rename is atomic on one file system) and renamed
onto the target only when the write finished.

Created files and folders get the permissions a plain ``open`` / ``mkdir`` would give
(``0o666`` / ``0o777`` masked by the process umask). ``tempfile.mkstemp`` and ``mkdtemp`` create
``0o600`` / ``0o700`` entries for privacy; renamed onto an output, that would leave data that
other users (a shared DVC cache, a web server for ``mlflow ui``) cannot read.

    from pipelines.common.io import atomic_path, write_json
    with atomic_path("data/out.parquet") as tmp:
        table.to_parquet(tmp)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _default_mode(is_dir: bool) -> int:
    return (0o777 if is_dir else 0o666) & ~current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it onto ``path`` if the block succeeds.

    The block may write the temporary path by name (``sf.write(tmp, ...)``) or open it. On an
    exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file has ``path``'s own name, in a fresh hidden folder beside it:
    # ``torch.save`` names its zip records after the file, so a random temporary name would
    # make every checkpoint's bytes differ from run to run.
    tmp_dir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    tmp_path = tmp_dir / path.name
    tmp_path.touch()
    try:
        yield tmp_path
        os.chmod(tmp_path, _default_mode(is_dir=False))
        os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; swap it in for ``path`` if the block succeeds.

    An existing ``path`` is removed just before the rename (a folder cannot be replaced in one
    step); a crash in between leaves no ``path`` rather than a mix of old and new files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, _default_mode(is_dir=True))
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON (keys in insertion order) atomically."""
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


# Keys that differ between two runs of the same inputs: wall / CPU times, speeds, MLflow run
# ids, and what describes how a run went rather than what it produced (how much of the work
# was computed now or reused from an interrupted run, how many actors did it, the MLflow
# registry's state: its version numbers and what the champion was before). ``write_report``
# keeps them out of DVC-tracked reports (their hashes are in dvc.lock): a resumed run, a run
# on a registry that holds earlier versions and a run from nothing write the same bytes.
TIMING_KEYS = frozenset({
    "wall_s", "wall_seconds", "seconds", "train_seconds", "token_lm_seconds", "cpu_seconds",
    "epoch_s", "clips_per_s", "clips_per_actor_s", "timing", "mlflow_run_id", "run_id",
})
RUN_STATE_KEYS = frozenset({
    "computed_shards", "skipped_shards", "computed_clips", "reused_clips", "computed_classes",
    "actors", "versions", "best_version", "trained_version", "promotion", "registry_version",
})
VOLATILE_KEYS = TIMING_KEYS | RUN_STATE_KEYS


def split_volatile(data: Any) -> tuple[Any, Any]:
    """``(data without VOLATILE_KEYS, the removed values in the same nesting)`` (dicts and lists
    are walked; the second item is None when nothing was removed)."""
    if isinstance(data, dict):
        kept, removed = {}, {}
        for key, value in data.items():
            if key in VOLATILE_KEYS:
                removed[key] = value
                continue
            kept[key], sub = split_volatile(value)
            if sub is not None:
                removed[key] = sub
        return kept, removed or None
    if isinstance(data, list):
        pairs = [split_volatile(v) for v in data]
        subs = [sub for _, sub in pairs]
        return [v for v, _ in pairs], subs if any(sub is not None for sub in subs) else None
    return data, None


def write_report(path: str | Path, report: Any, timings: str | Path) -> None:
    """Write a DVC-tracked JSON report without its run-to-run values (``VOLATILE_KEYS``: times,
    speeds, run ids), which go to ``timings`` (outside every DVC output, e.g.
    ``reports/timings/<stage>.json``): same inputs, same report bytes, same hash."""
    kept, removed = split_volatile(report)
    write_json(path, kept)
    if removed is not None:
        write_json(timings, removed)


def timings_path(reports_dir: str | Path, stage: str) -> Path:
    """Where stage ``stage`` keeps its run-to-run figures (not a DVC output)."""
    return Path(reports_dir) / "timings" / f"{stage}.json"


def save_npz(path: str | Path, **arrays: Any) -> None:
    """``np.savez`` with fixed zip timestamps (numpy stamps each member with the current time,
    so the same arrays saved twice differed in bytes and DVC hash); readable by ``np.load``."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def canonical_json(data: Any) -> bytes:
    """``data`` as JSON with sorted keys (other types as ``str``): the bytes a config's digest
    hashes, equal for equal configs whatever their key order."""
    return json.dumps(data, sort_keys=True, default=str).encode()


def json_sha256(data: Any, length: int = 64) -> str:
    """Hex sha256 of ``canonical_json(data)``, its first ``length`` characters: the content key
    of a config (a finished codec's, a shard's, a training job's)."""
    return hashlib.sha256(canonical_json(data)).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
