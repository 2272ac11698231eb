"""Ingest the CodecFake+ release on disk into one clip manifest (``corpus.source: codecfake_plus``).

    python -m stages.corpus          # with corpus.source: codecfake_plus in params.yaml

``prepare_codecfake_plus(params)`` reads the official protocol lists, labels every clip from
``sastnet.taxonomy`` (never from the lists' label columns: those are only cross-checked, and
each disagreement is counted), finds the audio under ``audio_root`` and reads its duration
from the header (``verify_audio: full`` also decodes every file, in parallel, so a truncated
file fails here rather than in the shard stage). Splits: the training lists give ``train``, the
dev lists ``dev``, the test lists, CoRS_ALL and CoSG_ALL ``test``. The manifest has one row per
clip (a bona fide clip is in all three balanced lists); which official list each row came from,
in the list's own order, is kept in a second table (``list_table``, written as
``data/corpus/lists.parquet``), from which the shard stage rebuilds the official lists row for
row (``shard.train_lists: official``).
See docs/codecfake_plus.md for the layout and the release's defects.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import soundfile as sf
from tqdm import tqdm

from pipelines.common.manifest import COLUMNS
from pipelines.corpus.codecfake_protocols import (
    ProtocolError,
    ProtocolRow,
    ReleaseError,
    read_protocol,
)
from pipelines.params.corpus import CodecFakePlusParams
from sastnet.taxonomy import (
    AUX_VALUES,
    BONAFIDE,
    COSG_UNSEEN_MODELS,
    DEC_VALUES,
    PROTOCOL_VALUES,
    TASKS,
    VQ_VALUES,
    Taxonomy,
    UnknownCodecError,
    family_from_protocol,
    split_cors_utterance,
)

MAX_LISTED = 20  # how many offending files an error message lists
PROBE_THREADS = 8  # parallel header reads


class BadAudioError(ReleaseError, FileNotFoundError):
    """Listed clips whose audio is missing or unreadable."""


class UnknownCodecsError(ReleaseError, ValueError):
    """Protocol rows naming codecs/models that are not in the taxonomy."""


@dataclass
class IngestLog:
    """What ingestion noticed about the release; goes into reports/corpus.json."""

    key_spellings: list[str] = field(default_factory=list)  # rows whose KEY is e.g. "spoofs"
    disagreements: Counter = field(default_factory=Counter)  # "<list> <task>" -> rows
    disagreement_examples: list[str] = field(default_factory=list)
    duplicate_rows: Counter = field(default_factory=Counter)  # list -> repeated identical rows
    cosg_seen_only: int = 0  # CoSG_SEEN rows absent from CoSG_ALL (added)
    cosg_seen_unseen_models: list[str] = field(default_factory=list)
    bad_audio: list[str] = field(default_factory=list)  # skipped (on_bad_audio: skip)
    dropped_with_source: list[str] = field(default_factory=list)  # spoofs of a skipped bona fide
    audio_formats: Counter = field(default_factory=Counter)  # "16000 Hz x 1 ch" -> clips
    # CoRS test clips of the test lists that CoRS_ALL (the protocol's CoRS test) lacks: codec ->
    # clips (the release: 47 Encodec_24b24k)
    cors_test_not_in_cors_all: Counter = field(default_factory=Counter)
    # (list file, split, line number, key) of every row of the 7-column lists, in file order
    list_rows: list[tuple[str, str, int, str]] = field(default_factory=list)

    def disagree(self, list_name: str, task: str, source: str, detail: str) -> None:
        self.disagreements[f"{list_name} {task}"] += 1
        if len(self.disagreement_examples) < MAX_LISTED:
            self.disagreement_examples.append(f"{source}: {task} {detail}")

    def as_dict(self) -> dict:
        return {
            "key_spellings_accepted": self.key_spellings,
            "label_disagreements": dict(sorted(self.disagreements.items())),
            "label_disagreement_examples": self.disagreement_examples,
            "duplicate_rows": dict(self.duplicate_rows),
            "cosg_seen_rows_not_in_cosg_all": self.cosg_seen_only,
            "cosg_seen_models_marked_unseen_in_taxonomy": self.cosg_seen_unseen_models,
            "skipped_bad_audio": self.bad_audio,
            "skipped_with_their_bona_fide_source": self.dropped_with_source,
            "audio_formats": dict(self.audio_formats),
            "cors_test_clips_not_in_cors_all": dict(sorted(self.cors_test_not_in_cors_all.items())),
        }


@functools.cache
def _protocol_label(task: str, raw: str) -> int:
    """Label index of a protocol column value (REAL -> 0)."""
    if raw == "REAL":
        return 0
    values = {"vq": VQ_VALUES, "aux": AUX_VALUES, "dec": DEC_VALUES}[task]
    return 1 + values.index(PROTOCOL_VALUES[task][raw])


@functools.cache
def _mixed_label_error(aux: str, dec: str, vq: str) -> str | None:
    """Why a row's AUX/DEC/VQ columns cannot be read together (e.g. REAL mixed with a family)."""
    try:
        family_from_protocol(aux, dec, vq)
    except ValueError as err:
        return str(err)
    return None


def _cross_check(row: ProtocolRow, labels: dict[str, int], list_name: str, log: IngestLog) -> None:
    """Count every protocol column that disagrees with the taxonomy's labels."""
    if row.key_label not in ("bonafide", "spoof"):
        log.key_spellings.append(f"{row.source}: KEY {row.key_label!r} read as spoof")
    if row.bin_label != labels["bin"]:
        log.disagree(list_name, "bin", row.source, f"KEY {row.key_label} vs taxonomy")
    columns = {"aux": row.aux, "dec": row.dec, "vq": row.vq}
    if row.aux is not None:
        error = _mixed_label_error(row.aux, row.dec, row.vq)
        if error is not None:
            log.disagree(list_name, "aux/dec/vq", row.source, error)
            return
    for task, raw in columns.items():
        if raw is None:
            continue
        try:
            value = _protocol_label(task, raw)
        except (KeyError, ValueError):
            log.disagree(list_name, task, row.source, f"unknown value {raw!r}")
            continue
        if value != labels[task]:
            log.disagree(list_name, task, row.source, f"{raw} vs taxonomy label {labels[task]}")


def _cors_record(row: ProtocolRow, split: str, tax: Taxonomy, p: CodecFakePlusParams) -> dict:
    base, codec = split_cors_utterance(row.utt)
    labels = tax.labels(codec)  # raises UnknownCodecError
    utt_number = base.split("_", 1)[1]
    if not utt_number.isdigit():
        raise ProtocolError(f"{row.source}: utterance id {row.utt!r} has no numeric VCTK id")
    utt_id = int(utt_number)
    return {"key": row.utt, "speaker": row.group, "utt_id": utt_id, "codec": codec or BONAFIDE,
            "subset": "CoRS", "split": split, "seen": utt_id <= p.seen_max_utt_id,
            "pair_key": base, "audio_stem": (p.cors_dir, row.utt),
            **{f"label_{t}": labels[t] for t in TASKS}}


def _cosg_record(row: ProtocolRow, tax: Taxonomy, p: CodecFakePlusParams) -> dict:
    tax.family(row.group)  # every CoSG model must be in the taxonomy, bona fide rows too
    codec = row.group if row.bin_label == 1 else BONAFIDE
    labels = tax.labels(codec)
    key = f"{row.group}__{row.utt}"
    return {"key": key, "speaker": row.group, "utt_id": None, "codec": codec, "subset": "CoSG",
            "split": "test", "seen": None, "pair_key": key,
            "audio_stem": (os.path.join(p.cosg_dir, row.group), row.utt),
            **{f"label_{t}": labels[t] for t in TASKS}}


def _collect(lists: list[tuple[str, str, str]], p: CodecFakePlusParams, tax: Taxonomy,
             log: IngestLog) -> dict[str, dict]:
    """Records by key from (list name, list kind, split); identical repeats are merged."""
    records: dict[str, dict] = {}
    unknown: dict[str, str] = {}
    for name, kind, split in lists:
        for row in read_protocol(Path(p.protocol_dir) / name, kind):
            try:
                rec = _cosg_record(row, tax, p) if kind.startswith("cosg") else \
                    _cors_record(row, split, tax, p)
            except UnknownCodecError as err:
                unknown.setdefault(str(err), row.source)
                continue
            _cross_check(row, {t: rec[f"label_{t}"] for t in TASKS}, name, log)
            if kind == "train":
                log.list_rows.append((name, split, int(row.source.rsplit(":", 1)[1]), rec["key"]))
            rec["lists"] = {name}
            old = records.get(rec["key"])
            if old is None:
                records[rec["key"]] = rec
                continue
            same = {k: v for k, v in old.items() if k != "lists"} == \
                {k: v for k, v in rec.items() if k != "lists"}
            if not same:
                raise ProtocolError(f"{row.source}: clip {rec['key']!r} is listed again with another "
                                 f"split or labels (first as {old['split']}, now {split})")
            if name in old["lists"]:
                log.duplicate_rows[name] += 1
            old["lists"].add(name)
    if unknown:
        lines = [f"{src}: {msg}" for msg, src in unknown.items()]
        raise UnknownCodecsError("codec/model names not in sastnet.taxonomy "
                                         "(add them there, with their family):\n  "
                                         + "\n  ".join(lines))
    return records


class _AudioFinder:
    """Finds ``<dir>/<stem>.<ext>`` by listing each folder once (the release has ~10^5 files)."""

    def __init__(self, root: Path, extensions: tuple[str, ...]):
        self.root, self.extensions, self._listing = root, extensions, {}

    def find(self, folder: str, stem: str) -> Path | None:
        if folder not in self._listing:
            d = self.root / folder
            self._listing[folder] = set(os.listdir(d)) if d.is_dir() else set()
        for ext in self.extensions:
            if f"{stem}.{ext}" in self._listing[folder]:
                return self.root / folder / f"{stem}.{ext}"
        return None


def _probe(path: Path | None, full: bool = False) -> tuple[float, int, int] | str:
    """(duration_s, sample rate, channels) from the header, or why there is none. ``full``
    decodes every frame too: a truncated or corrupt body passes a header read."""
    if path is None:
        return "missing"
    try:
        info = sf.info(str(path))
        if info.frames == 0:
            return "empty"
        if full:
            decoded = sum(len(block) for block in sf.blocks(str(path), blocksize=1 << 16))
            if decoded != info.frames:
                return f"truncated: header says {info.frames} frames, {decoded} decode"
    except (RuntimeError, sf.LibsndfileError) as err:
        return f"unreadable: {err}"
    return (float(info.duration), info.samplerate, info.channels)


def _attach_audio(records: list[dict], p: CodecFakePlusParams, log: IngestLog) -> list[dict]:
    finder = _AudioFinder(Path(p.audio_root), p.audio_extensions)
    stems = [rec.pop("audio_stem") for rec in records]
    paths = [finder.find(folder, stem) for folder, stem in stems]
    full = p.verify_audio == "full"
    # threads hide the file system's latency (network storage); libsndfile decodes without
    # holding the GIL, so full decoding runs in parallel too
    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        probes = list(tqdm(pool.map(functools.partial(_probe, full=full), paths), total=len(paths),
                           unit="clip", mininterval=2,
                           desc=f"codecfake_plus audio ({'full decode' if full else 'headers'})"))
    kept, bad, bad_keys, missing, damaged = [], [], set(), [], []
    for rec, (folder, stem), path, probe in zip(records, stems, paths, probes):
        if isinstance(probe, str):
            where = path or f"{Path(p.audio_root) / folder / stem}.{{{','.join(p.audio_extensions)}}}"
            bad.append(f"{where} ({probe})")
            bad_keys.add(rec["key"])
            (missing if path is None else damaged).append(bad[-1])
            continue
        rec["path"], rec["duration_s"] = str(path), probe[0]
        log.audio_formats[f"{probe[1]} Hz x {probe[2]} ch"] += 1
        kept.append(rec)
    if bad and p.on_bad_audio == "raise":
        raise BadAudioError(_bad_audio_message(missing, damaged, len(records), p))
    # skip: a resynthesis without its bona fide source cannot be paired (training lists pair
    # every spoof with its source), so it leaves with it; each one is said on the console
    orphans = [rec for rec in kept if rec["pair_key"] != rec["key"] and rec["pair_key"] in bad_keys]
    for line in bad:
        tqdm.write(f"codecfake_plus: skipped {line}")
    for rec in orphans:
        tqdm.write(f"codecfake_plus: skipped {rec['key']} (its bona fide source {rec['pair_key']} "
                   "was skipped)")
    log.bad_audio.extend(bad)
    log.dropped_with_source.extend(rec["key"] for rec in orphans)
    orphan_keys = {rec["key"] for rec in orphans}
    return [rec for rec in kept if rec["key"] not in orphan_keys]


def _bad_audio_message(missing: list[str], damaged: list[str], listed: int,
                       p: CodecFakePlusParams) -> str:
    """One message for every clip without readable audio, grouped by cause, each group with
    its own fix: a missing file is a wrong path (or a file never copied); a file that is there
    but does not decode is damaged, and no path setting mends it."""
    parts = [f"{len(missing) + len(damaged)} of {listed} listed clips have no readable audio under {p.audio_root}."]
    if missing:
        parts.append(
            f"{len(missing)} missing (no file where the layout puts it: CoRS "
            f"<audio_root>/<cors_dir>/<UTT>.<ext>, CoSG <audio_root>/<cosg_dir>/<MODEL>/<UTT>.<ext>"
            f"; extensions tried: {', '.join(p.audio_extensions)}); first "
            f"{min(len(missing), MAX_LISTED)}:\n  " + "\n  ".join(missing[:MAX_LISTED]) +
            "\nFix: point corpus.codecfake_plus.audio_root / cors_dir / cosg_dir / "
            "audio_extensions at the release, or copy the missing files into it.")
    if damaged:
        parts.append(
            f"{len(damaged)} damaged (the file is there but does not decode: empty, unreadable or "
            f"truncated); first {min(len(damaged), MAX_LISTED)}:\n  "
            + "\n  ".join(damaged[:MAX_LISTED]) +
            "\nFix: replace each with an intact copy from the release (download or extract it "
            "again: an interrupted copy leaves truncated files); the paths settings are right.")
    parts.append("Or set corpus.codecfake_plus.on_bad_audio: skip to leave these clips out "
                 "(each is then listed in reports/corpus.json).")
    return "\n".join(parts)


def read_release_lists(p: CodecFakePlusParams, taxonomy: Taxonomy | None = None
                       ) -> tuple[list[dict], IngestLog]:
    """Read and label every listed clip (no audio touched yet).

    Returns:
        (one dict per clip with the manifest columns except ``path``/``duration_s`` plus
        ``audio_stem`` = (folder under audio_root, file stem), sorted by subset, split, key;
        what was noticed).
    """
    tax, log = taxonomy or Taxonomy(), IngestLog()
    lists = [(n, "train", "train") for n in p.train_lists]
    lists += [(n, "train", "dev") for n in p.dev_lists]
    lists += [(n, "train", "test") for n in p.test_lists]
    lists += [(p.cors_list, "cors", "test"), (p.cosg_list, "cosg", "test")]
    records = _collect(lists, p, tax, log)
    seen_rows = _collect([(p.cosg_seen_list, "cosg_seen", "test")], p, tax, log)
    train_codecs = {r["codec"] for r in records.values() if r["split"] == "train"}
    for key, rec in seen_rows.items():
        if key not in records:
            log.cosg_seen_only += 1
            records[key] = rec
        elif records[key]["codec"] != rec["codec"]:
            log.disagree(p.cosg_seen_list, "bin", key, f"vs {p.cosg_list}")
    log.cosg_seen_unseen_models = sorted(
        {r["speaker"] for r in seen_rows.values() if r["codec"] != BONAFIDE} & COSG_UNSEEN_MODELS)
    log.cors_test_not_in_cors_all.update(
        r["codec"] for r in records.values()
        if r["subset"] == "CoRS" and r["split"] == "test" and p.cors_list not in r["lists"])
    for key, rec in records.items():
        if rec["subset"] == "CoSG":
            rec["codec_seen"] = key in seen_rows
        else:
            rec["codec_seen"] = rec["codec"] == BONAFIDE or rec["codec"] in train_codecs
        rec["text"] = None
        del rec["lists"]
    return sorted(records.values(), key=lambda r: (r["subset"], r["split"], r["key"])), log


LIST_COLUMNS = ("list", "split", "line", "key")


def list_table(log: IngestLog) -> pd.DataFrame:
    """The rows of every 7-column official list, in file order: ``list``, ``split``, ``line``
    (1-based line number in that file), ``key`` (the manifest key of the clip)."""
    df = pd.DataFrame(log.list_rows, columns=list(LIST_COLUMNS))
    df["line"] = df["line"].astype("int64")
    return df.sort_values(["list", "line"], kind="stable").reset_index(drop=True)


def prepare_codecfake_plus(p: CodecFakePlusParams,
                           taxonomy: Taxonomy | None = None) -> tuple[pd.DataFrame, IngestLog]:
    """Build the clip manifest of the whole release.

    Args:
        p: where the release lies and which lists to read.
        taxonomy: codec table (default: the CodecFake+ table of ``sastnet.taxonomy``).

    Returns:
        (manifest with the columns of ``pipelines.common.manifest.CLIP_SCHEMA``, what was noticed).

    Raises:
        ReleaseError (each with the fix in its message): MissingListError / ProtocolError: a
        list is missing or malformed.
        UnknownCodecsError: codec/model names not in the taxonomy (all of them listed).
        BadAudioError: listed clips without readable audio (unless ``on_bad_audio: skip``).
    """
    records, log = read_release_lists(p, taxonomy)
    df = pd.DataFrame(_attach_audio(records, p, log), columns=list(COLUMNS))
    df["utt_id"] = df["utt_id"].astype("Int64")
    df["seen"] = df["seen"].astype("boolean")
    for task in TASKS:
        df[f"label_{task}"] = df[f"label_{task}"].astype("int8")
    df["duration_s"] = df["duration_s"].astype("float32")
    return df, log

