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
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import webdataset as wds
from tqdm import tqdm

from pipelines.common.clip_audio import ClipError, load_clip
from pipelines.params.shard import ShardParams
from pipelines.dataset.sampling import balanced_pairs
from sastnet.taxonomy import BONAFIDE, TASKS

log = logging.getLogger(__name__)
INDEX_NAME = "index.json"
SHARD_PATTERN = "shard-%06d.tar"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto it only if the block succeeds.

    (Same contract as ``stages/_io.atomic_path``; pipelines/ must not import stages/.)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


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


def plan_splits(manifest: pd.DataFrame, cfg: ShardParams, seed: int) -> list[SplitPlan]:
    """Which clips go to which split (see docs/shards.md), in write order."""
    cors = manifest[manifest["subset"] == "CoRS"]
    train = _seen_pool(cors[cors["split"] == "train"])
    dev = _seen_pool(cors[cors["split"] == "dev"])
    test = cors[cors["split"] == "test"]
    cosg = manifest[manifest["subset"] == "CoSG"]
    plans = [SplitPlan(f"train-{t}", _pairs(balanced_pairs(train, t, seed)), True) for t in cfg.tasks]
    if cfg.full_train:
        shuffled = train.sort_values("key").iloc[np.random.default_rng(seed).permutation(len(train))]
        plans.append(SplitPlan("train", [[r] for r in shuffled.to_dict("records")]))
    if cfg.dev_strategy == "all":
        plans.append(SplitPlan("dev", _singles(dev)))
    else:
        plans.append(SplitPlan("dev", _pairs(balanced_pairs(dev, cfg.dev_strategy, seed)), True))
    utt = pd.to_numeric(test["utt_id"], errors="coerce")
    plans.append(SplitPlan("test_seen", _singles(test[utt <= cfg.seen_max_utt_id])))
    plans.append(SplitPlan("test_unseen", _singles(test[utt > cfg.seen_max_utt_id])))
    plans.append(SplitPlan("cosg_known", _singles(cosg[cosg["codec_seen"].astype(bool)])))
    plans.append(SplitPlan("cosg_all", _singles(cosg)))
    return plans


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
            seen[path] = sha256_file(path) if path.is_file() else "missing"
        return seen[path]

    return content


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
                except ClipError as err:
                    failed = (row, err.reason, err.detail)
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
    return ShardResult(rel, samples, sha256_file(path), plan,
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
                 seed: int, sample_rate_hz: int = 16000,
                 on_shard: Callable[[ShardResult, bool], None] | None = None) -> dict:
    """Plan every split, write (or keep) its shards, and return the index written to ``index.json``.

    ``on_shard(result, reused)`` is called after each shard (progress, tests).
    """
    shards_dir = Path(shards_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_shards(load_index(shards_dir))
    segments = {str(k): [list(map(int, s)) for s in segs]
                for k, segs in zip(vad["key"], vad["segments"])}
    plans = plan_splits(manifest, cfg, seed)
    index = {"format": 1, "complete": False, "seed": seed, "params": asdict(cfg), "splits": {}}
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
                              and sha256_file(path) == old["sha256"])
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
