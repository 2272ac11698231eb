"""B1 - epoch cost: SASTNet training steps with precomputed Whisper features vs Whisper run
online in every step as the release does it (feature extractor + the 30 s encoder per batch),
same model, same batches, at tiny and paper shapes; the ratio and an extrapolation to a run.

    python -m benchmarks --only epoch_cost

Tiny: tiny SASTNet (default profile input, 24,000 samples) with the converted Whisper tiny.en.
Paper: SASTNet at paper sizes (XLS-R 300M-shaped wav2vec 2.0, random init) with a
Whisper-small-shaped encoder (d_model 768, 12 layers, random init), 82,200 samples, a small
batch and a few steps (what 2 CPU cores allow). Steps alternate online / precomputed; the first
of each is a warm-up. Reading the stored features is the loader's cost (B2), not counted here.

Extrapolation (labelled as such in the result): a run of ``epochs`` over ``clips`` clips costs
``epochs * clips / batch`` steps; precomputing pays the Whisper encoder once per clip (the
features stage, fast variant ``fast_s_per_clip`` or faithful) instead of once per clip per epoch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.fixtures import whisper_dir
from benchmarks.measure import Figure, Side, Timing
from benchmarks.steps import MEASURED, batches, build, step_times, whisper_small_shaped


def whisper_tiny():
    from transformers import WhisperFeatureExtractor

    from sastnet.whisper import load_whisper_encoder

    model = str(whisper_dir())
    return load_whisper_encoder(model), WhisperFeatureExtractor.from_pretrained(
        model, local_files_only=True)


def measure_shape(size: str, batch: int, num_samples: int, steps: int) -> tuple[Timing, Timing]:
    """(online, precomputed) step timings, the steps interleaved on the same batches."""
    from sastnet.whisper import whisper_features

    torch.set_num_threads(1)
    encoder, fe = whisper_tiny() if size == "tiny" else whisper_small_shaped()
    model, cfg = build("sastnet", size, num_samples)
    data = batches(cfg, batch, steps + 1, whisper=True)

    def online(wave: torch.Tensor) -> torch.Tensor:
        waves = [w.numpy() for w in wave]
        return torch.from_numpy(whisper_features(encoder, fe, waves, faithful=True))

    times: dict[str, list[float]] = {"online": [], "precomputed": []}
    for item in data:  # alternate, so drifting load hits both sides alike
        times["online"] += step_times(model, [item], before_step=online)
        times["precomputed"] += step_times(model, [item])
    out = (Timing(tuple(times["online"][1:])), Timing(tuple(times["precomputed"][1:])))
    MEASURED[("sastnet", size, batch, num_samples)] = out[1]  # B2 reuses this step
    return out


def extrapolate(online: Timing, pre: Timing, batch: int, clips: int, epochs: int,
                encode_s_per_clip: float) -> dict:
    """Training hours of a run, online vs precomputed (+ the one-off features stage)."""
    steps = epochs * clips / batch
    online_h = steps * online.best_s / 3600
    pre_h = steps * pre.best_s / 3600 + clips * encode_s_per_clip / 3600
    return {"label": "extrapolation, not measured", "clips": clips, "epochs": epochs,
            "batch": batch, "online_h": round(online_h, 2), "precomputed_h": round(pre_h, 2),
            "ratio": round(online_h / pre_h, 2),
            "features_stage_h": round(clips * encode_s_per_clip / 3600, 3)}


def run(work: Path, *, shapes: dict[str, dict]) -> dict:
    figures, details = [], {}
    for size, shape in shapes.items():
        online, pre = measure_shape(size, shape["batch"], shape["num_samples"], shape["steps"])
        figures.append(Figure(
            f"B1.epoch_{size}", f"{size} shape: training step, Whisper online (release) vs "
            "precomputed features", "s/clip", False,
            Side.of_time("online Whisper", online, shape["batch"]),
            Side.of_time("precomputed", pre, shape["batch"]),
            note=f"batch {shape['batch']} x {shape['num_samples']} samples; the Whisper share of "
                 f"an online step: {1 - pre.best_s / online.best_s:.0%}"))
        whisper_s = max(online.best_s - pre.best_s, 0.0) / shape["batch"]  # faithful, per clip
        details[size] = {**shape, "online_s": list(online.seconds),
                         "precomputed_s": list(pre.seconds),
                         "whisper_faithful_s_per_clip": round(whisper_s, 4),
                         "run": extrapolate(online, pre, shape["batch"], shape["run_clips"],
                                            shape["run_epochs"], whisper_s)}
    notes = [f"B1 {size}: a run of {d['run']['epochs']} epochs x {d['run']['clips']} clips: "
             f"online {d['run']['online_h']} h vs precomputed {d['run']['precomputed_h']} h "
             f"(features stage included) = {d['run']['ratio']}x ({d['run']['label']})"
             for size, d in details.items()]
    return {"figures": [f.to_dict() for f in figures], "details": details, "notes": notes}


# run_*: the default profile trains 16 epochs x 75 steps x 8 clips; the paper 40 epochs over
# CodecFake+'s training list (tens of thousands of clips: 50,000 taken here as the scale)
TINY = {"batch": 8, "num_samples": 24_000, "steps": 4, "run_clips": 600, "run_epochs": 16}
PAPER = {"batch": 1, "num_samples": 82_200, "steps": 2, "run_clips": 50_000, "run_epochs": 40}
QUICK = {"shapes": {"tiny": TINY, "paper": PAPER}}
FULL = {"shapes": {"tiny": {**TINY, "steps": 10}, "paper": {**PAPER, "batch": 2, "steps": 3}}}
SMOKE = {"shapes": {"tiny": {**TINY, "batch": 2, "steps": 1}}}

