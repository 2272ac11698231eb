"""The kNN open set of a trace: which index, loaded once, and what it says about each file.

    from pipelines.trace.knn import KnnOpenSet, find_knn_index
    open_set = KnnOpenSet(find_knn_index(None, roots))   # index + its encoder, loaded once
    answers = open_set.attribute(waves)                   # one dict per 16 kHz wave

``sastnet trace`` builds one per call; the served pyfunc model (``pipelines/trace/pyfunc.py``)
builds one when the server starts, so both answer with the same ``knn`` column. The index holds
bona fide clips as their own system (docs/knn.md), so ``unknown`` means "no enrolled system, bona
fide included, is near": an unknown *spoof* system, or audio unlike both.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipelines.trace.origin import model_origins, resolve_model_dir

KNN_INDEX_ENV = "SASTNET_KNN_INDEX"  # a served model's index: a folder, or "none" (no kNN)


def is_index(folder: Path) -> bool:
    return (folder / "vectors.npz").is_file() and (folder / "meta.json").is_file()


def find_knn_index(given: str | Path | None, roots: tuple[Path, ...]) -> Path | None:
    """The kNN index a trace uses.

    ``given`` must be an index (``FileNotFoundError`` otherwise); without it: the current
    folder's ``knn.enrolled_dir`` when it exists, else its ``knn.index_dir`` (params.yaml, or the
    defaults), else the same folders of each checkout in ``roots`` (the models' checkouts);
    None when there is none (the OOD flag then comes from the confidence rule).
    """
    if given is not None:
        if not is_index(Path(given)):
            raise FileNotFoundError(f"{given}: no kNN index (vectors.npz + meta.json); build it "
                                    "with `dvc repro knn`, or trace without it (--no-knn)")
        return Path(given)
    from pipelines.knn.cli import index_path
    from pipelines.params.knn import KnnParams

    default = index_path(None)  # knn.enrolled_dir when it exists, else knn.index_dir
    if is_index(default):
        return default
    cfg = KnnParams()  # run from elsewhere: the default folders of the models' checkouts
    for root in roots:
        for folder in (root / cfg.enrolled_dir, root / cfg.index_dir):
            if is_index(folder):
                return folder
    return None


def served_knn_index(roots: tuple[Path, ...]) -> Path | None:
    """The index a served model uses: ``$SASTNET_KNN_INDEX`` (a folder, or ``none``), else
    ``find_knn_index(None, roots)`` (the server's folder, then the model's checkouts)."""
    chosen = os.environ.get(KNN_INDEX_ENV, "").strip()
    if chosen.lower() == "none":
        return None
    return find_knn_index(chosen or None, roots)


class KnnOpenSet:
    """A kNN index with its encoder (the index's relative encoder path is looked up in the
    index's own checkout; a missing one is a ``FileNotFoundError`` naming what was tried)."""

    def __init__(self, index_dir: str | Path) -> None:
        from pipelines.knn.index import IndexEncoder, load_index

        self.index_dir = Path(index_dir)
        self.index = load_index(self.index_dir)
        encoder_dir = resolve_model_dir(
            self.index.meta["model"], model_origins(self.index_dir), what="kNN encoder",
            used_by=str(self.index_dir),
            fix="Build it in the index's checkout (`dvc repro whisper_convert`) or pass --no-knn")
        self.encoder = IndexEncoder({**self.index.meta, "model": encoder_dir})

    @property
    def with_bonafide(self) -> bool:
        """Whether bona fide speech is one of the index's systems (indexes from before #40 hold
        spoof systems only, so every real clip is "unknown" there)."""
        from pipelines.knn.index import BONAFIDE

        return BONAFIDE in set(self.index.columns["systems"])

    @property
    def num_samples(self) -> int:
        return self.encoder.num_samples

    def attribute(self, waves: list[np.ndarray], batch_size: int = 8) -> list[dict]:
        """One ``knn`` record (docs/trace.schema.json) per 16 kHz mono wave."""
        vectors = self.encoder.encode_waves(waves, batch_size)
        return [{"index": str(self.index_dir), **answer}
                for answer in self.index.attribute(vectors)]


def unknown_reason(knn: dict, with_bonafide: bool) -> str:
    """Why a file is flagged, and what its labels are then worth."""
    systems = "enrolled system, bona fide included" if with_bonafide else (
        "enrolled system (this index has no bona fide class: real speech is flagged too)")
    return (f"kNN: distance {knn['distance']:.4f} > threshold {knn['threshold']:.4f} to every "
            f"{systems} (nearest: {knn['system']}; nearest spoof "
            f"family {knn['vq']}/{knn['aux']}/{knn['dec']}); the model's label is a closed-set "
            "guess: it has no class for a system it never saw")
