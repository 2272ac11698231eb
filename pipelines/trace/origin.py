"""Where a traced model's relative paths point: the checkout it came from, never the current folder.

A model registered by the pipeline stores its Whisper directory as params.yaml wrote it
(``data/whisper/tiny.en``, relative to the repository root). ``sastnet trace`` may run from any
folder, so such a path is looked up below the model's own origins, in order:

  * the checkout holding the model's files (a checkpoint folder, or a served model's artifacts
    inside ``<checkout>/mlruns``),
  * the checkout of the tracking store it was loaded from (``sqlite:///<checkout>/mlflow.db``),
  * the checkout this code runs from.

A checkout is a folder with a ``dvc.yaml``. Export folders (``sastnet export``) bundle Whisper
and need none of this.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from sastnet.pretrained import looks_like_path

CHECKOUT_MARKER = "dvc.yaml"


def checkout_of(path: str | Path) -> Path | None:
    """The checkout (a folder with ``dvc.yaml``) at or above ``path``, or None."""
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if (folder / CHECKOUT_MARKER).is_file():
            return folder
    return None


def code_checkout() -> Path | None:
    """The checkout this code runs from (None when installed as a package)."""
    return checkout_of(Path(__file__).parent)


def store_checkout(tracking_uri: str) -> Path | None:
    """The checkout holding a local tracking store (``sqlite:///...``, ``file:...`` or a path)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        # sqlite:////abs/mlflow.db -> path "//abs/mlflow.db"; sqlite:///rel.db -> "/rel.db"
        raw = unquote(tracking_uri[len("sqlite:///"):])
    elif parsed.scheme in ("", "file"):
        raw = unquote(parsed.path if parsed.scheme else tracking_uri)
    else:
        return None  # a remote server: its files are not here
    return checkout_of(Path(raw).parent) if raw else None


def model_origins(*candidates: str | Path | None) -> tuple[Path, ...]:
    """The distinct checkouts at or above ``candidates`` (in order), then the code's checkout."""
    found = [checkout_of(c) for c in candidates if c is not None]
    found.append(code_checkout())
    return tuple(dict.fromkeys(f for f in found if f is not None))


WHISPER_FIX = ("Build it in the checkout that trained the model (`dvc repro whisper_convert`), "
               "pass --whisper DIR, or trace an export folder (`sastnet export`, which bundles "
               "Whisper)")


def resolve_whisper_dir(name: str, roots: tuple[Path, ...], model_source: str) -> str:
    """The Whisper directory ``name`` of ``model_source``, found below ``roots`` if relative."""
    return resolve_model_dir(name, roots, what="Whisper model", used_by=model_source,
                             fix=WHISPER_FIX)


def resolve_model_dir(name: str, roots: tuple[Path, ...], *, what: str, used_by: str,
                      fix: str) -> str:
    """``name`` as a directory that exists: absolute as given, else below the first root holding it.

    A hub id (``openai/whisper-small``) that no root holds is returned unchanged. A path that no
    root holds is a ``FileNotFoundError`` naming every folder tried and ``fix``.
    """
    path = Path(name).expanduser()
    if path.is_absolute():
        tried = [path]
    else:
        tried = [root / path for root in roots]
    for candidate in tried:
        if candidate.is_dir():
            return str(candidate)
    if not looks_like_path(name) and not path.is_absolute():
        return name  # a hub id: transformers looks in its cache
    where = ", ".join(map(str, tried)) or "(no checkout known: the model is not in one)"
    raise FileNotFoundError(f"{what} directory {name} (used by {used_by}) was not found; tried "
                            f"{where}. {fix}")
