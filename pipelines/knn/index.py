"""The kNN support index: the vectors a new clip is attributed against, and enrolment.

    sastnet knn attribute clip.flac ...         # system, distance, unknown flag, nearest family
    sastnet knn enrol my_codec path/to/clips/   # add a system from a folder of its clips

``data/knn/index/`` (a DVC output of stage ``knn``) holds ``vectors.npz`` (the support vectors
of the chosen layer with their system, checkpoint class and VQ / AUX / DEC names) and
``meta.json`` (encoder, layer, clip length, k, open-set threshold, and the systems with a
threshold of their own: ``system_thresholds``, bona fide's). Enrolment never touches
the encoder or the threshold: it embeds the new clips with the same encoder and layer and adds
them as one more system. It writes a copy (default ``data/knn/enrolled/``) so the DVC output
stays as ``dvc repro`` made it; ``attribute`` reads the enrolled copy when there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.common.io import atomic_dir, save_npz
from pipelines.knn.clips import BONAFIDE
from sastnet import knn

FIELDS = ("systems", "classes", "vq", "aux", "dec", "keys")
UNKNOWN_FAMILY = "?"  # an enrolled system's family is not known
# bona fide speech is a system of the index (BONAFIDE; its family columns say so too), so
# "unknown" means an unknown *spoof* system (#40); indexes from before hold spoof systems only


@dataclass
class SupportIndex:
    vectors: np.ndarray  # (S, d) float32
    columns: dict[str, np.ndarray]  # FIELDS -> (S,) str
    # (d,) the cosine's centre: the built support set's mean, kept through enrolments so the
    # open-set threshold keeps its meaning (None: the current vectors' mean)
    center: np.ndarray | None = None
    meta: dict = field(default_factory=dict)  # model, local_files_only, layer, num_samples, k, threshold

    def save(self, path: str | Path) -> None:
        """Write ``path/vectors.npz`` and ``path/meta.json`` (a temporary folder, swapped in)."""
        with atomic_dir(path) as tmp:
            save_npz(tmp / "vectors.npz", vectors=self.vectors.astype(np.float32),
                     center=self.cosine_center.astype(np.float64),
                     **{k: self.columns[k].astype(str) for k in FIELDS})
            (tmp / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")

    @property
    def cosine_center(self) -> np.ndarray:
        return knn.support_center(self.vectors) if self.center is None else self.center

    @property
    def system_names(self) -> list[str]:
        return sorted(set(self.columns["systems"]))

    def attribute(self, vectors: np.ndarray) -> list[dict]:
        """Per vector: system (kNN vote over systems, bona fide one of them), distance, unknown
        flag, checkpoint class, and the nearest spoof family (VQ / AUX / DEC votes over the
        spoof systems of known family: the fallback for an unknown system)."""
        k = min(int(self.meta["k"]), len(self.vectors))
        c = self.cosine_center
        systems, sys_codes = np.unique(self.columns["systems"], return_inverse=True)
        res = knn.knn_predict(self.vectors, sys_codes, vectors, k, c)
        classes, cls_codes = np.unique(self.columns["classes"], return_inverse=True)
        ckpt = knn.knn_predict(self.vectors, cls_codes, vectors, k, c).labels
        family = {}
        spoof = self.columns["systems"] != BONAFIDE
        for task in ("vq", "aux", "dec"):  # the fallback for an unknown spoof system
            keep = spoof & (self.columns[task] != UNKNOWN_FAMILY)
            if not keep.any():
                family[task] = np.full(len(vectors), UNKNOWN_FAMILY)
                continue
            names, codes = np.unique(self.columns[task][keep], return_inverse=True)
            family[task] = names[knn.knn_predict(self.vectors[keep], codes, vectors,
                                                 min(k, int(keep.sum())), c).labels]
        own = self.meta.get("system_thresholds") or {}  # e.g. bona fide's (experiments.py)
        limits = [float(own.get(str(systems[c]), self.meta["threshold"])) for c in res.labels]
        return [{"system": str(systems[res.labels[i]]), "checkpoint": str(classes[ckpt[i]]),
                 "distance": float(res.distances[i]), "threshold": limits[i],
                 "unknown": bool(res.distances[i] > limits[i]),
                 **{t: str(family[t][i]) for t in family}}
                for i in range(len(vectors))]

    def enrol(self, name: str, vectors: np.ndarray, keys: list[str]) -> SupportIndex:
        """A new index with ``vectors`` added as system ``name`` (replacing one of that name)."""
        keep = self.columns["systems"] != name
        n = len(vectors)
        cols = {"systems": [name] * n, "classes": [name] * n, "vq": [UNKNOWN_FAMILY] * n,
                "aux": [UNKNOWN_FAMILY] * n, "dec": [UNKNOWN_FAMILY] * n, "keys": list(keys)}
        meta = {**self.meta, "enrolled": sorted(set(self.meta.get("enrolled", [])) | {name})}
        return SupportIndex(np.r_[self.vectors[keep], vectors.astype(np.float32)],
                            {f: np.r_[self.columns[f][keep], np.asarray(cols[f], dtype=str)]
                             for f in FIELDS}, self.cosine_center, meta)


def load_index(path: str | Path) -> SupportIndex:
    path = Path(path)
    if not (path / "vectors.npz").is_file() or not (path / "meta.json").is_file():
        raise FileNotFoundError(f"{path}: no kNN index (vectors.npz + meta.json); build it with "
                                "`dvc repro knn` or pass --index")
    data = np.load(path / "vectors.npz")
    return SupportIndex(data["vectors"], {f: data[f] for f in FIELDS},
                        data["center"] if "center" in data.files else None,
                        json.loads((path / "meta.json").read_text()))


class IndexEncoder:
    """The index's encoder and layer, applied to audio files (cut / tiled as in the stage)."""

    def __init__(self, meta: dict) -> None:
        from pipelines.knn.encoder import PooledEncoder

        self.num_samples = int(meta["num_samples"])
        self.encoder = PooledEncoder(meta["model"], self.num_samples, (int(meta["layer"]),),
                                     bool(meta.get("local_files_only", True)))

    def __call__(self, paths: list[Path], batch_size: int = 8) -> np.ndarray:
        from pipelines.common.audio_io import load_audio

        return self.encode_waves([load_audio(p) for p in paths], batch_size)

    def encode_waves(self, waves: list[np.ndarray], batch_size: int = 8) -> np.ndarray:
        """``(N, d)`` vectors of 16 kHz mono waves (each cut or tiled to the index's length)."""
        from sastnet.crop import repeat_crop

        out = []
        for i in range(0, len(waves), batch_size):
            batch = [repeat_crop(w[:self.num_samples], self.num_samples)
                     for w in waves[i:i + batch_size]]
            out.append(self.encoder(batch)[:, 0])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3")


def audio_files(paths: list[Path]) -> list[Path]:
    """Files as given, and audio files under folders (recursive, sorted)."""
    out = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out
