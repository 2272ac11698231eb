"""Parsers for the official CodecFake+ protocol lists (whitespace-separated text, one clip a line).

Formats, as released (samples in ``tests/fixtures/codecfakeplus/``):

========================  ====================================  =============================
list                      columns                               audio
========================  ====================================  =============================
train/dev lists           ``SPK UTT - AUX DEC VQ KEY`` (7)      ``<cors_dir>/<UTT>.<ext>``
``CoRS_ALL.txt``          ``SPK UTT - - KEY`` (5)               ``<cors_dir>/<UTT>.<ext>``
``CoSG_ALL.txt``          ``MODEL UTT - [-] KEY`` (4 or 5)      ``<cosg_dir>/<MODEL>/<UTT>.<ext>``
``CoSG_SEEN.txt``         ``MODEL UTT - VQ KEY`` (5)            ``<cosg_dir>/<MODEL>/<UTT>.<ext>``
========================  ====================================  =============================

Parsing only splits and checks the column count; what a row *means* (labels, split, keys) is
decided in ``pipelines.corpus.codecfake_plus``. Errors name the file, the line number and the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ListKind = Literal["train", "cors", "cosg", "cosg_seen"]

# kind -> (allowed column counts, the format as the official README writes it)
FORMATS: dict[str, tuple[tuple[int, ...], str]] = {
    "train": ((7,), "SPK UTT - AUX DEC VQ KEY"),
    "cors": ((5,), "SPK UTT - - KEY"),
    "cosg": ((4, 5), "MODEL UTT - [-] KEY"),
    "cosg_seen": ((5,), "MODEL UTT - VQ KEY"),
}

# KEY column spellings. ``spoofs`` occurs once in the real CoRS_ALL.txt: accepted, but reported.
KEY_SPELLINGS: dict[str, int] = {"bonafide": 0, "spoof": 1, "spoofs": 1}


class ReleaseError(Exception):
    """The release on disk cannot be ingested as configured. The message is the whole story
    (what, where, and the fix): the corpus stage prints it as it is, without a traceback."""


class ProtocolError(ReleaseError, ValueError):
    """A protocol line that does not fit its list's format."""


class MissingListError(ReleaseError, FileNotFoundError):
    """A protocol list named in the params is not on disk."""


@dataclass(frozen=True)
class ProtocolRow:
    """One line of a protocol list, split into its meaningful columns."""

    source: str  # "<file name>:<line number>", for messages
    group: str  # SPK (CoRS lists) or MODEL (CoSG lists)
    utt: str  # utterance id as written (also the audio file's stem)
    key_label: str  # the KEY column as written
    aux: str | None = None  # training lists only
    dec: str | None = None  # training lists only
    vq: str | None = None  # training lists and CoSG_SEEN

    @property
    def bin_label(self) -> int:
        """0 bona fide / 1 spoof from the KEY column (``spoofs`` counts as spoof)."""
        return KEY_SPELLINGS[self.key_label]


def parse_protocol_line(line: str, kind: ListKind, source: str) -> ProtocolRow:
    """Split one protocol line of list type ``kind``; raises ProtocolError naming ``source``."""
    counts, fmt = FORMATS[kind]
    cols = line.split()
    if len(cols) not in counts:
        raise ProtocolError(f"{source}: expected {' or '.join(map(str, counts))} columns "
                            f"`{fmt}`, got {len(cols)}: {line.strip()!r}")
    key_label = cols[-1]
    if key_label not in KEY_SPELLINGS:
        raise ProtocolError(f"{source}: KEY column {key_label!r} is not one of "
                            f"{', '.join(KEY_SPELLINGS)} (format `{fmt}`)")
    row = ProtocolRow(source=source, group=cols[0], utt=cols[1], key_label=key_label)
    if kind == "train":
        return ProtocolRow(**{**row.__dict__, "aux": cols[3], "dec": cols[4], "vq": cols[5]})
    if kind == "cosg_seen":
        return ProtocolRow(**{**row.__dict__, "vq": cols[3]})
    return row


def read_protocol(path: str | Path, kind: ListKind) -> list[ProtocolRow]:
    """Parse a whole protocol list; blank lines are skipped.

    Raises:
        MissingListError: the list is missing (names the path and the params key to fix).
        ProtocolError: a line does not fit the format of ``kind``.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingListError(f"{path}: protocol list not found; set corpus.codecfake_plus."
                               f"protocol_dir / the list names in params.yaml")
    rows = []
    with path.open() as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                rows.append(parse_protocol_line(line, kind, f"{path.name}:{number}"))
    return rows
