"""The benchmarks the runner knows: name -> figure, title, module, the modes it runs in.

A benchmark module has ``run(work_dir, **settings) -> {"figures": [...], "details": {...},
"notes": [...]}`` and a ``QUICK``, ``FULL`` and ``SMOKE`` dict of settings; it raises ``Skip``
when an input it needs is not on this machine (a tool, the pipeline's data).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Skip(Exception):
    """This benchmark cannot run here; the message says what is missing."""


@dataclass(frozen=True)
class Benchmark:
    name: str  # the module benchmarks/<name>.py and the result file results/<name>.json
    figure: str  # the figure id (B1..B6), or X for the older one-off measurements
    title: str
    modes: tuple[str, ...] = ("quick", "full", "smoke")
    accepts: tuple[str, ...] = ()  # runner-level options it takes (e.g. stage_times)

    def run(self, work: Path, **settings: Any) -> dict:
        return importlib.import_module(f"benchmarks.{self.name}").run(work, **settings)


BENCHMARKS = {b.name: b for b in (
    Benchmark("epoch_cost", "B1", "epoch cost: precomputed Whisper features vs Whisper online "
              "per step"),
    Benchmark("loader_throughput", "B2", "loader: shards vs files, cache, workers; loader vs "
              "training step"),
    Benchmark("whisper_features", "B3", "features stage: 1 vs 2 actors, where the time goes; "
              "fast vs faithful", accepts=("stage_times",)),
    Benchmark("train_overhead", "B4", "Ray Train step vs bare PyTorch loop, 1 and 2 workers"),
    Benchmark("dvc_repro", "B5", "dvc repro: no-op seconds; a run's stage wall and CPU times",
              accepts=("stage_times",)),
    Benchmark("run_split", "B7", "a pipeline run: work vs overhead per stage; a run vs a "
              "baseline run", accepts=("stage_times", "baseline_run")),
    Benchmark("knn_throughput", "B6", "kNN embeddings (1 vs 2 actors) and attribution "
              "throughput"),
    Benchmark("model_threads", "X", "tiny SASTNet step: 1 vs 2 torch threads"),
    Benchmark("trace_onnx", "X", "trace latency per second of audio: PyTorch vs ONNX Runtime "
              "(export folder)"),
    Benchmark("vad_batching", "X", "silero-vad: one by one vs length-sorted batches"),
    Benchmark("vad_long_clip", "X", "silero-vad memory: length groups vs padding to the longest",
              modes=("full",)),
    Benchmark("codec_zoo_step", "X", "codec zoo: CPU seconds per training step", modes=("full",)),
    Benchmark("festival_batch", "X", "festival: one process per sentence vs one per batch",
              modes=("full",)),
    Benchmark("whisper_downstream", "X", "fast vs faithful features: downstream dev F1",
              modes=("full",)),
    Benchmark("whisper_views", "X", "Whisper on K RawBoost views vs on the clean clip: cost and "
              "downstream dev F1", modes=("full",)),
)}


def settings_for(name: str, mode: str) -> dict[str, Any]:
    """The module's settings dict for ``mode`` (``QUICK``, ``FULL`` or ``SMOKE``)."""
    module = importlib.import_module(f"benchmarks.{name}")
    return dict(getattr(module, mode.upper()))
