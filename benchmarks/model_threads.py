"""Training-step time of tiny SASTNet with 1 vs 2 torch threads (CPU).

    python benchmarks/model_threads.py     # writes benchmarks/results/model_threads.json

On a shared, loaded machine OpenMP threads spin against each other; this measures whether
pinning one thread per process pays off here (it decides the model tests' setting).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.common.io import write_json

STEPS = 3


def _step_time() -> float:
    import torch

    from sastnet.models import build_model, model_config
    torch.manual_seed(0)
    cfg = model_config("sastnet", "aux", "tiny", num_samples=16_000)
    model = build_model(cfg)
    wave, whisper = torch.randn(2, 16_000), torch.randn(2, 128, cfg.fusion.whisper_dim)
    labels = torch.tensor([0, 1])
    model(wave, whisper, labels=labels).loss.backward()  # warm-up
    start = time.perf_counter()
    for _ in range(STEPS):
        model(wave, whisper, labels=labels).loss.backward()
    return (time.perf_counter() - start) / STEPS


def main() -> dict:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        import torch
        torch.set_num_threads(int(sys.argv[2]))
        print(_step_time())
        return {}
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    times = {}
    for threads in (1, 2):
        out = subprocess.run([sys.executable, __file__, "--child", str(threads)], env=env,
                             capture_output=True, text=True, check=True)
        times[threads] = float(out.stdout.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    result = {"step_s_1_thread": times[1], "step_s_2_threads": times[2],
              "ratio_2_over_1": times[2] / times[1], "load_avg_1min": load,
              "cpus": os.cpu_count(), "batch": 2, "num_samples": 16_000}
    print(f"tiny SASTNet train step: 1 thread {times[1]:.3f} s | 2 threads {times[2]:.3f} s | "
          f"2/1 = {times[2] / times[1]:.2f}x (load avg {load:.1f}, {os.cpu_count()} CPUs)")
    out_path = root / "benchmarks" / "results" / "model_threads.json"
    write_json(out_path, result)
    return result


if __name__ == "__main__":
    main()
