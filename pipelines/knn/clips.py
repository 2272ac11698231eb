"""The kNN clip set: the same bona fide clips through every saved checkpoint of every codec.

    python -m stages.knn_clips     # data/knn/shards/<class>/shard-000000.tar, data/knn/clips.parquet

The paper (``../shared/papers/002_*``, Sec. 2) synthesizes one set of prompts with every
checkpoint, so classes differ only in the system that made them. Here a few bona fide clips per
speaker, each with a prompt no other selected clip has, are cut to ``max_seconds`` and
resynthesized by each zoo codec at each saved checkpoint (early / mid / late,
``pipelines/codecs/zoo.py``); the resynthesize stage keeps only the late one. Each clip is
level-matched (RMS) to its bona fide source, as the resynthesize stage's clips are. One class =
one ``<codec>@<checkpoint>`` = one audio shard in the contract format (``<key>.flac`` +
``<key>.json``, docs/contracts.md), so the embeddings stage mirrors it with the features
stage's actor pool. ``source: manifest`` takes the CoRS clips of the corpus manifest instead
(CodecFake+ ingestion: the whole release; one class per codec, no checkpoints). Either way the
source clips themselves are one more class, ``bonafide`` (``bonafide_unit``): the open set's
reference for real speech.

Units (classes) run in ``workers`` processes, one torch thread each, like the zoo's training; a
finished shard whose inputs did not change (checkpoint bytes, clips, length) is kept on a rerun.
"""

from __future__ import annotations

import io
import json
import os
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from pipelines.common.audio_io import load_audio, match_level
from pipelines.common.io import atomic_path, file_sha256, json_sha256, split_volatile, write_json
from pipelines.common.process import exit_with_parent
from pipelines.params.knn import KnnClipsParams

SAMPLE_RATE_HZ = 16000
SHARD_NAME = "shard-000000.tar"
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class ClipUnit:
    """One class: which clips go in, and the codec checkpoint that makes them (None: as is)."""

    codec: str
    checkpoint: str  # early / mid / late, or "release" (manifest source)
    held_out: bool
    family: dict[str, str]  # vq / aux / dec class names
    items: tuple[tuple[str, str, str], ...]  # (source key, audio path, key of the new clip)
    checkpoint_path: str | None = None

    @property
    def name(self) -> str:
        return class_name(self.codec, self.checkpoint)


BONAFIDE = "bonafide"  # the bona fide class: the source clips as they are (#40)
BONAFIDE_CHECKPOINT = "real"


def class_name(codec: str, checkpoint: str) -> str:
    return BONAFIDE if codec == BONAFIDE else f"{codec}@{checkpoint}"


def bonafide_unit(sources: pd.DataFrame) -> ClipUnit:
    """The bona fide class: the selected source clips themselves, cut like the others.

    With it the kNN index has a reference for real speech, so its open-set flag means "no known
    system, bona fide included, is near" (an unknown *spoof* system) instead of flagging every
    real clip (#40). Its family columns say ``bonafide``; the family fallback for an unknown
    system votes over the spoof systems only.
    """
    items = tuple((r.key, str(Path(r.path).resolve()),
                   _clip_key(r.key, BONAFIDE, BONAFIDE_CHECKPOINT)) for r in sources.itertuples())
    return ClipUnit(BONAFIDE, BONAFIDE_CHECKPOINT, False,
                    {t: BONAFIDE for t in ("vq", "aux", "dec")}, items)


def select_sources(bona: pd.DataFrame, clips_per_speaker: int, seed: int) -> pd.DataFrame:
    """Up to ``clips_per_speaker`` bona fide clips per speaker, no prompt (text) twice.

    Speakers take turns (sorted), each drawing its next clip from its own seeded shuffle and
    skipping prompts already taken, so the choice does not depend on the manifest's row order.
    """
    bona = bona.sort_values("key")
    queues = {spk: list(g.iloc[np.random.default_rng([seed, zlib.crc32(str(spk).encode())])
                                .permutation(len(g))].itertuples())
              for spk, g in bona.groupby("speaker", sort=True)}
    taken, texts = [], set()
    for _ in range(clips_per_speaker):
        for queue in queues.values():
            while queue:
                row = queue.pop(0)
                prompt = row.text if isinstance(row.text, str) else row.key
                if prompt not in texts:
                    texts.add(prompt)
                    taken.append(row.key)
                    break
    return bona[bona["key"].isin(taken)].reset_index(drop=True)


def _clip_key(source_key: str, codec: str, checkpoint: str) -> str:
    # WebDataset splits a member name at its first dot: keys carry none (docs/contracts.md)
    return f"{source_key}_{codec}_{checkpoint}".replace(".", "_")


def zoo_units(zoo_json: Path, sources: pd.DataFrame, cfg: KnnClipsParams) -> list[ClipUnit]:
    """A unit per (zoo codec, checkpoint): known codecs at ``checkpoints``, held-out ones at
    ``held_out_checkpoints``."""
    if not zoo_json.is_file():
        raise FileNotFoundError(f"{zoo_json}: codec zoo not found; run `dvc repro codecs` first")
    units = []
    for codec, spec in sorted(json.loads(zoo_json.read_text())["codecs"].items()):
        held_out = bool(spec["held_out"])
        for ckpt in cfg.held_out_checkpoints if held_out else cfg.checkpoints:
            if ckpt not in spec["checkpoints"]:
                raise ValueError(f"{zoo_json}: {codec} has no {ckpt!r} checkpoint "
                                 f"(has {sorted(spec['checkpoints'])}); fix knn.clips.checkpoints")
            items = tuple((r.key, str(Path(r.path).resolve()), _clip_key(r.key, codec, ckpt))
                          for r in sources.itertuples())
            units.append(ClipUnit(codec, ckpt, held_out, dict(spec["family"]), items,
                                  str(Path(spec["checkpoints"][ckpt]).resolve())))
    return units


def manifest_units(manifest: pd.DataFrame, sources: pd.DataFrame) -> list[ClipUnit]:
    """A unit per codec of the manifest's CoRS clips made from the selected sources."""
    from sastnet.codecs.zoo_spec import zoo_taxonomy

    taxonomy = zoo_taxonomy()
    spoofs = manifest[(manifest["codec"] != "bonafide") & (manifest["subset"] == "CoRS")
                      & manifest["pair_key"].isin(set(sources["key"]))]
    units = []
    for codec, rows in spoofs.groupby("codec", sort=True):
        items = tuple((r.pair_key, str(Path(r.path).resolve()), _clip_key(r.pair_key, codec, "release"))
                      for r in rows.sort_values("pair_key").itertuples())
        units.append(ClipUnit(codec, "release", not bool(rows["codec_seen"].iloc[0]),
                              asdict(taxonomy.family(codec)), items))
    return units


def _fingerprint(unit: ClipUnit, max_seconds: float) -> str:
    # paths left out: a moved checkout keeps its shards
    data = {"unit": {**asdict(unit), "checkpoint_path": None,
                     "items": [(src, key) for src, _, key in unit.items]},
            "max_seconds": max_seconds,
            "level": "rms-matched to the source",  # a shard made before level matching is redone
            "checkpoint_sha256": file_sha256(unit.checkpoint_path) if unit.checkpoint_path else None}
    return json_sha256(data, 16)


def _flac(wave: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1.0, 1.0), SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def make_unit_shard(unit: ClipUnit, sources: dict[str, dict], max_seconds: float,
                    path: str, batch_size: int = 8) -> dict:
    """Write one class's audio shard (atomic); returns its index record."""
    import torch
    import webdataset as wds

    torch.set_num_threads(1)
    start = time.perf_counter()
    limit = int(round(max_seconds * SAMPLE_RATE_HZ))
    waves = {src: load_audio(p)[:limit] for src, p, _ in unit.items}
    if unit.checkpoint_path is not None:
        from sastnet.codecs import load_codec

        codec = load_codec(unit.checkpoint_path)
        order = sorted(waves, key=lambda k: (len(waves[k]), k))  # little padding per batch
        out = {}
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                keys = order[i:i + batch_size]
                batch = torch.zeros(len(keys), max(len(waves[k]) for k in keys))
                for j, k in enumerate(keys):
                    batch[j, :len(waves[k])] = torch.from_numpy(waves[k])
                res = codec.resynthesize(batch).float().numpy()
                for j, k in enumerate(keys):
                    wave = res[j, :len(waves[k])]
                    if not np.isfinite(wave).all():
                        raise ValueError(f"codec {unit.name} produced NaN/inf for {k}")
                    # as the resynthesize stage does: no loudness shortcut between classes,
                    # and a resynthesized corpus clip looks like its class here
                    out[k] = match_level(wave, waves[k])
        waves = out
    # atomic_path: the shard follows the umask (a mkstemp file is 0600, issue 39)
    with atomic_path(path) as tmp, open(tmp, "wb") as stream, \
            wds.TarWriter(stream, mtime=0) as writer:
        for src, _, key in unit.items:
            meta = {"key": key, "source_key": src, "class": unit.name, "codec": unit.codec,
                    "checkpoint": unit.checkpoint, "held_out": unit.held_out,
                    **{t: unit.family[t] for t in ("vq", "aux", "dec")},
                    "speaker": sources[src]["speaker"], "text": sources[src]["text"]}
            writer.write({"__key__": key, "flac": _flac(waves[src]), "json": meta})
    return {"clips": len(unit.items), "sha256": file_sha256(path),
            "seconds": round(time.perf_counter() - start, 3)}


def build_knn_clips(units: list[ClipUnit], sources: pd.DataFrame, out_dir: str | Path,
                    cfg: KnnClipsParams) -> tuple[pd.DataFrame, dict]:
    """Every unit's shard under ``out_dir/shards`` (kept when unchanged) and the clip table.

    Returns:
        the clip table (one row per clip: key, class, codec, checkpoint, held_out, vq, aux,
        dec, speaker, text, source_key, shard) and a report (classes, clips, seconds).
    """
    out_dir = Path(out_dir).resolve()
    shards = out_dir / "shards"
    index_path = shards / INDEX_NAME
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    index = {rel: split_volatile(rec)[0] for rel, rec in index.items()}  # older runs kept times
    src_info = {r.key: {"speaker": str(r.speaker), "text": r.text if isinstance(r.text, str) else None}
                for r in sources.itertuples()}
    planned = {f"{u.name}/{SHARD_NAME}": u for u in units}
    for stale in set(shards.glob(f"*/{SHARD_NAME}")) - {shards / rel for rel in planned}:
        stale.unlink()
    index = {rel: rec for rel, rec in index.items() if rel in planned}
    todo = []
    for rel, unit in planned.items():
        fp, rec = _fingerprint(unit, cfg.max_seconds), index.get(rel)
        if not (rec and rec.get("fingerprint") == fp and (shards / rel).is_file()
                and file_sha256(shards / rel) == rec.get("sha256")):
            todo.append((rel, unit, fp))
    start = time.perf_counter()
    shard_seconds: dict[str, float] = {}
    if todo:
        # one process per class at a time, one torch thread each (small convs do not scale
        # across threads); workers exit if the stage is killed, as the zoo's do
        with ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=get_context("spawn"),
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(make_unit_shard, unit, src_info, cfg.max_seconds,
                                   str(shards / rel)): (rel, fp) for rel, unit, fp in todo}
            for fut in as_completed(futures):
                rel, fp = futures[fut]
                # the index is a DVC output: its timing goes to the report's volatile part
                record, timing = split_volatile(fut.result())
                index[rel] = {**record, "fingerprint": fp}
                shard_seconds[rel] = (timing or {}).get("seconds")
                write_json(index_path, dict(sorted(index.items())))
    write_json(index_path, dict(sorted(index.items())))
    rows = [{"key": key, "class": u.name, "codec": u.codec, "checkpoint": u.checkpoint,
             "held_out": u.held_out, **{t: u.family[t] for t in ("vq", "aux", "dec")},
             "speaker": src_info[src]["speaker"], "text": src_info[src]["text"],
             "source_key": src, "shard": rel}
            for rel, u in planned.items() for src, _, key in u.items]
    table = pd.DataFrame(rows)
    report = {"source": cfg.source, "classes": len(units), "source_clips": len(sources),
              "speakers": int(sources["speaker"].nunique()), "clips": len(table),
              "max_seconds": cfg.max_seconds, "computed_classes": len(todo),
              "held_out_classes": sorted(u.name for u in units if u.held_out),
              "wall_s": round(time.perf_counter() - start, 1),
              "seconds": dict(sorted(shard_seconds.items()))}  # per computed shard; volatile
    return table, report
