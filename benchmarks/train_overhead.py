"""B4 - a training step under Ray Train vs the same step in a bare PyTorch loop, 1 and 2 workers.

    python -m benchmarks --only train_overhead

Both sides run the identical step (``benchmarks.steps.step_times``: forward, backward, AdamW)
of a tiny model on the same pre-built batches with one intra-op thread. The Ray side runs
inside ``TorchTrainer`` (``prepare_model``, ``ray.train.report`` every 10 steps as the
training loop's epoch boundary does) with one worker and, for the DDP cost, two (gloo
all-reduce; on 2 cores the ranks share the cores with the driver). The bare loop runs before
and after the Ray runs (load drifts) and its better run counts. Steady steps exclude the
warm-up; the Ray start-up (cluster + worker group) is reported apart.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

# Ray gives its workers OMP_NUM_THREADS=1 before torch starts OpenMP; the bare side must too,
# or it pays for an OpenMP pool that set_num_threads(1) only shrinks
os.environ["OMP_NUM_THREADS"] = "1"

import torch

from benchmarks.measure import Figure, Side, Timing
from benchmarks.steps import batches, build, step_times


def loop(cfg: dict, report=None) -> list[float]:
    torch.set_num_threads(1)
    model, mcfg = build(cfg["variant"], "tiny", cfg["num_samples"])
    if report is not None:
        import ray.train.torch

        model = ray.train.torch.prepare_model(model)
    data = batches(mcfg, cfg["batch"], cfg["steps"], whisper=mcfg.uses_whisper)
    times = []
    for i in range(0, len(data), 10):  # report at every 10 steps, like an epoch boundary
        times += step_times(model, data[i:i + 10])
        if report is not None:
            report({"step": i + 10})
    return times


def ray_loop(cfg: dict) -> None:
    import ray.train

    times = loop(cfg, report=ray.train.report)
    rank = ray.train.get_context().get_world_rank()
    Path(cfg["out"]).joinpath(f"rank{rank}.json").write_text(json.dumps(times))


def under_ray(cfg: dict, workers: int, out: Path) -> tuple[list[float], float]:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    TorchTrainer(ray_loop, train_loop_config={**cfg, "out": str(out)},
                 scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": 1}),
                 torch_config=TorchConfig(backend="gloo"),
                 run_config=RunConfig(storage_path=str(out / "storage"))).fit()
    return json.loads((out / "rank0.json").read_text()), time.perf_counter() - started


def run(work: Path, *, variant: str, batch: int, num_samples: int, steps: int,
        warmup: int) -> dict:
    import ray

    cfg = {"variant": variant, "batch": batch, "num_samples": num_samples, "steps": steps}
    bare_before = loop(cfg)
    root = str(Path(__file__).resolve().parents[1])  # the workers import benchmarks.*
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": root, "OMP_NUM_THREADS": "1"}})
    try:
        one, one_wall = under_ray(cfg, 1, work / "w1")
        two, two_wall = under_ray(cfg, 2, work / "w2")
    finally:
        ray.shutdown()
    bare_after = loop(cfg)
    steady = {name: Timing(tuple(t[warmup:])) for name, t in
              (("bare_before", bare_before), ("bare_after", bare_after), ("ray1", one), ("ray2", two))}
    bare = min(steady["bare_before"], steady["bare_after"], key=lambda t: t.best_s)
    figures = [Figure("B4.ray_1worker", "training step, bare loop vs Ray Train 1 worker", "s/step",
                      False, Side.of_time("bare", bare), Side.of_time("Ray Train", steady["ray1"])),
               Figure("B4.ray_2workers", "training step, bare loop vs Ray Train 2 workers (DDP, "
                      "gloo, shared cores)", "s/step", False, Side.of_time("bare", bare),
                      Side.of_time("Ray Train x2", steady["ray2"]),
                      note="per-rank step; 2 ranks process 2 batches per step, so the throughput "
                           f"ratio is 2 x this; start-up: 1 worker {one_wall:.1f} s, 2 workers "
                           f"{two_wall:.1f} s, bare {sum(bare.seconds):.1f} s for {steps} steps")]
    return {"figures": [f.to_dict() for f in figures],
            "details": {"config": cfg, "warmup": warmup,
                        "steps_s": {k: list(v.seconds) for k, v in steady.items()},
                        "wall_s_incl_startup": {"ray_1worker": round(one_wall, 2),
                                                "ray_2workers": round(two_wall, 2)}}}


QUICK = {"variant": "w2v2_aasist", "batch": 4, "num_samples": 16_000, "steps": 30, "warmup": 5}
FULL = {**QUICK, "steps": 60}
SMOKE = {**QUICK, "steps": 10, "warmup": 2}
