"""silero-vad memory and time for one long clip among 7 short ones, grouped by length with the
padding bound (``pipelines.dataset.vad.length_groups``) vs padded to the longest clip.

    python -m benchmarks --only vad_long_clip

Each variant runs in a fresh process (peak RSS = that process's ``ru_maxrss``), torch on one
thread as in a Ray VAD task. Clips: ``vad_batching.make_clips``; the long clip is them
repeated to ``long_s`` seconds. Segments must be identical in both variants.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.fixtures import ROOT
from benchmarks.measure import Figure, Side, Timing

SR = 16000


def run_variant(max_padding: float, long_s: int) -> dict:
    """In this process: VAD of the clips with ``max_padding``; seconds, peak RSS, segments."""
    import torch
    from silero_vad import load_silero_vad

    from benchmarks.vad_batching import make_clips
    from pipelines.dataset.vad import length_groups, speech_segments_batch
    from pipelines.params.vad import VadParams

    torch.set_num_threads(1)
    model = load_silero_vad()
    short = make_clips(7)
    long = np.tile(np.concatenate(short), 1 + long_s * SR // sum(len(c) for c in short))[:long_s * SR]
    clips = short[:3] + [long] + short[3:]
    cfg = VadParams()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    segments = speech_segments_batch(clips, model, cfg, max_padding=max_padding)
    return {"max_padding": max_padding, "seconds": time.perf_counter() - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_vad_mb": base_rss / 1024,
            "groups": [len(g) for g in length_groups([len(c) for c in clips], cfg.forward_batch,
                                                     max_padding)],
            "segments": json.dumps(segments)}


def in_process(max_padding: float, long_s: int) -> dict:
    code = (f"import json; from benchmarks.vad_long_clip import run_variant; "
            f"print(json.dumps(run_variant(float('{max_padding}'), {long_s})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(work: Path, *, long_s: int, repeats: int) -> dict:
    runs: dict[str, list[dict]] = {"padded": [], "groups": []}
    for _ in range(repeats):
        runs["padded"].append(in_process(float("inf"), long_s))
        runs["groups"].append(in_process(2.0, long_s))
    assert runs["padded"][0]["segments"] == runs["groups"][0]["segments"], "segments differ"
    seconds = {k: Timing(tuple(r["seconds"] for r in v)) for k, v in runs.items()}
    rss = {k: min(r["peak_rss_mb"] for r in v) for k, v in runs.items()}
    figures = [Figure("X.vad_long_clip_time", f"silero-vad, 7 short clips + 1 of {long_s} s: "
                      "padded to the longest vs length groups", "s", False,
                      Side.of_time("padded", seconds["padded"]), Side.of_time("groups", seconds["groups"])),
               Figure("X.vad_long_clip_rss", "the same: peak RSS of the process", "MB", False,
                      Side.single("padded", rss["padded"]), Side.single("groups", rss["groups"]))]
    return {"figures": [f.to_dict() for f in figures],
            "details": {k: [{x: y for x, y in r.items() if x != "segments"} for r in v]
                        for k, v in runs.items()} | {"identical_segments": True}}


QUICK = {"long_s": 120, "repeats": 1}
FULL = {"long_s": 600, "repeats": 1}
SMOKE = {"long_s": 20, "repeats": 1}
