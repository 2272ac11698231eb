"""CPU cost of one training step of every zoo codec, and the codecs stage time it implies.

    python benchmarks/codec_zoo_step.py [--steps 200] [--workers 2]

Measures process CPU seconds (one torch thread, batch 8 x 1 s, real Whisper teacher if
data/whisper/tiny.en exists) so the estimate holds on a machine other people are loading too:
stage wall on idle cores ~= sum over codecs of steps x CPU-s/step / workers. Writes
benchmarks/results/codec_zoo_step.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import typer

from pipelines.common.io import write_json
from sastnet.codecs import build_codec
from sastnet.codecs.semantic import load_teacher
from sastnet.codecs.train import CodecTrainConfig, codec_loss
from sastnet.codecs.zoo_spec import ZOO_CODECS

TEACHER = Path("data/whisper/tiny.en")


def cpu_per_step(name: str, batch: torch.Tensor, steps: int = 3) -> float:
    spec = ZOO_CODECS[name]
    codec = build_codec(spec.config).train()
    teacher = None
    if spec.config.aux == "semantic":
        teacher = load_teacher(str(TEACHER) if TEACHER.exists() else None, 1.0)
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


def main(steps: int = typer.Option(200, help="training steps per codec to extrapolate to"),
         workers: int = typer.Option(2, help="zoo worker processes (idle cores)")) -> None:
    """CPU seconds per codec-zoo training step, extrapolated to the whole zoo."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    batch = torch.from_numpy((0.1 * rng.standard_normal((8, 16000))).astype(np.float32))
    per_step = {}
    for name in ZOO_CODECS:
        per_step[name] = cpu_per_step(name, batch)
        print(f"{name:24s} {per_step[name]:.3f} CPU-s/step")
    total = sum(per_step.values()) * steps
    wall = total / workers
    print(f"all {len(per_step)} codecs x {steps} steps: {total:.0f} CPU-s "
          f"-> ~{wall / 60:.1f} min on {workers} idle cores (training only)")
    write_json("benchmarks/results/codec_zoo_step.json",
               {"cpu_s_per_step": per_step, "steps": steps, "workers": workers,
                "total_cpu_s": total, "estimated_wall_s": wall})


if __name__ == "__main__":
    typer.run(main)
