"""silero-vad: clips one by one (``get_speech_timestamps``) vs length-sorted batches (same output).

    python -m benchmarks --only vad_batching

Clips are espeak-ng sentences padded with 0.2-1.2 s of silence and a faint noise floor, like
the default corpus. One process, torch on one thread (as in a Ray VAD task).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.measure import Figure, Side, interleaved
from benchmarks.registry import Skip
from sastnet.audio import SAMPLE_RATE_HZ

SENTENCES = ["Please call Stella.", "Ask her to bring these things with her from the store.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese.",
             "We also need a small plastic snake and a big toy frog for the kids.",
             "She can scoop these things into three red bags.", "And we will go meet her Wednesday."]


def make_clips(count: int, seed: int = 0) -> list[np.ndarray]:
    """espeak-ng sentences at varied speeds, silence-padded, with a -60 dBFS noise floor."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        raise Skip("espeak-ng and sox are needed for the VAD clips")
    rng = np.random.default_rng(seed)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            raw, out = Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}_16k.wav"
            subprocess.run(["espeak-ng", "-s", str(int(rng.integers(130, 190))), "-w", str(raw),
                            SENTENCES[i % len(SENTENCES)]], check=True)
            subprocess.run(["sox", str(raw), "-r", str(SAMPLE_RATE_HZ), str(out)], check=True)
            speech, _ = sf.read(out, dtype="float32")
            pads = [np.zeros(int(rng.uniform(0.2, 1.2) * SAMPLE_RATE_HZ), np.float32) for _ in range(2)]
            wave = np.concatenate([pads[0], speech, pads[1]])
            clips.append(wave + (10 ** (-60 / 20) * rng.standard_normal(len(wave))).astype(np.float32))
    return clips


def run(work: Path, *, clips: int, forward_batch: int, repeats: int) -> dict:
    import torch
    from silero_vad import load_silero_vad

    from pipelines.dataset.vad import speech_segments, speech_segments_batch
    from pipelines.params.vad import VadParams

    torch.set_num_threads(1)
    model = load_silero_vad()
    cfg = VadParams(forward_batch=forward_batch)
    waves = make_clips(clips)
    out: dict[str, list] = {}
    t = interleaved({
        "one": lambda: out.__setitem__("one", [speech_segments(c, model, cfg) for c in waves]),
        "batch": lambda: out.__setitem__("batch", speech_segments_batch(waves, model, cfg))},
        repeats)
    assert out["batch"] == out["one"], "batched segments differ from silero's reference path"
    audio_s = sum(len(c) for c in waves) / SAMPLE_RATE_HZ
    fig = Figure("X.vad_batching", f"silero-vad, {clips} clips: one by one vs batched "
                 f"({forward_batch} windows per call)", "clips/s", True,
                 Side.of_rate("one by one", t["one"], clips), Side.of_rate("batched", t["batch"], clips),
                 note=f"identical segments; real-time factor batched {t['batch'].best_s / audio_s:.4f}")
    return {"figures": [fig.to_dict()], "details": {"audio_s": round(audio_s, 1),
                                                    "identical_segments": True}}


QUICK = {"clips": 32, "forward_batch": 32, "repeats": 2}
FULL = {"clips": 64, "forward_batch": 32, "repeats": 3}
SMOKE = {"clips": 4, "forward_batch": 32, "repeats": 1}
