"""A fake CodecFake+ release on disk, built from the real protocol samples (fixed seeds).

The lists whose real head we have (``train_mult_learn``, ``dev_mult_learn_bal_vq``, ``CoRS_ALL``,
``CoSG_ALL``, ``CoSG_SEEN``) are the samples verbatim. The other balanced lists keep the same bona
fide rows and draw another codec for each spoof row, cycling through the classes of the list's
task (as the release's lists are balanced); the test lists pair the CoRS_ALL sample's
utterances with codecs, ``Encodec_24b24k`` (absent from the real CoRS_ALL) first. Every listed
clip gets a short FLAC at the path the release's layout gives it.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from sastnet.taxonomy import CORS_CODECS, PROTOCOL_VALUES

FIXTURES = Path(__file__).parent / "fixtures" / "codecfakeplus"
SR = 16000
# protocol column spellings of our attribute values (inverse of PROTOCOL_VALUES)
_COLUMN = {task: {v: k for k, v in values.items()} for task, values in PROTOCOL_VALUES.items()}
LISTS = {
    "train": ("train_mult_learn.txt", "train_mult_learn_bal_vq.txt", "train_mult_learn_bal_dec.txt"),
    "dev": ("dev_mult_learn.txt", "dev_mult_learn_bal_vq.txt", "dev_mult_learn_bal_dec.txt"),
    "test": ("test_mult_learn.txt", "test_mult_learn_bal_vq.txt", "test_mult_learn_bal_dec.txt"),
}


def _spoof_line(spk: str, base: str, codec: str) -> str:
    fam = CORS_CODECS[codec]
    return (f"{spk} {base}_{codec} - {_COLUMN['aux'][fam.aux]} {_COLUMN['dec'][fam.dec].upper()} "
            f"{_COLUMN['vq'][fam.vq]} spoof")


def _codecs_by_class(task: str) -> list[list[str]]:
    classes: dict[str, list[str]] = {}
    for codec, fam in CORS_CODECS.items():
        classes.setdefault(getattr(fam, task), []).append(codec)
    return [sorted(v) for _, v in sorted(classes.items())]


def _balanced(bona: list[tuple[str, str]], task: str, first: list[str] = ()) -> list[str]:
    """Bona fide row + one spoof each, the spoof's class cycling through ``task``'s classes."""
    by_class = _codecs_by_class(task)
    lines = []
    for i, (spk, base) in enumerate(bona):
        lines.append(f"{spk} {base} - REAL REAL REAL bonafide")
        codecs = by_class[i % len(by_class)]
        codec = first[i] if i < len(first) else codecs[(i // len(by_class)) % len(codecs)]
        lines.append(_spoof_line(spk, base, codec))
    return lines


def _bona_rows(lines: list[str]) -> list[tuple[str, str]]:
    return [(c[0], c[1]) for c in (line.split() for line in lines) if c[-1] == "bonafide"]


def _write_audio(path: Path, seconds: float) -> None:
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    n = int(seconds * SR)
    t = np.arange(n) / SR
    wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), SR, format="FLAC", subtype="PCM_16")


def build_fake_release(root: Path, seconds: float = 0.3) -> dict:
    """Write protocol lists under ``root/protocols`` and audio under ``root``.

    Returns:
        The ``corpus.codecfake_plus`` params section for this release.
    """
    proto = root / "protocols"
    proto.mkdir(parents=True, exist_ok=True)
    read = lambda name: (FIXTURES / name).read_text().splitlines()  # noqa: E731
    train_aux, dev_vq = read("train_mult_learn.head40.txt"), read("dev_mult_learn_bal_vq.head40.txt")
    cors = read("CoRS_ALL.head40.txt")
    test_bona = sorted({(c[0], "_".join(c[1].split("_")[:2])) for c in map(str.split, cors)})
    encodec = ["Encodec_24b24k"] * 3
    lists = {
        "train_mult_learn.txt": train_aux,
        "train_mult_learn_bal_vq.txt": _balanced(_bona_rows(train_aux), "vq"),
        "train_mult_learn_bal_dec.txt": _balanced(_bona_rows(train_aux), "dec"),
        "dev_mult_learn.txt": _balanced(_bona_rows(dev_vq), "aux"),
        "dev_mult_learn_bal_vq.txt": dev_vq,
        "dev_mult_learn_bal_dec.txt": _balanced(_bona_rows(dev_vq), "dec"),
        "test_mult_learn.txt": _balanced(test_bona, "aux", encodec),
        "test_mult_learn_bal_vq.txt": _balanced(test_bona, "vq", encodec),
        "test_mult_learn_bal_dec.txt": _balanced(test_bona, "dec", encodec),
        "CoRS_ALL.txt": cors,
        "CoSG_ALL.txt": read("CoSG_ALL.sample40.txt"),
        "CoSG_SEEN.txt": read("CoSG_SEEN.head40.txt"),
    }
    for name, lines in lists.items():
        (proto / name).write_text("\n".join(lines) + "\n")
    for name, lines in lists.items():
        for cols in map(str.split, lines):
            if name.startswith("CoSG"):
                _write_audio(root / "SLMdemos_16k" / cols[0] / f"{cols[1]}.flac", seconds)
            else:
                _write_audio(root / "all_data_16k" / f"{cols[1]}.flac", seconds)
    return {"audio_root": str(root), "protocol_dir": str(proto), "cors_dir": "all_data_16k",
            "cosg_dir": "SLMdemos_16k", "train_lists": list(LISTS["train"]),
            "dev_lists": list(LISTS["dev"]), "test_lists": list(LISTS["test"]),
            "cors_list": "CoRS_ALL.txt", "cosg_list": "CoSG_ALL.txt",
            "cosg_seen_list": "CoSG_SEEN.txt"}


def list_utts(path: Path) -> list[str]:
    """The UTT column of a 7-column protocol list, in file order (read without the code under test)."""
    return [line.split()[1] for line in path.read_text().splitlines() if line.strip()]
