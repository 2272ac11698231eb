"""Per-step cost of Ray Train vs a bare single-process PyTorch loop (same model, cached batches).

    python benchmarks/train_overhead.py [--steps 30] [--variant w2v2_aasist] [--batch 4]

Both sides run the identical step (forward, backward, AdamW) of the tiny model on the same
pre-built batches with one intra-op thread; the Ray side runs inside ``TorchTrainer`` with one
worker (``prepare_model``, ``ray.train.report`` every 10 steps, as the training loop's
epoch boundary does) and, for the DDP cost, with two workers (gloo all-reduce; on a 2-core
machine the two ranks share the cores, so read that line as an upper bound). Steady-state
step time excludes start-up; the start-up (Ray cluster + worker group) is reported apart.
Writes ``benchmarks/results/train_overhead.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

# Same thread set-up as Ray gives its workers (OMP_NUM_THREADS=1 before torch starts OpenMP);
# without it the bare side pays for an OpenMP pool that set_num_threads(1) only shrinks.
os.environ["OMP_NUM_THREADS"] = "1"

import torch
import typer

from pipelines.common.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "train_overhead.json"


def make_batches(variant: str, batch: int, num_samples: int, n: int) -> tuple[list, int]:
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(batch, num_samples, generator=g),
                torch.randint(0, 4, (batch,), generator=g)) for _ in range(n)]
    return batches, num_samples


def run_steps(model, batches, report=None) -> list[float]:
    from sastnet.models import param_groups

    inner = model.module if hasattr(model, "module") else model
    opt = torch.optim.AdamW(param_groups(inner, 1e-4), lr=1e-4)
    times = []
    for i, (wave, labels) in enumerate(batches):
        start = time.perf_counter()
        out = model(wave, None, labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
        if report and (i + 1) % 10 == 0:
            report({"step": i + 1})
    return times


def build(cfg: dict):
    from sastnet.models import build_model, model_config

    torch.manual_seed(0)
    return build_model(model_config(cfg["variant"], "aux", "tiny", num_samples=cfg["num_samples"]))


def bare(cfg: dict) -> list[float]:
    torch.set_num_threads(1)
    batches, _ = make_batches(cfg["variant"], cfg["batch"], cfg["num_samples"], cfg["steps"])
    return run_steps(build(cfg), batches)


def ray_loop(cfg: dict) -> None:
    import ray.train
    import ray.train.torch

    torch.set_num_threads(1)
    batches, _ = make_batches(cfg["variant"], cfg["batch"], cfg["num_samples"], cfg["steps"])
    model = ray.train.torch.prepare_model(build(cfg))
    times = run_steps(model, batches, report=lambda m: ray.train.report(m))
    Path(cfg["out"]).joinpath(f"rank{ray.train.get_context().get_world_rank()}.json").write_text(
        json.dumps(times))


def under_ray(cfg: dict, workers: int, out: Path) -> tuple[list[float], float]:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    TorchTrainer(ray_loop, train_loop_config={**cfg, "out": str(out)},
                 scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": 1}),
                 torch_config=TorchConfig(backend="gloo"),
                 run_config=RunConfig(storage_path=str(out / "storage"))).fit()
    wall = time.perf_counter() - started
    return json.loads((out / "rank0.json").read_text()), wall


def steady(times: list[float], warmup: int) -> float:
    """Fastest steady-state step: on a shared machine the minimum is the least disturbed
    estimate of the step's own cost (medians are also stored)."""
    return min(times[warmup:])


def main(steps: int = typer.Option(30, help="training steps per run"),
         warmup: int = typer.Option(5, help="first steps left out of the medians"),
         variant: str = typer.Option("w2v2_aasist", help="model variant (tiny size)"),
         batch: int = typer.Option(4, help="batch size"),
         num_samples: int = typer.Option(16000, help="input length (samples)")) -> None:
    """Per-step cost of Ray Train vs a bare single-process PyTorch loop (same model, cached batches)."""
    cfg = {"variant": variant, "batch": batch, "num_samples": num_samples,
           "steps": steps}
    import tempfile

    import ray

    bare_before = bare(cfg)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        one, one_wall = under_ray(cfg, 1, Path(tmp) / "w1")
        two, two_wall = under_ray(cfg, 2, Path(tmp) / "w2")
    ray.shutdown()
    bare_after = bare(cfg)  # bare runs on both sides of the Ray runs: load drifts on shared machines
    bare_times = min(bare_before, bare_after, key=lambda t: steady(t, warmup))
    b, r1, r2 = (steady(t, warmup) for t in (bare_times, one, two))
    result = {
        "config": cfg, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                   "torch": torch.__version__},
        "bare_step_s": b, "ray_1worker_step_s": r1, "ray_2workers_step_s": r2,
        "ray_1worker_overhead_pct": 100 * (r1 / b - 1),
        "ray_2workers_overhead_pct": 100 * (r2 / b - 1),
        "ray_1worker_wall_s_incl_startup": one_wall, "ray_2workers_wall_s_incl_startup": two_wall,
        "bare_wall_s": sum(bare_times),
        "median_step_s": {name: statistics.median(t[warmup:]) for name, t in
                          (("bare_before", bare_before), ("bare_after", bare_after),
                           ("ray_1worker", one), ("ray_2workers", two))},
        "load_average": os.getloadavg(),
    }
    write_json(RESULTS, result)
    print(f"{'':24}{'step (min)':>14}{'vs bare':>10}   load average {os.getloadavg()[0]:.1f}")
    print(f"{'bare PyTorch':24}{b:>13.3f}s{'1.00x':>10}")
    print(f"{'Ray Train, 1 worker':24}{r1:>13.3f}s{r1 / b:>9.2f}x")
    print(f"{'Ray Train, 2 workers':24}{r2:>13.3f}s{r2 / b:>9.2f}x  (DDP, shared cores)")
    print(f"start-up + {steps} steps: bare {sum(bare_times):.1f}s, Ray 1 worker {one_wall:.1f}s, "
          f"2 workers {two_wall:.1f}s -> {RESULTS}")


if __name__ == "__main__":
    typer.run(main)
