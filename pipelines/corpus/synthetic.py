"""The embedded bona fide corpus: VCTK-like clips spoken by Debian's offline synthesizers.

    from pipelines.corpus.synthetic import build_synthetic_corpus
    df = build_synthetic_corpus(params.corpus.synthetic, "data/corpus")

Layout (``docs/contracts.md``): ``<out_dir>/audio/<speaker>/<speaker>_<utt:03d>.flac``, 16 kHz mono
FLAC, one row per clip in the returned clip manifest (bona fide rows only).

Why it looks the way it does:
- speakers are fixed synthesizer settings (``pipelines/corpus/synthesis/voices.py``) and the splits are
  speaker-disjoint, as CodecFake+'s VCTK-based splits are;
- prompts are numbered 1..N; train/dev speakers only say prompts with id <= ``seen_max_utt_id``,
  test speakers say both kinds, so "seen" (utt id <= 250) really means content seen in training;
- each clip gets leading/trailing silence of random length over a low noise floor, because the
  paper's silence experiment (``rm_sil``) needs non-speech regions to remove;
- ``cosg_clips`` more clips (subset ``CoSG``, split ``test``, speakers ``g01``..) come from the
  voices no corpus speaker uses, saying unseen prompts, with short boundary silences: the CoSG
  bona fide class and the prompts the generators continue (``plan_cosg``).
Every clip is a deterministic function of (seed, speaker, utt id), so a rerun reuses finished
files and a crash loses nothing.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from tqdm import tqdm

from pipelines.common.audio_io import audio_duration_s, audio_problem, write_audio
from pipelines.corpus.synthesis.sentences import build_sentences
from pipelines.corpus.synthesis.voices import (
    SPEAKER_POOL,
    SpeakerVoice,
    SynthesisError,
    missing_engines,
    synthesize,
    synthesize_many,
)
from pipelines.params.corpus_synthetic import SyntheticCorpusParams
from sastnet.audio import SAMPLE_RATE_HZ

__all__ = ["MANIFEST_COLUMNS", "ClipPlan", "build_synthetic_corpus", "plan_corpus", "plan_cosg",
           "render_clip"]

log = logging.getLogger(__name__)
MANIFEST_COLUMNS = ("key", "path", "speaker", "utt_id", "text", "codec", "subset", "split", "seen",
                    "pair_key", "codec_seen", "label_vq", "label_aux", "label_dec", "label_bin",
                    "duration_s")


@dataclass(frozen=True)
class ClipPlan:
    """One clip to synthesize."""

    key: str
    speaker: str
    speaker_index: int
    voice: SpeakerVoice
    utt_id: int
    text: str
    split: str
    subset: str = "CoRS"  # "CoSG": a clip of the generated set's world (``plan_cosg``)


def speaker_splits(cfg: SyntheticCorpusParams) -> dict[str, str]:
    """Speaker id -> split; speaker-disjoint, seeded."""
    speakers = [f"s{i + 1:02d}" for i in range(cfg.num_speakers)]
    order = np.random.default_rng(cfg.seed).permutation(cfg.num_speakers)
    splits = {}
    for rank, idx in enumerate(order):
        if rank < cfg.test_speakers:
            splits[speakers[idx]] = "test"
        elif rank < cfg.test_speakers + cfg.dev_speakers:
            splits[speakers[idx]] = "dev"
        else:
            splits[speakers[idx]] = "train"
    return splits


def _draw_utt_ids(cfg: SyntheticCorpusParams, split: str, rng: np.random.Generator) -> list[int]:
    n_seen_pool = min(cfg.num_sentences, cfg.seen_max_utt_id)
    n_unseen = round(cfg.utts_per_speaker * cfg.test_unseen_fraction) if split == "test" else 0
    seen = rng.choice(np.arange(1, n_seen_pool + 1), cfg.utts_per_speaker - n_unseen, replace=False)
    unseen = rng.choice(np.arange(cfg.seen_max_utt_id + 1, cfg.num_sentences + 1), n_unseen,
                        replace=False) if n_unseen else np.array([], dtype=int)
    return sorted(int(u) for u in np.concatenate([seen, unseen]))


def plan_corpus(cfg: SyntheticCorpusParams) -> list[ClipPlan]:
    """Which speaker says which prompt, in which split (no audio yet)."""
    sentences = build_sentences(cfg.num_sentences, cfg.seed)
    plans = []
    for index, (speaker, split) in enumerate(sorted(speaker_splits(cfg).items())):
        rng = np.random.default_rng([cfg.seed, 1, index])
        for utt_id in _draw_utt_ids(cfg, split, rng):
            plans.append(ClipPlan(key=f"{speaker}_{utt_id:03d}", speaker=speaker,
                                  speaker_index=index, voice=SPEAKER_POOL[index], utt_id=utt_id,
                                  text=sentences[utt_id - 1], split=split))
    return plans


def plan_cosg(cfg: SyntheticCorpusParams) -> list[ClipPlan]:
    """The CoSG world's bona fide clips: unseen voices (the pool after the corpus' speakers, in
    turn) saying distinct unseen prompts (id > ``seen_max_utt_id``), seeded."""
    if not cfg.cosg_clips:
        return []
    sentences = build_sentences(cfg.num_sentences, cfg.seed)
    voices = range(cfg.num_speakers, len(SPEAKER_POOL))
    unseen = np.arange(cfg.seen_max_utt_id + 1, cfg.num_sentences + 1)
    utt_ids = np.random.default_rng([cfg.seed, 4]).choice(unseen, cfg.cosg_clips, replace=False)
    plans = []
    for i, utt_id in enumerate(utt_ids):
        index = voices[i % len(voices)]
        speaker = f"g{index - cfg.num_speakers + 1:02d}"
        plans.append(ClipPlan(key=f"{speaker}_{int(utt_id):03d}", speaker=speaker,
                              speaker_index=index, voice=SPEAKER_POOL[index], utt_id=int(utt_id),
                              text=sentences[utt_id - 1], split="test", subset="CoSG"))
    return sorted(plans, key=lambda p: p.key)


def _room_noise(n: int, level_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """Low-passed white noise at an RMS level: a quiet, slightly dull room like VCTK's."""
    noise = lfilter([0.3], [1.0, -0.7], rng.standard_normal(n))
    noise *= 10 ** (level_dbfs / 20) / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
    return noise.astype(np.float32)


def render_clip(plan: ClipPlan, cfg: SyntheticCorpusParams,
                speech: np.ndarray | None = None) -> np.ndarray:
    """Speech at a random peak level, silence of random length at both ends, and noise floor.

    ``speech``: the synthesizer's output for ``plan`` if already made (else it is synthesized).
    """
    if speech is None:
        speech = synthesize(plan.voice, plan.text)
    rng = np.random.default_rng([cfg.seed, 2, plan.speaker_index, plan.utt_id])
    speech = speech * (10 ** (rng.uniform(*cfg.peak_dbfs) / 20) / np.abs(speech).max())
    silence_s = cfg.cosg_silence_s if plan.subset == "CoSG" else cfg.silence_s
    lead, trail = (int(rng.uniform(*silence_s) * SAMPLE_RATE_HZ) for _ in range(2))
    wave = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(trail, np.float32)])
    # The floor is a speaker (room) property, with a little per-clip variation.
    floor = np.random.default_rng([cfg.seed, 3, plan.speaker_index]).uniform(*cfg.noise_floor_dbfs)
    return (wave + _room_noise(wave.size, floor + rng.uniform(-2, 2), rng)).astype(np.float32)


def _is_done(path: Path) -> bool:
    """A rerun after a crash keeps finished clips that read back fine."""
    problem = audio_problem(path)
    if problem is not None and path.exists():
        log.warning("re-creating %s", problem)
    return problem is None


def _chunks(plans: list[ClipPlan], festival_chunk: int = 10) -> list[list[ClipPlan]]:
    """Work units: one clip, or up to ``festival_chunk`` clips of one festival speaker (one
    festival process per chunk: loading its voice costs more than a sentence)."""
    out: list[list[ClipPlan]] = []
    by_speaker: dict[str, list[ClipPlan]] = {}
    for plan in plans:
        if plan.voice.engine == "festival":
            by_speaker.setdefault(plan.speaker, []).append(plan)
        else:
            out.append([plan])
    for group in by_speaker.values():
        out += [group[i:i + festival_chunk] for i in range(0, len(group), festival_chunk)]
    return sorted(out, key=lambda c: -len(c))  # long chunks first: better load balance


def _row(plan: ClipPlan, path: Path, duration_s: float, cfg: SyntheticCorpusParams) -> dict:
    return {"key": plan.key, "path": str(path), "speaker": plan.speaker, "utt_id": plan.utt_id,
            "text": plan.text, "codec": "bonafide", "subset": plan.subset, "split": plan.split,
            "seen": plan.utt_id <= cfg.seen_max_utt_id, "pair_key": plan.key, "codec_seen": True,
            "label_vq": 0, "label_aux": 0, "label_dec": 0, "label_bin": 0,
            "duration_s": duration_s}


def to_manifest_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows -> a DataFrame with the clip manifest's column order and dtypes."""
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    df["utt_id"] = df["utt_id"].astype("Int64")
    df["seen"] = df["seen"].astype("boolean")
    df["codec_seen"] = df["codec_seen"].astype(bool)
    for col in ("label_vq", "label_aux", "label_dec", "label_bin"):
        df[col] = df[col].astype("int8")
    df["duration_s"] = df["duration_s"].astype("float32")
    return df.sort_values("key", kind="stable").reset_index(drop=True)


def build_synthetic_corpus(cfg, out_dir: str | Path) -> pd.DataFrame:
    """Synthesize the corpus under ``out_dir`` and return its clip manifest.

    Args:
        cfg: ``SyntheticCorpusParams`` (a ``CorpusParams`` is accepted; its ``.synthetic`` is used).
        out_dir: corpus folder, e.g. ``data/corpus``; audio goes to ``out_dir/audio/<speaker>/``.

    Returns:
        Bona fide rows of the clip manifest, sorted by key. ``df.attrs["skipped"]`` lists clips
        that failed (``{"key", "reason"}``), ``df.attrs["speakers"]`` the voice behind each speaker.

    Raises:
        SynthesisError: a synthesizer the speakers need is not installed, or every clip failed.
    """
    cfg = getattr(cfg, "synthetic", cfg)
    out_dir = Path(out_dir)
    cosg = plan_cosg(cfg)
    plans = plan_corpus(cfg) + cosg
    voices = [p.voice for p in plans]
    missing = missing_engines(voices)
    if missing:
        raise SynthesisError("speech synthesizers missing: " + "; ".join(missing))
    rows, skipped = [], []

    def work(chunk: list[ClipPlan]) -> list[dict]:
        paths = [out_dir / "audio" / p.speaker / f"{p.key}.flac" for p in chunk]
        todo = [(p, path) for p, path in zip(chunk, paths) if not _is_done(path)]
        try:
            if todo:
                speech = synthesize_many(chunk[0].voice, [p.text for p, _ in todo])
                for (plan, path), wave in zip(todo, speech):
                    write_audio(path, render_clip(plan, cfg, wave))
            return [_row(p, path, audio_duration_s(path), cfg) for p, path in zip(chunk, paths)]
        except (SynthesisError, OSError, ValueError) as err:
            return [{"skip": p.key, "reason": str(err)} for p in chunk]

    progress = tqdm(total=len(plans), desc="synthesize corpus", unit="clip", mininterval=2)
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:  # threads: the work is subprocesses
        for results in pool.map(work, _chunks(plans)):
            progress.update(len(results))
            for result in results:
                if "skip" in result:
                    log.warning("skipped %s: %s", result["skip"], result["reason"])
                    skipped.append({"key": result["skip"], "reason": result["reason"]})
                else:
                    rows.append(result)
    progress.close()
    if not rows:
        raise SynthesisError(f"every clip failed; first reason: {skipped[0]['reason']}")
    df = to_manifest_frame(rows)
    df.attrs["skipped"] = skipped
    splits = speaker_splits(cfg)
    df.attrs["speakers"] = {f"s{i + 1:02d}": {"voice": SPEAKER_POOL[i].describe(),
                                              "gender": SPEAKER_POOL[i].gender,
                                              "split": splits[f"s{i + 1:02d}"]}
                            for i in range(cfg.num_speakers)}
    df.attrs["speakers"].update({p.speaker: {"voice": p.voice.describe(), "gender": p.voice.gender,
                                             "split": "test (CoSG)"} for p in cosg})
    return df
