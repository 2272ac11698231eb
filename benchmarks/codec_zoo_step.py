"""CPU seconds of one training step of every zoo codec, and the codecs stage time it implies.

    python -m benchmarks --only codec_zoo_step

Process CPU seconds (one torch thread, batch 8 x 1 s, the converted Whisper teacher for the
semantic codecs), so the estimate holds on a machine others load too: stage wall on idle cores
~= sum over codecs of steps x CPU-s/step / workers. An estimate, not a side-by-side figure:
the result holds a table and no ratio row.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.fixtures import whisper_dir


def cpu_per_step(name: str, batch: torch.Tensor, steps: int) -> float:
    from sastnet.codecs import build_codec
    from sastnet.codecs.semantic import load_teacher
    from sastnet.codecs.train import CodecTrainConfig, codec_loss
    from sastnet.codecs.zoo_spec import ZOO_CODECS

    spec = ZOO_CODECS[name]
    codec = build_codec(spec.config).train()
    teacher = load_teacher(str(whisper_dir()), 1.0) if spec.config.aux == "semantic" else None
    opt = torch.optim.Adam(codec.parameters(), lr=1e-3)
    cfg = CodecTrainConfig()
    for i in range(steps + 1):  # the first step warms up allocators / seeds codebooks
        if i == 1:
            start = time.process_time()
        loss, _ = codec_loss(codec, batch, cfg, teacher)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.process_time() - start) / steps


def run(work: Path, *, measure_steps: int, stage_steps: int, workers: int) -> dict:
    from sastnet.codecs.zoo_spec import ZOO_CODECS

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    batch = torch.from_numpy((0.1 * rng.standard_normal((8, 16000))).astype(np.float32))
    per_step = {name: cpu_per_step(name, batch, measure_steps) for name in ZOO_CODECS}
    total = sum(per_step.values()) * stage_steps
    rows = [f"| {name} | {s:.3f} |" for name, s in per_step.items()]
    table = "\n".join(["| codec | CPU s / step |", "| --- | --- |", *rows])
    return {"figures": [], "tables": [table],
            "notes": [f"all {len(per_step)} codecs x {stage_steps} steps: {total:.0f} CPU-s -> "
                      f"~{total / workers / 60:.1f} min on {workers} idle cores (training only, "
                      "an estimate)"],
            "details": {"cpu_s_per_step": per_step, "stage_steps": stage_steps, "workers": workers,
                        "total_cpu_s": total, "estimated_wall_s": total / workers}}


QUICK = {"measure_steps": 3, "stage_steps": 160, "workers": 2}
FULL = QUICK
SMOKE = {"measure_steps": 1, "stage_steps": 160, "workers": 2}
