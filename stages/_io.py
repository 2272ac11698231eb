"""Atomic writes for stage outputs: a crash leaves the old file or the new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def parse_task_variant(doc: str, argv: list[str] | None = None) -> tuple[str, str, int]:
    """``--task``, ``--variant`` and ``--seed`` of the per-model stages (train, predict)."""
    import argparse

    from pipelines.params.train import TASKS, VARIANTS

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--variant", required=True, choices=VARIANTS + ("toy",))
    parser.add_argument("--seed", required=True, type=int, help="one of train.seeds")
    args = parser.parse_args(argv)
    return args.task, args.variant, args.seed
