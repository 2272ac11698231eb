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
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _default_mode(is_dir=False))
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
