"""Train the codec zoo: every selected zoo codec on the bona fide train split, in parallel.

    python -m stages.codecs            # the DVC stage; writes data/codecs/ and reports/zoo.*

Each codec trains in its own process with one torch thread (small convs do not scale across
threads; two processes use two cores fully), seeded by its name
(``pipelines.common.determinism``), so 1 or N workers give the same bytes. Wall-clock timings
go to ``reports/timings/codecs.json`` only (each record's ``timing``), never into
``data/codecs``. Per codec: checkpoints early / mid / late, its resynthesis quality on bona
fide dev clips (and that of a trivial input-independent baseline), and — for the generation
subset — a token LM trained on its codes of the train split.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from pipelines.common.audio_io import AudioError, load_audio
from pipelines.common.determinism import configure_torch, seed_everything
from pipelines.common.io import atomic_path, json_sha256, write_json
from pipelines.common.process import exit_with_parent
from pipelines.params.codecs import CodecsParams
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.codecs.codec import NeuralCodec, build_codec, save_codec
from sastnet.codecs.losses import matched_noise, mel_distance, si_snr
from sastnet.codecs.semantic import load_teacher
from sastnet.codecs.token_lm import (
    PLAN_BANDS,
    TokenLMConfig,
    codes_of,
    plans_of,
    save_token_lm,
    train_token_lm,
)
from sastnet.codecs.train import CodecTrainConfig, train_codec
from sastnet.codecs.zoo_spec import ZOO_CODECS
from sastnet.taxonomy import BONAFIDE

log = logging.getLogger(__name__)


def load_split_audio(manifest_path: str | Path, split: str, max_clips: int | None = None,
                     seed: int = 0) -> list[np.ndarray]:
    """Bona fide clips of ``split`` as float32 16 kHz mono arrays; unreadable clips are skipped
    with a logged reason."""
    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} not found: run `dvc repro corpus` first")
    df = pd.read_parquet(manifest_path)
    missing = {"path", "codec", "split"} - set(df.columns)
    if missing:
        raise ValueError(f"{manifest_path} lacks column(s) {sorted(missing)} (docs/contracts.md)")
    rows = df[(df.codec == BONAFIDE) & (df.split == split)]
    if max_clips is not None and len(rows) > max_clips:
        rows = rows.sample(max_clips, random_state=seed)
    waves = []
    for path in rows.path:
        try:  # any speech trains a codec: a stereo clip is down-mixed, not rejected
            waves.append(load_audio(path, channels="downmix"))
        except AudioError as err:
            log.warning("skipping %s", err)
    return waves


def dev_batch(waves: list[np.ndarray], clips: int, clip_s: float) -> list[torch.Tensor]:
    """Up to ``clips`` dev clips, each cut to ``clip_s`` seconds, as (1, T) tensors."""
    n = int(clip_s * SAMPLE_RATE_HZ)
    return [torch.from_numpy(w[:n].copy())[None] for w in waves[:clips]]


@torch.no_grad()
def resynthesis_quality(codec: NeuralCodec | None, dev: list[torch.Tensor],
                        seed: int = 0) -> dict[str, float]:
    """Mean mel distance and SI-SNR over ``dev``; ``codec=None`` scores the trivial baseline
    (white noise of each clip's loudness, independent of its content)."""
    mels, snrs = [], []
    for i, wave in enumerate(dev):
        out = codec.resynthesize(wave) if codec is not None else matched_noise(wave, seed + i)
        mels.append(float(mel_distance(out, wave)[0]))
        snrs.append(float(si_snr(out, wave)[0]))
    return {"mel_distance": float(np.mean(mels)), "si_snr_db": float(np.mean(snrs))}


def _fingerprint(name: str, params: CodecsParams) -> str:
    """What a finished codec's record depends on (its architecture and the training params)."""
    data = {"config": dataclasses.asdict(ZOO_CODECS[name].config),
            "params": {k: v for k, v in dataclasses.asdict(params).items()
                       if k not in ("codecs", "workers", "out_dir")}}
    return json_sha256(data, 16)


def _finished_record(out: Path, fingerprint: str) -> dict | None:
    """The record of an earlier, complete run with the same fingerprint (files all present)."""
    path = out / "record.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    files = list(record.get("checkpoints", {}).values()) + [record.get("token_lm")]
    if record.get("fingerprint") != fingerprint or len(record.get("checkpoints", {})) != 3 \
            or not all(Path(f).is_file() for f in files if f):
        return None
    return record


def train_zoo_codec(name: str, params: CodecsParams, out_dir: str | Path,
                    progress: bool = False) -> dict:
    """Train one zoo codec end to end; returns its ``zoo.json`` record. Runs in a worker.

    The record is also written to ``<out_dir>/<name>/record.json`` as soon as the codec is done,
    so an interrupted stage keeps its finished codecs: a re-run with the same architecture and
    params reuses them instead of training again.
    """
    configure_torch(threads=1)
    seed_everything(params.seed, "codec", name)  # global RNGs: whatever ran before in this worker
    spec = ZOO_CODECS[name]
    out = Path(out_dir) / name
    fingerprint = _fingerprint(name, params)
    done = _finished_record(out, fingerprint)
    if done is not None:
        log.info("%s: reusing the finished run in %s", name, out)
        return {**done, "timing": {"reused": True}}
    seed = params.seed + spec.seed
    train = load_split_audio(params.manifest, "train", params.max_train_clips, seed=params.seed)
    if not train:
        raise ValueError(f"no readable bona fide train clips in {params.manifest}")
    dev_waves = load_split_audio(params.manifest, "dev") or train[-params.dev_clips:]
    dev = dev_batch(dev_waves, params.dev_clips, params.dev_clip_s)
    teacher = None
    if spec.config.aux == "semantic":
        teacher = load_teacher(params.teacher_path, max_source_seconds=params.crop_s)
    torch.manual_seed(seed)
    codec = build_codec(spec.config)
    cfg = CodecTrainConfig(steps=params.steps, batch_size=params.batch_size,
                           crop_s=params.crop_s, lr=params.lr, seed=seed)
    checkpoints, by_checkpoint = {}, {}

    def on_checkpoint(stage: str, step: int, model: NeuralCodec) -> None:
        path = out / f"{stage}.pt"
        with atomic_path(path) as tmp:
            save_codec(model, tmp, name=name, stage=stage, step=step)
        checkpoints[stage] = str(path)
        by_checkpoint[stage] = {"step": step, **resynthesis_quality(model, dev)}

    cpu0 = time.process_time()
    result = train_codec(codec, train, cfg, teacher=teacher, on_checkpoint=on_checkpoint,
                         desc=name, progress=progress)
    timing = {"reused": False, "train_seconds": result["train_seconds"]}
    record = {
        "family": dataclasses.asdict(spec.family),
        "labels": spec.family.labels(),
        "held_out": spec.held_out,
        "checkpoints": checkpoints,
        "token_lm": None,
        "parameters": sum(p.numel() for p in codec.parameters()),
        "frame_rate_hz": codec.frame_rate_hz,
        "bits_per_frame": codec.bits_per_frame,
        "bitrate_kbps": codec.bitrate_kbps,
        "steps": result["steps"],
        "final_terms": result["final_terms"],
        "quality": {**by_checkpoint["late"], "by_checkpoint": by_checkpoint},
        "trivial": resynthesis_quality(None, dev, seed=seed),
        "teacher": (params.teacher_path or "random-whisper") if teacher is not None else None,
        "config": dataclasses.asdict(spec.config),
    }
    if spec.token_lm:
        start = time.perf_counter()
        content, _ = codes_of(codec, train)
        plans = plans_of(codec, train, content, PLAN_BANDS)
        lm = train_token_lm(content, TokenLMConfig(tuple(codec.codebook_sizes),
                                                   plan_bands=PLAN_BANDS),
                            steps=params.lm_steps, seq_frames=params.lm_seq_frames, seed=seed,
                            progress=progress, desc=f"{name} lm", plans=plans)
        path = out / "token_lm.pt"
        with atomic_path(path) as tmp:
            save_token_lm(lm, tmp, codec=name)
        record["token_lm"] = str(path)
        record["token_lm_loss"] = lm.final_loss
        timing["token_lm_seconds"] = time.perf_counter() - start
    timing["cpu_seconds"] = time.process_time() - cpu0
    record["fingerprint"] = fingerprint
    write_json(out / "record.json", record)
    return {**record, "timing": timing}


def tracked_zoo(zoo: dict) -> dict:
    """``zoo`` without what changes run to run (timings, worker count): ``data/codecs/zoo.json``."""
    return {"codecs": {n: {k: v for k, v in rec.items() if k != "timing"}
                       for n, rec in zoo["codecs"].items()},
            "sample_rate_hz": zoo["sample_rate_hz"]}


def build_zoo(params: CodecsParams, progress: bool = True) -> dict:
    """Train all selected codecs (``params.workers`` at a time); returns the zoo: per codec its
    record (+ ``timing``), and ``wall_seconds`` / ``workers`` (``tracked_zoo`` drops those)."""
    names = params.selected()
    # heaviest first, so the last worker is not left alone with a big codec
    names.sort(key=lambda n: -sum(p.numel() for p in build_codec(ZOO_CODECS[n].config).parameters()))
    start, records = time.perf_counter(), {}
    bar = tqdm(total=len(names), desc="codec zoo", disable=not progress)
    if params.workers == 1:
        for name in names:
            records[name] = train_zoo_codec(name, params, params.out_dir, progress=progress)
            bar.update()
    else:
        with ProcessPoolExecutor(params.workers, mp_context=get_context("spawn"),
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(train_zoo_codec, n, params, params.out_dir): n for n in names}
            for fut in as_completed(futures):
                name = futures[fut]
                records[name] = fut.result()
                bar.update()
                bar.set_postfix_str(f"{name} mel {records[name]['quality']['mel_distance']:.2f}")
    bar.close()
    ordered = {n: records[n] for n in params.selected()}
    return {"codecs": ordered, "wall_seconds": time.perf_counter() - start,
            "workers": params.workers, "sample_rate_hz": SAMPLE_RATE_HZ}
