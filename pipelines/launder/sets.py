"""Laundered copies of the evaluation sets: one audio shard set per (set, condition).

    python -m stages.launder    # data/shards -> data/launder/shards/<set>@<condition>/shard-N.tar

For every set of ``launder.sets`` (shard splits: CoRS test seen / unseen, CoSG known / all) and
every condition of ``launder.conditions`` (``sastnet.launder``), each clip of the set (or of its
deterministic subset, ``launder.max_clips_per_set``) is decoded from its clean shard, laundered
whole (before any crop, as a platform would) and written back as 16-bit FLAC next to its
unchanged ``.json`` (labels, codec, VAD timestamps: the transforms keep length and timing), plus
``launder: {condition, seed}``. The split folders ``<set>@<condition>`` sit one level deep
with an ``index.json`` in the shard stage's layout, so ``shard_paths_for`` and the features
stage's actor pool (``pipelines.whisper.features.run_features``) read them like the clean ones.

Why the tar key is ``<clip key>@<condition>`` while the ``.json`` keeps the clip's own key: the
features stage encodes a key found in several splits once and copies it (``plan_reuse``), which
is right for one clip laundered once (``cosg_known`` is inside ``cosg_all``) and wrong across
conditions; predictions carry the ``.json`` key, so they pair with the clean predictions.

Determinism: a clip's noise comes from ``LaunderParams.clip_seed(condition, key)`` (identity,
never order), every (clip, condition) is laundered once and reused by every set holding it, the
tars have a fixed mtime and sorted JSON: a rerun writes the same bytes, with any worker count.
A shard is kept on a rerun when its plan (the source clips' bytes, the transform, the seed) and
its bytes still match ``index.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import webdataset as wds

from pipelines.common.audio_io import load_audio
from pipelines.common.determinism import derive_seed
from pipelines.common.io import atomic_path, file_sha256, json_sha256, write_json
from pipelines.dataset.loader import shard_paths_for
from pipelines.params.launder import LaunderParams
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.launder import Transform, launder
from sastnet.taxonomy import TASKS

INDEX_NAME = "index.json"
SHARD_PATTERN = "shard-%06d.tar"


def split_name(eval_set: str, condition: str) -> str:
    """The folder (and index split) of one laundered set: ``<set>@<condition>``."""
    return f"{eval_set}@{condition}"


def read_clean_samples(shard_paths: list[str]) -> list[dict]:
    """``{"key", "flac", "meta", "source"}`` for every sample of some clean shards, in order."""
    out: list[dict] = []
    for path in shard_paths:
        members: dict[str, dict[str, bytes]] = {}
        order: list[str] = []
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                base = member.name.rsplit("/", 1)[-1]
                stem, _, ext = base.partition(".")
                if stem not in members:
                    members[stem] = {}
                    order.append(stem)
                members[stem][ext] = tar.extractfile(member).read()
        for stem in order:
            m = members[stem]
            if "flac" not in m or "json" not in m:
                raise ValueError(f"{path}: sample {stem} lacks a .flac or .json member")
            out.append({"key": stem, "flac": m["flac"], "meta": json.loads(m["json"]),
                        "source": hashlib.sha256(m["flac"]).hexdigest()})
    return out


def select_subset(samples: list[dict], max_clips: int | None, seed: int, eval_set: str) -> list[dict]:
    """A codec-balanced subset of ``max_clips`` samples (all when None), in the set's order.

    Round-robin over the codecs (systems) in name order, each codec's clips ranked by a hash of
    (seed, key), so the choice depends on the clips' identities only. Every codec keeps a clip,
    hence every class of every task: fewer clips than codecs is an error naming the key.
    """
    if max_clips is None or max_clips >= len(samples):
        return list(samples)
    by_codec: dict[str, list[dict]] = {}
    for s in samples:
        by_codec.setdefault(str(s["meta"]["codec"]), []).append(s)
    if max_clips < len(by_codec):
        raise ValueError(f"launder.max_clips_per_set: {max_clips} clips cannot keep the "
                         f"{len(by_codec)} systems of {eval_set} (every class); use >= "
                         f"{len(by_codec)}")
    ranked = {c: sorted(v, key=lambda s: derive_seed(seed, "launder-subset", s["key"]))
              for c, v in sorted(by_codec.items())}
    chosen: set[str] = set()
    depth = 0
    while len(chosen) < max_clips:
        for clips in ranked.values():
            if depth < len(clips) and len(chosen) < max_clips:
                chosen.add(clips[depth]["key"])
        depth += 1
    return [s for s in samples if s["key"] in chosen]


def launder_flac(flac: bytes, transform: Transform, seed: int, name: str) -> bytes:
    """One clip's FLAC bytes laundered: decode, ``sastnet.launder.launder``, 16-bit FLAC."""
    wave = load_audio(flac, name=name)
    out = launder(wave, transform, np.random.default_rng(seed))
    buffer = io.BytesIO()
    sf.write(buffer, out, SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def _launder_job(job: tuple) -> bytes:
    return launder_flac(*job)


def _plan_fingerprint(condition: str, transform: Transform, cfg: LaunderParams,
                      samples: list[dict]) -> str:
    payload = [condition, repr(transform), cfg.seed,
               [[s["key"], s["source"], s["meta"]] for s in samples]]
    return json_sha256(payload)


def _counts(samples: list[dict]) -> tuple[dict, dict]:
    labels = {t: Counter(str(int(s["meta"][f"label_{t}"])) for s in samples) for t in TASKS}
    codecs = Counter(str(s["meta"]["codec"]) for s in samples)
    return ({t: dict(sorted(c.items())) for t, c in labels.items()}, dict(sorted(codecs.items())))


def _write_shard(path: Path, samples: list[dict], laundered: dict[tuple[str, str], bytes],
                 condition: str, cfg: LaunderParams) -> None:
    with atomic_path(path) as tmp, wds.TarWriter(str(tmp), encoder=False, mtime=0.0) as sink:
        for s in samples:
            meta = {**s["meta"], "launder": {"condition": condition,
                                             "seed": cfg.clip_seed(condition, s["meta"]["key"])}}
            sink.write({"__key__": f"{s['key']}@{condition}",
                        "flac": laundered[(condition, s["key"])],
                        "json": json.dumps(meta, sort_keys=True).encode()})


def _load_index(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def build_laundered_shards(shards_dir: str | Path, out_dir: str | Path, cfg: LaunderParams, *,
                           samples_per_shard: int = 256, workers: int = 1) -> dict:
    """Write every ``<set>@<condition>`` split of ``cfg`` under ``out_dir``; returns the index.

    Args:
        shards_dir: the clean shards (``data/shards``, its ``index.json``).
        out_dir: the laundered shards' root (``data/launder/shards``); shards of splits no
            longer planned are deleted.
        samples_per_shard: clips per laundered shard (``shard.samples_per_shard``).
        workers: processes laundering clips in parallel (the output does not depend on it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = {sh["path"]: sh for split in _load_index(out_dir / INDEX_NAME).get("splits", {}).values()
                for sh in split["shards"]}
    transforms = cfg.transforms() if cfg.active else {}
    subsets = {}
    for eval_set in (cfg.sets if cfg.active else ()):
        clean = read_clean_samples(shard_paths_for(shards_dir, eval_set))
        subsets[eval_set] = select_subset(clean, cfg.max_clips_per_set, cfg.seed, eval_set)
    plans = []  # (split, eval set, condition, shard index, samples, fingerprint)
    for eval_set, samples in subsets.items():
        for condition, transform in transforms.items():
            for i in range(0, max(len(samples), 1), samples_per_shard):
                chunk = samples[i:i + samples_per_shard]
                if chunk:
                    plans.append((split_name(eval_set, condition), eval_set, condition,
                                  i // samples_per_shard, chunk,
                                  _plan_fingerprint(condition, transform, cfg, chunk)))

    def kept(split: str, i: int, fingerprint: str) -> bool:
        old, path = previous.get(f"{split}/{SHARD_PATTERN % i}"), out_dir / split / (SHARD_PATTERN % i)
        return bool(old and old["plan"] == fingerprint and path.is_file()
                    and file_sha256(path) == old["sha256"])

    todo = [p for p in plans if not kept(p[0], p[3], p[5])]
    jobs: dict[tuple[str, str], tuple] = {}  # (condition, key) -> job: each clip laundered once
    for split, _, condition, _, chunk, _ in todo:
        for s in chunk:
            jobs.setdefault((condition, s["key"]), (
                s["flac"], transforms[condition], cfg.clip_seed(condition, s["meta"]["key"]),
                f"{split}:{s['key']}"))
    names = list(jobs)
    if workers > 1 and len(names) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_launder_job, [jobs[n] for n in names], chunksize=8))
    else:
        results = [_launder_job(jobs[n]) for n in names]
    laundered = dict(zip(names, results))

    index: dict = {"format": 1, "complete": False, "seed": cfg.seed,
                   "conditions": {c: repr(t) for c, t in transforms.items()},
                   "max_clips_per_set": cfg.max_clips_per_set, "splits": {}}
    planned: set[str] = set()
    for split, eval_set, condition, i, chunk, fingerprint in plans:
        rel = f"{split}/{SHARD_PATTERN % i}"
        planned.add(rel)
        if not kept(split, i, fingerprint):
            _write_shard(out_dir / rel, chunk, laundered, condition, cfg)
        entry = index["splits"].setdefault(split, {"set": eval_set, "condition": condition,
                                                   "samples": 0, "shards": [], "keys": []})
        entry["shards"].append({"path": rel, "samples": len(chunk), "plan": fingerprint,
                                "sha256": file_sha256(out_dir / rel)})
        entry["samples"] += len(chunk)
        entry["keys"] += [s["meta"]["key"] for s in chunk]
    for entry in index["splits"].values():
        entry["labels"], entry["codecs"] = _counts(subsets[entry["set"]])
    _remove_stale(out_dir, planned)
    index["complete"] = True
    write_json(out_dir / INDEX_NAME, index)
    return index


def _remove_stale(out_dir: Path, planned: set[str]) -> None:
    """Delete shards no longer planned and the temporary folders a killed run left behind."""
    for path in out_dir.glob("*/.*.tmp"):
        shutil.rmtree(path, ignore_errors=True)
    for path in out_dir.glob("*/shard-*.tar"):
        if str(path.relative_to(out_dir)) not in planned:
            path.unlink()
    for folder in out_dir.iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def laundered_report(index: dict) -> dict:
    """``reports/launder.json``: per laundered split its set, condition, clips and classes."""
    return {"conditions": index.get("conditions", {}),
            "max_clips_per_set": index.get("max_clips_per_set"),
            "splits": {name: {k: s[k] for k in ("set", "condition", "samples", "labels", "codecs")}
                       for name, s in index.get("splits", {}).items()},
            "clips": sum(s["samples"] for s in index.get("splits", {}).values())}
