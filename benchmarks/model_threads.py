"""Tiny SASTNet training step with 1 vs 2 torch threads (CPU), each in a fresh process.

    python -m benchmarks --only model_threads

On a shared, loaded machine OpenMP threads spin against each other; this measures whether
pinning one thread per process pays off here (it decides the model tests' setting).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.fixtures import ROOT
from benchmarks.measure import Figure, Side, Timing


def child(threads: int, steps: int) -> list[float]:
    """Step seconds in this process with ``threads`` torch threads (forward + backward)."""
    import torch

    from sastnet.models import build_model, model_config

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = model_config("sastnet", "aux", "tiny", num_samples=16_000)
    model = build_model(cfg)
    wave, whisper = torch.randn(2, 16_000), torch.randn(2, 128, cfg.fusion.whisper_dim)
    labels = torch.tensor([0, 1])
    model(wave, whisper, labels=labels).loss.backward()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model(wave, whisper, labels=labels).loss.backward()
        times.append(time.perf_counter() - start)
    return times


def in_process(threads: int, steps: int) -> list[float]:
    code = f"import json; from benchmarks.model_threads import child; print(json.dumps(child({threads}, {steps})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(work: Path, *, steps: int, repeats: int) -> dict:
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):  # interleaved processes
        for threads in (1, 2):
            times[threads] += in_process(threads, steps)
    fig = Figure("X.model_threads", "tiny SASTNet step (batch 2 x 1 s), 2 vs 1 torch threads",
                 "s/step", False, Side.of_time("1 thread", Timing(tuple(times[1]))),
                 Side.of_time("2 threads", Timing(tuple(times[2]))))
    return {"figures": [fig.to_dict()], "details": {"steps_s": {str(k): v for k, v in times.items()}}}


QUICK = {"steps": 3, "repeats": 2}
FULL = {"steps": 5, "repeats": 3}
SMOKE = {"steps": 1, "repeats": 1}
