"""silero-vad: clips one by one (``get_speech_timestamps``) vs length-sorted batches (same output).

    python benchmarks/vad_batching.py [--clips 32] [--forward-batch 16]

Clips are espeak-ng sentences padded with 0.2-1.2 s of silence and a faint noise floor, like the
default corpus. One process, torch on one thread (as in a Ray VAD task). Writes
``benchmarks/results/vad_batching.json``.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.common.io import write_json
from pipelines.dataset.vad import speech_segments, speech_segments_batch
from pipelines.params.vad import VadParams
from sastnet.audio import SAMPLE_RATE_HZ

SR = SAMPLE_RATE_HZ
SENTENCES = ["Please call Stella.", "Ask her to bring these things with her from the store.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese.",
             "We also need a small plastic snake and a big toy frog for the kids.",
             "She can scoop these things into three red bags.", "And we will go meet her Wednesday."]


def make_clips(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            raw, out = Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}_16k.wav"
            subprocess.run(["espeak-ng", "-s", str(int(rng.integers(130, 190))), "-w", str(raw),
                            SENTENCES[i % len(SENTENCES)]], check=True)
            subprocess.run(["sox", str(raw), "-r", str(SR), str(out)], check=True)
            speech, _ = sf.read(out, dtype="float32")
            pads = [np.zeros(int(rng.uniform(0.2, 1.2) * SR), np.float32) for _ in range(2)]
            wave = np.concatenate([pads[0], speech, pads[1]])
            clips.append(wave + (10 ** (-60 / 20) * rng.standard_normal(len(wave))).astype(np.float32))
    return clips


def main(n_clips: int = typer.Option(32, "--clips", help="synthetic clips"),
         forward_batch: int = typer.Option(32, help="windows per silero forward call")) -> None:
    """silero-vad: clips one by one (``get_speech_timestamps``) vs length-sorted batches (same output)."""
    from silero_vad import load_silero_vad

    torch.set_num_threads(1)
    model = load_silero_vad()
    cfg = VadParams(forward_batch=forward_batch)
    clips = make_clips(n_clips)
    audio_s = sum(len(c) for c in clips) / SR
    start = time.perf_counter()
    one_by_one = [speech_segments(c, model, cfg) for c in clips]
    seq_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = speech_segments_batch(clips, model, cfg)
    batch_s = time.perf_counter() - start
    assert batched == one_by_one, "batched segments differ from silero's reference path"
    result = {"clips": n_clips, "audio_s": round(audio_s, 1), "forward_batch": forward_batch,
              "one_by_one_clips_per_s": round(n_clips / seq_s, 2),
              "batched_clips_per_s": round(n_clips / batch_s, 2),
              "ratio_batched_over_one_by_one": round(seq_s / batch_s, 2),
              "real_time_factor_batched": round(batch_s / audio_s, 4),
              "identical_segments": True, "torch_threads": 1, "machine": platform.platform()}
    print(f"{'one by one':>12}: {result['one_by_one_clips_per_s']:7.2f} clips/s")
    print(f"{'batched':>12}: {result['batched_clips_per_s']:7.2f} clips/s  "
          f"({result['ratio_batched_over_one_by_one']:.1f}x, identical segments)")
    out = ROOT / "benchmarks" / "results" / "vad_batching.json"
    write_json(out, result)


if __name__ == "__main__":
    typer.run(main)
