"""WebDataset shards per split, resumable shard by shard.

    python -m stages.shard     # manifest + VAD timestamps -> data/shards/<split>/shard-%06d.tar + index.json

Why this layout: a tar of ``<key>.flac`` + ``<key>.json`` is read sequentially (one open per
thousand clips instead of one per clip), splits over DDP ranks and DataLoader workers by whole
shards, and any tool that reads tar (or Ray Data's ``read_webdataset``) can open it.

Each split is planned up front (which clips, in which shard), so every shard is an independent
unit: written to a temporary file and renamed, then recorded in ``index.json`` (rewritten
atomically after every shard) with its sha256 and a fingerprint of its plan (each clip's record,
VAD and the sha256 of its source file's bytes: never size or mtime). A rerun after a
crash keeps every shard whose plan fingerprint and checksum match and writes the rest; shards
are byte-identical across runs (fixed tar mtime, FLAC bytes copied, JSON with sorted keys).
A clip that cannot be read is left out with its reason (and, in paired training lists, so is
its partner, so classes stay paired 1:1).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import webdataset as wds
from tqdm import tqdm

from pipelines.common.audio_io import AudioError
from pipelines.common.clip_audio import load_clip
from pipelines.common.io import atomic_path, file_sha256, write_json
from pipelines.dataset.sampling import balanced_pairs
from pipelines.params.shard import ShardParams
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.taxonomy import BONAFIDE, TASKS

log = logging.getLogger(__name__)
INDEX_NAME = "index.json"
SHARD_PATTERN = "shard-%06d.tar"


def sample_key(key: str) -> str:
    """WebDataset ``__key__`` of a manifest key (the first dot would start the extension)."""
    return key.replace(".", "_")


@dataclass
class SplitPlan:
    """The clips of one split, grouped in units written together (pairs or single clips)."""

    name: str
    units: list[list[dict]]  # each unit: manifest rows (dicts) that go in or out together
    paired: bool = False


def _seen_pool(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[(rows["codec"] == BONAFIDE) | rows["codec_seen"].astype(bool)]


def _pairs(rows: pd.DataFrame) -> list[list[dict]]:
    units: dict[int, list[dict]] = {}
    for record in rows.to_dict("records"):
        units.setdefault(int(record.pop("pair_index")), []).append(record)
    return [units[i] for i in sorted(units)]


def _singles(rows: pd.DataFrame) -> list[list[dict]]:
    return [[record] for record in rows.sort_values("key", kind="stable").to_dict("records")]


def _official_units(keys: list[str], by_key: dict[str, dict], name: str) -> list[list[dict]]:
    """Units of an official list in file order: a bona fide row and the spoof of the same
    utterance right after it form a pair (as the release writes them), other rows stand alone.
    Keys the manifest lacks (audio skipped by ``on_bad_audio: skip``) leave their unit out."""
    rows = [by_key.get(k) for k in keys]
    units: list[list[dict]] = []
    i = missing = 0
    while i < len(rows):
        row, nxt = rows[i], rows[i + 1] if i + 1 < len(rows) else None
        pair = (row is not None and nxt is not None and row["codec"] == BONAFIDE
                and nxt["codec"] != BONAFIDE and nxt["pair_key"] == row["pair_key"])
        if pair:
            units.append([row, nxt])
            i += 2
            continue
        if row is None:
            missing += 1
        else:
            units.append([row])
        i += 1
    if missing:
        log.warning("%s: %d listed clips are not in the manifest (skipped audio), left out",
                    name, missing)
    return units


def _max_utt(units: list[list[dict]], max_utt_id: int | None) -> list[list[dict]]:
    """Units whose clips all have a numeric utterance id <= ``max_utt_id`` (None: all units)."""
    if max_utt_id is None:
        return units
    return [u for u in units if all(pd.notna(r["utt_id"]) and int(r["utt_id"]) <= max_utt_id
                                    for r in u)]


def plan_splits(manifest: pd.DataFrame, cfg: ShardParams, seed: int,
                official: dict[str, list[str]] | None = None,
                max_utt_id: int | None = None) -> list[SplitPlan]:
    """Which clips go to which split (see docs/shards.md), in write order.

    Args:
        official: ``shard.train_lists: official`` only: split name (``train-<task>``,
            ``dev-<task>``, ``test_list-<task>``) -> the keys of that official list in file
            order (``official_splits``). Those splits are the lists, row for row.
        max_utt_id: the ``seen250`` experiment: training and dev clips with a larger (or no)
            numeric utterance id are left out, for either corpus; test sets are never filtered.
    """
    cors = manifest[manifest["subset"] == "CoRS"]
    train = _seen_pool(cors[cors["split"] == "train"])
    dev = _seen_pool(cors[cors["split"] == "dev"])
    if max_utt_id is not None:
        train = train[pd.to_numeric(train["utt_id"], errors="coerce") <= max_utt_id]
        dev = dev[pd.to_numeric(dev["utt_id"], errors="coerce") <= max_utt_id]
    test = cors[cors["split"] == "test"]
    cosg = manifest[manifest["subset"] == "CoSG"]
    if cfg.train_lists == "official":
        if official is None:
            raise ValueError("shard.train_lists: official needs the official lists "
                             "(data/corpus/lists.parquet from corpus.source: codecfake_plus)")
        by_key = {r["key"]: r for r in manifest.to_dict("records")}
        listed = {name: _max_utt(_official_units(keys, by_key, name), max_utt_id)
                  if not name.startswith("test_list") else _official_units(keys, by_key, name)
                  for name, keys in official.items()}
        plans = [SplitPlan(f"train-{t}", listed[f"train-{t}"], True) for t in cfg.tasks]
    else:
        listed = {}
        plans = [SplitPlan(f"train-{t}", _pairs(balanced_pairs(train, t, seed)), True)
                 for t in cfg.tasks]
    if cfg.full_train:
        shuffled = train.sort_values("key").iloc[np.random.default_rng(seed).permutation(len(train))]
        plans.append(SplitPlan("train", [[r] for r in shuffled.to_dict("records")]))
    if cfg.dev_strategy == "all":
        plans.append(SplitPlan("dev", _singles(dev)))
    elif listed:  # the release selects every task on its AUX dev list (dev_mult_learn.txt)
        plans.append(SplitPlan("dev", listed[f"dev-{cfg.dev_strategy}"], True))
    else:
        plans.append(SplitPlan("dev", _pairs(balanced_pairs(dev, cfg.dev_strategy, seed)), True))
    for name, units in listed.items():  # each task's own dev list and official test list
        if not name.startswith("train-"):
            plans.append(SplitPlan(name, units, name.startswith("dev-")))
    utt = pd.to_numeric(test["utt_id"], errors="coerce")
    plans.append(SplitPlan("test_seen", _singles(test[utt <= cfg.seen_max_utt_id])))
    plans.append(SplitPlan("test_unseen", _singles(test[utt > cfg.seen_max_utt_id])))
    plans.append(SplitPlan("cosg_known", _singles(cosg[cosg["codec_seen"].astype(bool)])))
    plans.append(SplitPlan("cosg_all", _singles(cosg)))
    return plans


def official_splits(lists: pd.DataFrame, task_lists: dict[str, str], tasks: tuple[str, ...],
                    ) -> dict[str, list[str]]:
    """Split name -> keys in file order, from ``data/corpus/lists.parquet`` (``list_table``).

    ``train-<task>`` and ``dev-<task>`` are ``train_<list>`` / ``dev_<list>`` of
    ``task_lists[task]``; ``test_list-<task>`` is ``test_<list>`` when that list was read.
    Raises ValueError naming the list and the params key when a train/dev list was not read.
    """
    out: dict[str, list[str]] = {}
    read = set(lists["list"])
    for task in tasks:
        stem = task_lists.get(task)
        if stem is None:
            raise ValueError(f"corpus.codecfake_plus.task_lists has no list for task {task!r} "
                             f"(shard.tasks lists it)")
        for prefix, split, key in (("train_", "train", "train_lists"), ("dev_", "dev", "dev_lists"),
                                   ("test_", "test_list", "test_lists")):
            name = prefix + stem
            if name not in read:
                if split == "test_list":
                    continue
                raise ValueError(f"{name}: the official {split} list of task {task} was not read; "
                                 f"add it to corpus.codecfake_plus.{key} and rerun "
                                 f"`dvc repro corpus`")
            rows = lists[lists["list"] == name].sort_values("line", kind="stable")
            out[f"{split}-{task}"] = rows["key"].tolist()
    return out


def chunk_units(units: list[list[dict]], samples_per_shard: int) -> list[list[list[dict]]]:
    """Group units into shards of about ``samples_per_shard`` samples (a pair is never split)."""
    shards: list[list[list[dict]]] = []
    current: list[list[dict]] = []
    count = 0
    for unit in units:
        if current and count + len(unit) > samples_per_shard:
            shards.append(current)
            current, count = [], 0
        current.append(unit)
        count += len(unit)
    if current:
        shards.append(current)
    return shards


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    return value


def sample_record(row: dict, segments: list[list[int]]) -> dict:
    """The ``<key>.json`` member: every manifest column but ``path``, plus VAD."""
    record = {col: _jsonable(value) for col, value in row.items() if col not in ("path", "pair_index")}
    record["vad"] = [[int(s), int(e)] for s, e in segments]
    record["has_speech"] = bool(segments)
    return record


def _fingerprint(shard: list[list[dict]], vad: dict[str, list], content: Callable[[Path], str]) -> str:
    """What a shard is made of: each clip's record, VAD, source path and the sha256 of the
    source file's bytes (``content``), so a source rewritten in place, even with the same size
    and mtime, gets its shard rewritten."""
    digest = hashlib.sha256()
    for unit in shard:
        for row in unit:
            src = Path(str(row["path"]))
            payload = [sample_record(row, vad.get(row["key"], [])), str(src), content(src)]
            digest.update(json.dumps(payload, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def content_hasher() -> Callable[[Path], str]:
    """sha256 of a file's bytes ("missing" when it does not exist), each file read once per run
    (a clip sits in several splits)."""
    seen: dict[Path, str] = {}

    def content(path: Path) -> str:
        if path not in seen:
            seen[path] = file_sha256(path) if path.is_file() else "missing"
        return seen[path]

    return content


@dataclass
class ShardResult:
    path: str
    samples: int
    sha256: str
    plan: str
    labels: dict[str, dict[str, int]]
    codecs: dict[str, int]
    no_speech: int = 0  # clips VAD found no speech in (kept; their rm_sil view is the whole clip)
    rejected: list[dict] = field(default_factory=list)


def write_shard(path: Path, shard: list[list[dict]], vad: dict[str, list], sample_rate_hz: int,
                plan: str, rel: str) -> ShardResult:
    """Write one shard atomically; unreadable clips (and their pair partners) are left out."""
    labels = {t: Counter() for t in TASKS}
    codecs: Counter = Counter()
    rejected: list[dict] = []
    samples = no_speech = 0
    with atomic_path(path) as tmp, wds.TarWriter(str(tmp), encoder=False, mtime=0.0) as sink:
        for unit in shard:
            members, failed = [], None
            for row in unit:
                if row["key"] not in vad:
                    failed = (row, "no_vad", "no VAD timestamps for this key (rerun `dvc repro vad`)")
                    break
                try:
                    _, flac = load_clip(str(row["path"]), sample_rate_hz)
                except AudioError as err:
                    failed = (row, err.reason, f"{err.reason} ({err.fix})")
                    break
                record = sample_record(row, vad[row["key"]])
                members.append((row, {"__key__": sample_key(row["key"]), "flac": flac,
                                      "json": json.dumps(record, sort_keys=True).encode()}))
            if failed is not None:
                bad, reason, detail = failed
                for row in unit:
                    is_bad = row["key"] == bad["key"]
                    rejected.append({"key": row["key"], "path": str(row["path"]),
                                     "reason": reason if is_bad else "partner_rejected",
                                     "detail": detail if is_bad else f"its pair {bad['key']} was rejected"})
                log.warning("%s: skipped %s (%s: %s)", rel, bad["key"], reason, detail)
                continue
            for row, member in members:
                sink.write(member)
                samples += 1
                no_speech += not vad[row["key"]]
                codecs[str(row["codec"])] += 1
                for t in TASKS:
                    labels[t][str(int(row[f"label_{t}"]))] += 1
    return ShardResult(rel, samples, file_sha256(path), plan,
                       {t: dict(sorted(c.items())) for t, c in labels.items()},
                       dict(sorted(codecs.items())), no_speech, rejected)


def load_index(shards_dir: Path) -> dict:
    path = shards_dir / INDEX_NAME
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; every shard will be rewritten", path)
        return {}


def _previous_shards(index: dict) -> dict[str, dict]:
    return {s["path"]: s for split in index.get("splits", {}).values() for s in split["shards"]}


def _summarize(results: list[ShardResult]) -> dict:
    labels = {t: Counter() for t in TASKS}
    codecs: Counter = Counter()
    for r in results:
        codecs.update(r.codecs)
        for t in TASKS:
            labels[t].update(r.labels[t])
    return {"samples": sum(r.samples for r in results),
            "no_speech": sum(r.no_speech for r in results),
            "labels": {t: dict(sorted(c.items())) for t, c in labels.items()},
            "codecs": dict(sorted(codecs.items())),
            "shards": [asdict(r) for r in results]}


def build_shards(manifest: pd.DataFrame, vad: pd.DataFrame, shards_dir: str | Path, cfg: ShardParams,
                 seed: int, sample_rate_hz: int = SAMPLE_RATE_HZ,
                 on_shard: Callable[[ShardResult, bool], None] | None = None,
                 official: dict[str, list[str]] | None = None,
                 max_utt_id: int | None = None) -> dict:
    """Plan every split, write (or keep) its shards, and return the index written to ``index.json``.

    ``on_shard(result, reused)`` is called after each shard (progress, tests); ``official`` and
    ``max_utt_id`` as in ``plan_splits``.
    """
    shards_dir = Path(shards_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_shards(load_index(shards_dir))
    segments = {str(k): [list(map(int, s)) for s in segs]
                for k, segs in zip(vad["key"], vad["segments"])}
    plans = plan_splits(manifest, cfg, seed, official, max_utt_id)
    index = {"format": 1, "complete": False, "seed": seed, "params": asdict(cfg),
             "max_utt_id": max_utt_id, "splits": {}}
    planned_files: set[str] = set()
    total = sum(len(chunk_units(p.units, cfg.samples_per_shard)) for p in plans)
    content = content_hasher()
    with tqdm(total=total, desc="shards", unit="shard") as bar:
        for plan in plans:
            results: list[ShardResult] = []
            for i, shard in enumerate(chunk_units(plan.units, cfg.samples_per_shard)):
                rel = f"{plan.name}/{SHARD_PATTERN % i}"
                planned_files.add(rel)
                fingerprint = _fingerprint(shard, segments, content)
                old, path = previous.get(rel), shards_dir / rel
                reused = bool(old and old["plan"] == fingerprint and path.exists()
                              and file_sha256(path) == old["sha256"])
                result = (ShardResult(**old) if reused else
                          write_shard(path, shard, segments, sample_rate_hz, fingerprint, rel))
                results.append(result)
                index["splits"][plan.name] = {"paired": plan.paired, **_summarize(results)}
                write_json(shards_dir / INDEX_NAME, index)
                if on_shard:
                    on_shard(result, reused)
                bar.update(1)
            if not results:
                index["splits"][plan.name] = {"paired": plan.paired, **_summarize([])}
    _remove_stale(shards_dir, planned_files)
    index["complete"] = True
    write_json(shards_dir / INDEX_NAME, index)
    return index


def _remove_stale(shards_dir: Path, planned: set[str]) -> None:
    """Delete shards no longer in the plan and temporary files a crash left behind."""
    for path in list(shards_dir.glob("*/shard-*.tar")) + list(shards_dir.glob("*/.shard-*.tmp")):
        if str(path.relative_to(shards_dir)) not in planned:
            path.unlink()
    for folder in shards_dir.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def shards_report(index: dict) -> dict:
    """Counts for ``reports/shards.json``: per split samples, shards, labels; rejected files."""
    splits = {name: {"samples": s["samples"], "shards": len(s["shards"]), "no_speech": s["no_speech"],
                     "labels": s["labels"], "codecs": s["codecs"]} for name, s in index["splits"].items()}
    rejected = [dict(r, split=name) for name, s in index["splits"].items()
                for shard in s["shards"] for r in shard["rejected"]]
    return {"splits": splits, "rejected": rejected,
            "rejected_by_reason": dict(Counter(r["reason"] for r in rejected))}


def shards_metrics(index: dict) -> dict:
    """Flat numbers for ``metrics/shards.json`` (``dvc metrics show``)."""
    out = {f"{name}_samples": s["samples"] for name, s in index["splits"].items()}
    out.update({f"{name}_shards": len(s["shards"]) for name, s in index["splits"].items()})
    out["no_speech"] = sum(s["no_speech"] for s in index["splits"].values())
    out["rejected"] = sum(len(sh["rejected"]) for s in index["splits"].values() for sh in s["shards"])
    return out
