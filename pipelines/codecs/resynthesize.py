"""Spoofed clips: every bona fide clip through every codec (CoRS-style), plus generated clips
from codec token language models (CoSG-style). The result is the full clip manifest.

CoRS spoofs come from the corpus' ``CoRS`` bona fide clips. CoSG spoofs come from its ``CoSG``
bona fide clips (unseen voices saying unseen prompts, short silences): each generator keeps the
first ``prompt_s`` of a clip's tokens and samples the rest following the clip's plan
(``sastnet.codecs.token_lm.continue_prompts``), one clip per CoSG bona fide clip, seeded by
(seed, generator, clip key).

    python -m stages.resynthesize      # data/resynth/manifest.parquet, reports/resynth.json

Labels come from the taxonomy object passed in (``sastnet.codecs.zoo_spec.zoo_taxonomy()`` for
the zoo), never from file names. Each spoof keeps ``pair_key`` = the bona fide key it was made
from, so later stages can sample bona fide/spoof pairs. Held-out codecs make no CoRS clips
(their clips are generated: CoSG All only).
Finished files are reused on a rerun, so a crash loses nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pipelines.common.audio_io import (
    AudioError,
    audio_duration_s,
    audio_problem,
    load_audio,
    match_level,
    write_audio,
)
from pipelines.corpus.report import summarize_manifest
from pipelines.corpus.synthetic import to_manifest_frame
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.taxonomy import Taxonomy

__all__ = [
    "CodecEntry",
    "Resynthesizer",
    "build_resynth_manifest",
    "generate_cosg",
    "load_bonafide",
    "load_zoo",
    "resynthesize_codec",
    "select_bonafide",
]

log = logging.getLogger(__name__)


class Resynthesizer(Protocol):
    """What the stage needs of a codec: ``NeuralCodec`` and the real-codec adapters fit."""

    def resynthesize(self, wave: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T)
        ...


@dataclass
class CodecEntry:
    """One codec to run: its taxonomy name, model, held-out flag and optional generator."""

    name: str
    codec: Resynthesizer
    held_out: bool = False
    # generate(prompt clips, seeds) -> one 1-D 16 kHz tensor per clip (CoSG analogue)
    generate: Callable[[list[np.ndarray], list[int]], list[torch.Tensor]] | None = None
    info: dict = field(default_factory=dict)


def load_zoo(zoo_json: str | Path, checkpoint: str = "late", names: tuple[str, ...] = (), *,
             prompt_s: float = 0.25, temperature: float = 1.0) -> list[CodecEntry]:
    """The trained zoo of the ``codecs`` stage as ``CodecEntry`` objects (``names``: a subset);
    generators continue ``prompt_s`` of each prompt clip, sampling at ``temperature``."""
    # the zoo's package, imported only when used (the tests run stand-in codecs without it)
    from sastnet.codecs import load_codec, token_lm

    zoo_json = Path(zoo_json)
    if not zoo_json.exists():
        raise FileNotFoundError(f"{zoo_json}: codec zoo not found; run `dvc repro codecs` first")
    codecs = json.loads(zoo_json.read_text())["codecs"]
    unknown = sorted(set(names) - set(codecs))
    if unknown:
        raise ValueError(f"resynthesize.codecs: {unknown} not in {zoo_json}; "
                         f"available: {', '.join(sorted(codecs))}")
    entries = []
    for name in sorted(names or codecs):
        spec = codecs[name]
        codec = load_codec(spec["checkpoints"][checkpoint])
        generate = None
        if spec.get("token_lm"):
            lm = token_lm.load_token_lm(spec["token_lm"])

            def generate(waves, seeds, _codec=codec, _lm=lm):
                return token_lm.continue_prompts(_codec, _lm, waves, prompt_s=prompt_s,
                                                 seeds=seeds, temperature=temperature)
        entries.append(CodecEntry(name, codec, bool(spec["held_out"]), generate,
                                  info={"family": spec.get("family"), "checkpoint": checkpoint}))
    return entries


def load_bonafide(manifest: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray], list[dict]]:
    """Read every bona fide clip once; unusable ones are dropped with a reason."""
    bona = manifest[manifest["codec"] == "bonafide"]
    waves, rejected = {}, []
    for row in tqdm(bona.itertuples(), total=len(bona), desc="read bona fide", unit="clip",
                    mininterval=2):
        try:
            waves[row.key] = load_audio(row.path)
        except AudioError as err:
            log.warning("skipping %s", err)
            rejected.append({"key": row.key, **err.as_record()})
    return bona[bona["key"].isin(waves)].copy(), waves, rejected


def _batches(keys: list[str], waves: dict[str, np.ndarray], size: int) -> list[list[str]]:
    """Length-sorted batches: zero padding inside a batch stays a small fraction of a clip."""
    ordered = sorted(keys, key=lambda k: (len(waves[k]), k))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def select_bonafide(bona: pd.DataFrame, splits: tuple[str, ...], max_clips: dict[str, int],
                    rng: np.random.Generator) -> pd.DataFrame:
    """The bona fide clips one codec resynthesizes: all of ``splits``, or at most
    ``max_clips[split]`` per split, half seen / half unseen content where both exist."""
    parts = []
    bona = bona[bona["subset"] == "CoRS"]  # the CoSG world's clips are prompts, never resynthesized
    for split in splits:
        pool = bona[bona["split"] == split]
        limit = max_clips.get(split, 0)
        if not limit or limit >= len(pool):
            parts.append(pool)
            continue
        groups = sorted((g for _, g in pool.groupby(pool["seen"].fillna(True), sort=True)), key=len)
        remaining = limit
        for i, group in enumerate(groups):  # smallest first: its shortfall goes to the next
            take = min(len(group), remaining // (len(groups) - i))
            remaining -= take
            parts.append(group.iloc[np.sort(rng.permutation(len(group))[:take])])
    return pd.concat(parts) if parts else bona.iloc[:0]


def _spoof_row(bona: pd.Series, entry: CodecEntry, path: Path, taxonomy: Taxonomy) -> dict:
    row = bona.to_dict()
    row.update({"key": f"{bona['key']}_{entry.name}", "path": str(path), "codec": entry.name,
                "subset": "CoRS", "pair_key": bona["key"], "codec_seen": not entry.held_out,
                "duration_s": audio_duration_s(path)})
    row.update({f"label_{t}": v for t, v in taxonomy.labels(entry.name).items()})
    return row


@torch.inference_mode()
def resynthesize_codec(entry: CodecEntry, bona: pd.DataFrame, waves: dict[str, np.ndarray],
                       taxonomy: Taxonomy, out_dir: str | Path, *, batch_size: int = 8,
                       splits: tuple[str, ...] = ("train", "dev", "test"),
                       max_clips: dict[str, int] | None = None, seed: int = 0) -> list[dict]:
    """CoRS-style spoofs of one codec: ``out_dir/<codec>/<bona key>_<codec>.flac`` per clip.

    Held-out codecs make none: as in CodecFake+, every CoRS codec is a training codec and the
    unseen codec types appear only in CoSG (All). ``max_clips`` limits clips per split (a
    seeded subset).
    """
    if entry.held_out:
        return []
    rng = np.random.default_rng([seed, *entry.name.encode()])
    todo = select_bonafide(bona, splits, max_clips or {}, rng).set_index("key", drop=False)
    folder = Path(out_dir) / entry.name
    path_of = {k: folder / f"{k}_{entry.name}.flac" for k in todo.index}
    missing = [k for k in todo.index if not _readable(path_of[k])]
    for keys in tqdm(_batches(missing, waves, batch_size), desc=f"resynthesize {entry.name}",
                     unit="batch", mininterval=2):
        lengths = [len(waves[k]) for k in keys]
        batch = torch.zeros(len(keys), max(lengths))
        for i, k in enumerate(keys):
            batch[i, :lengths[i]] = torch.from_numpy(waves[k])
        out = entry.codec.resynthesize(batch).float().cpu().numpy()
        for i, k in enumerate(keys):
            wave = out[i, :lengths[i]]
            if not np.isfinite(wave).all():
                raise ValueError(f"codec {entry.name} produced NaN/inf for {k}")
            wave = match_level(wave, waves[k])  # no loudness shortcut between codecs
            write_audio(path_of[k], wave, SAMPLE_RATE_HZ)
    return [_spoof_row(todo.loc[k], entry, path_of[k], taxonomy) for k in todo.index]


def _readable(path: Path) -> bool:
    return audio_problem(path) is None


def _generated_row(bona: pd.Series, entry: CodecEntry, path: Path, taxonomy: Taxonomy) -> dict:
    row = _spoof_row(bona, entry, path, taxonomy)
    row["subset"] = "CoSG"
    return row


@torch.inference_mode()
def generate_cosg(entry: CodecEntry, bona: pd.DataFrame, waves: dict[str, np.ndarray],
                  taxonomy: Taxonomy, out_dir: str | Path, *, seed: int) -> list[dict]:
    """CoSG-style clips of one generator: ``out_dir/<codec>/<bona key>_<codec>.flac``, one per
    ``CoSG`` bona fide clip, which gives its prompt and plan (``pair_key``)."""
    prompts = bona[bona["subset"] == "CoSG"].set_index("key", drop=False)
    if entry.generate is None or prompts.empty:
        return []
    folder = Path(out_dir) / entry.name
    path_of = {k: folder / f"{k}_{entry.name}.flac" for k in prompts.index}
    missing = [k for k in prompts.index if not _readable(path_of[k])]
    for key in tqdm(missing, desc=f"generate {entry.name}", unit="clip", mininterval=2):
        # seeded by the clip's identity: the same clip whatever else is generated
        (wave,) = entry.generate([waves[key]], [zlib.crc32(f"{seed}/{entry.name}/{key}".encode())])
        wave = wave.float().cpu().numpy().reshape(-1)
        if not np.isfinite(wave).all():
            raise ValueError(f"generator {entry.name} produced NaN/inf for {key}")
        write_audio(path_of[key], match_level(wave, waves[key]), SAMPLE_RATE_HZ)
    return [_generated_row(prompts.loc[k], entry, path_of[k], taxonomy) for k in prompts.index]


def build_resynth_manifest(corpus: pd.DataFrame, codecs: list[CodecEntry], taxonomy: Taxonomy,
                           out_dir: str | Path, *, batch_size: int = 8,
                           splits: tuple[str, ...] = ("train", "dev", "test"),
                           max_clips_per_split: dict[str, int] | None = None,
                           seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The full clip manifest (bona fide + spoofs) and a report of what happened.

    Args:
        corpus: bona fide clip manifest (``data/corpus/manifest.parquet``).
        codecs: codecs to run; names must be in ``taxonomy``.
        out_dir: audio root, e.g. ``data/resynth/audio``.
    """
    for entry in codecs:
        taxonomy.family(entry.name)  # an unknown codec fails before any work
    bona, waves, rejected = load_bonafide(corpus)
    rows = bona.to_dict("records")
    timing = {}
    for entry in codecs:
        start = time.perf_counter()
        rows += resynthesize_codec(entry, bona, waves, taxonomy, out_dir,
                                   batch_size=batch_size, splits=splits,
                                   max_clips=max_clips_per_split, seed=seed)
        rows += generate_cosg(entry, bona, waves, taxonomy, out_dir, seed=seed)
        timing[entry.name] = round(time.perf_counter() - start, 2)
    df = to_manifest_frame(rows)
    if not df["key"].is_unique:
        dup = df["key"][df["key"].duplicated()].iloc[0]
        raise ValueError(f"duplicate clip key {dup!r}: codec names must not end a bona fide key")
    report = summarize_manifest(df)  # the same summary as reports/corpus.json
    report["clips_per_split_codec"] = {f"{split}/{codec}": int(n) for (split, codec), n
                                       in df.groupby(["split", "codec"]).size().items()}
    report["rejected"] = rejected
    report["codecs"] = {
        e.name: {"held_out": e.held_out, "family": dataclasses.asdict(taxonomy.family(e.name)),
                 "labels": taxonomy.labels(e.name), "seconds": timing[e.name],
                 "cosg": e.generate is not None, **e.info}
        for e in codecs}
    return df, report
