"""silero-vad memory and time for one 10-minute clip among 7 short ones, grouped by length
with the padding bound (``pipelines.dataset.vad.length_groups``) vs padded to the longest clip.

    python benchmarks/vad_long_clip.py        # writes benchmarks/results/vad_long_clip.json

Each variant runs in a fresh process (peak RSS = that process's ``ru_maxrss``), torch on one
thread as in a Ray VAD task. Clips are espeak-ng sentences (``vad_batching.make_clips``); the
long clip is them repeated to 600 s. Segments must be identical in both variants.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SR = 16000


def _clips() -> list[np.ndarray]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from vad_batching import make_clips

    short = make_clips(7)
    long = np.tile(np.concatenate(short), 1 + 600 * SR // sum(len(c) for c in short))[:600 * SR]
    return short[:3] + [long] + short[3:]


def run_variant(max_padding: float) -> dict:
    import torch
    from silero_vad import load_silero_vad

    from pipelines.dataset.vad import length_groups, speech_segments_batch
    from pipelines.params.vad import VadParams

    torch.set_num_threads(1)
    model = load_silero_vad()
    clips = _clips()
    cfg = VadParams()
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    segments = speech_segments_batch(clips, model, cfg, max_padding=max_padding)
    seconds = time.perf_counter() - start
    return {"max_padding": max_padding, "seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_vad_mb": round(base_rss / 1024, 1),
            "groups": [len(g) for g in length_groups([len(c) for c in clips], cfg.forward_batch,
                                                     max_padding)],
            "segments_sha": hash(json.dumps(segments))}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--variant":
        print(json.dumps(run_variant(float(sys.argv[2]))))
        return
    results = {}
    for name, padding in (("padded_to_longest", "inf"), ("length_groups", "2.0")):
        out = subprocess.run([sys.executable, __file__, "--variant", padding], capture_output=True,
                             text=True, check=True, env={**__import__("os").environ, "PYTHONHASHSEED": "0"})
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, results[name])
    assert results["padded_to_longest"]["segments_sha"] == results["length_groups"]["segments_sha"]
    report = {"clips": "7 short (espeak-ng, ~2-5 s) + 1 of 600 s", "torch_threads": 1,
              "identical_segments": True, "note": "timed on a shared, loaded machine",
              "machine": platform.platform(), **results}
    out = ROOT / "benchmarks" / "results" / "vad_long_clip.json"
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
