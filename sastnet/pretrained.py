"""Where a pretrained transformers model comes from: a local directory or a cached hub id.

    source, local_only = resolve_source("data/whisper/tiny.en", what="Whisper model",
                                        fix="`dvc repro whisper_convert`", allow_download=False)
    try:
        model = WhisperModel.from_pretrained(source, local_files_only=local_only)
    except OSError as err:
        raise not_in_cache("data/whisper/tiny.en", "Whisper model", "...", err) from None

Nothing is downloaded unless the caller allows it: runs are offline by default.
"""

from __future__ import annotations

import os
from pathlib import Path


def hf_cache_dir() -> str:
    """The Hugging Face cache transformers reads (for error messages)."""
    return os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"


def looks_like_path(name: str) -> bool:
    """``./x``, ``/x``, ``~/x`` or ``a/b/c`` are paths; ``org/name`` may be a hub id."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def resolve_source(name: str, *, what: str, fix: str,
                   allow_download: bool) -> tuple[str, bool]:
    """(what to pass to ``from_pretrained``, ``local_files_only``), or a FileNotFoundError.

    Args:
        name: a transformers directory (has config.json) or a hub id.
        what: what the model is, for the message ("Whisper model").
        fix: how to get a directory ("`dvc repro whisper_convert`").
        allow_download: let transformers fetch a hub id missing from the local cache.
    """
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a transformers {what} "
                                    f"directory (make one with {fix} or `save_pretrained`)")
        return str(path), True
    if looks_like_path(name):
        raise FileNotFoundError(f"{what} directory {path} does not exist; {fix}")
    return name, not allow_download


def not_in_cache(name: str, what: str, fix: str, err: BaseException) -> FileNotFoundError:
    """The error for a hub id ``from_pretrained`` could not find offline."""
    return FileNotFoundError(
        f"{what} {name!r} is neither a local directory nor in the Hugging Face cache "
        f"({hf_cache_dir()}); {fix} ({err})")
