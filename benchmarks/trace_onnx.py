"""Trace latency per second of audio: PyTorch vs ONNX Runtime on the same export folder.

    python -m benchmarks --only trace_onnx

The default profile's network (tiny SASTNet, 1.5 s windows, Whisper tiny.en in the fast
variant: what ``sastnet export`` writes for the default run's champion; random weights, as
latency does not depend on them) is exported once with ONNX. The same speech clips are then
traced by ``load_model(folder, "torch")`` and ``load_model(folder, "onnx")``, interleaved, with
the same thread count on both sides (``torch.set_num_threads`` and ONNX Runtime's intra-op
threads). Two figures per thread count: end to end (read, window, Whisper log-mel, network,
averaging: what a user waits for) and the network alone on a batch of windows (where the
backends differ: the log-mel front end is the same numpy code on both sides). With one
thread, both again in CPU seconds of the process: wall time on a shared 2-core machine moves
with whatever else runs (two quick runs at load 9-13 gave end-to-end ratios of 1.48 and 1.03),
CPU time much less.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from benchmarks.fixtures import speech_waves, whisper_dir
from benchmarks.measure import Figure, Side, Timing, interleaved, time_call
from sastnet.audio import SAMPLE_RATE_HZ

NUM_SAMPLES = 24_000  # default profile: train.num_samples (1.5 s)


def export_default_network(work: Path) -> tuple[Path, float]:
    """The export folder of a tiny SASTNet shaped like the default profile's; (folder, seconds)."""
    import torch

    from pipelines.export.source import ExportSource
    from pipelines.export.writer import write_export
    from sastnet.models import build_model, model_config

    torch.manual_seed(0)
    model = build_model(model_config("sastnet", "aux", "tiny", num_samples=NUM_SAMPLES)).eval()
    src = ExportSource(model=model, task="aux", variant="sastnet", seed=None, experiment=None,
                       num_samples=NUM_SAMPLES, temperature=None,
                       features={"model": str(whisper_dir()), "variant": "fast",
                                 "fast_seconds": 5.12, "num_samples": NUM_SAMPLES},
                       source="benchmark: random tiny sastnet")
    folder = work / "export"
    seconds, _ = time_call(lambda: write_export(src, folder, run_dir=work))
    return folder, seconds


def cpu_interleaved(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, Timing]:
    """Like ``interleaved``, in CPU seconds of this process (``time.process_time``): with one
    thread per side, what the work costs whatever else the machine runs (wall time on a shared
    2-core machine moves with the other load)."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return {name: Timing(tuple(t)) for name, t in times.items()}


def run(work: Path, *, clip_s: float, clips: int, repeats: int, threads: tuple[int, ...],
        batch: int) -> dict:
    import torch

    from pipelines.export import load_model

    folder, export_s = export_default_network(work)
    paths = []
    for i, wave in enumerate(speech_waves(clips, int(clip_s * SAMPLE_RATE_HZ))):
        paths.append(work / f"clip{i}.wav")
        sf.write(paths[-1], wave, SAMPLE_RATE_HZ)
    audio_s = clips * clip_s
    windows = np.stack([w[:NUM_SAMPLES] for w in speech_waves(batch, NUM_SAMPLES)])
    figures, details = [], {"export_s": round(export_s, 2), "audio_s": audio_s,
                            "onnx_mb": round((folder / "model.onnx").stat().st_size / 1e6, 2),
                            "safetensors_mb": round(sum(
                                p.stat().st_size for p in folder.rglob("*.safetensors")) / 1e6, 2)}
    previous = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            models = {b: load_model(folder, backend=b, threads=n) for b in ("torch", "onnx")}
            records = {b: m.trace_files(paths) for b, m in models.items()}  # warm-up + check
            probs = {b: [r["results"]["aux"]["probabilities"] for r in recs]
                     for b, recs in records.items()}
            details[f"max_prob_diff_{n}t"] = float(max(
                abs(p[c] - q[c]) for p, q in zip(probs["torch"], probs["onnx"]) for c in p))
            end_to_end = {b: (lambda m=m: m.trace_files(paths)) for b, m in models.items()}
            mel = models["torch"].mel(windows)
            network = {b: (lambda m=m, mel=mel: m.network(windows, mel)) for b, m in models.items()}
            ends = interleaved(end_to_end, repeats)
            nets = interleaved(network, repeats, warmup=True)
            cpu_ends = cpu_interleaved(end_to_end, repeats)
            cpu_nets = cpu_interleaved(network, repeats)
            mel_timing = interleaved({"mel": lambda m=models["torch"]: m.mel(windows)}, repeats)
            details[f"mel_s_per_window_{n}t"] = mel_timing["mel"].best_s / batch
            figures.append(Figure(
                f"X.trace_onnx.{n}t", f"sastnet trace, end to end, {clips} x {clip_s:g} s speech "
                f"clips, {n} thread(s): ONNX Runtime vs PyTorch", "s per audio s", False,
                Side.of_time("PyTorch", ends["torch"], per=audio_s),
                Side.of_time("ONNX Runtime", ends["onnx"], per=audio_s)).to_dict())
            figures.append(Figure(
                f"X.trace_onnx.network.{n}t", f"the network alone (Whisper encoder + SASTNet), "
                f"batch of {batch} x 1.5 s windows, {n} thread(s)", "s per window", False,
                Side.of_time("PyTorch", nets["torch"], per=batch),
                Side.of_time("ONNX Runtime", nets["onnx"], per=batch)).to_dict())
            if n == 1:  # CPU seconds mean something per side only with one thread each
                figures.append(Figure(
                    "X.trace_onnx.cpu.1t", f"sastnet trace, end to end, CPU seconds, {clips} x "
                    f"{clip_s:g} s clips, 1 thread: ONNX Runtime vs PyTorch", "CPU s per audio s",
                    False, Side.of_time("PyTorch", cpu_ends["torch"], per=audio_s),
                    Side.of_time("ONNX Runtime", cpu_ends["onnx"], per=audio_s)).to_dict())
                figures.append(Figure(
                    "X.trace_onnx.network.cpu.1t", f"the network alone, CPU seconds, batch of "
                    f"{batch} x 1.5 s windows, 1 thread", "CPU s per window", False,
                    Side.of_time("PyTorch", cpu_nets["torch"], per=batch),
                    Side.of_time("ONNX Runtime", cpu_nets["onnx"], per=batch)).to_dict())
    finally:
        torch.set_num_threads(previous)
    return {"figures": figures, "details": details,
            "notes": ["random weights (latency does not depend on them); the log-mel front end "
                      "(numpy, shared) is in the end-to-end figure, not the network one"]}


QUICK = {"clip_s": 12.0, "clips": 4, "repeats": 5, "threads": (1,), "batch": 8}
FULL = {"clip_s": 30.0, "clips": 8, "repeats": 5, "threads": (1, 2), "batch": 16}
SMOKE = {"clip_s": 3.0, "clips": 1, "repeats": 1, "threads": (1,), "batch": 2}
