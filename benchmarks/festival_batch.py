"""Festival speakers: one process per sentence vs one process for all sentences (same audio).

    python -m benchmarks --only festival_batch

Both sides produce the same audio (checked); they differ only in how many festival processes
start (each loads the voice). CPU time of the child processes (what the shared cores pay)
and wall time.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.measure import Figure, Side, Timing
from benchmarks.registry import Skip


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(fn) -> tuple[list[np.ndarray], float, float]:
    cpu, wall = _child_cpu_s(), time.perf_counter()
    out = fn()
    return out, _child_cpu_s() - cpu, time.perf_counter() - wall


def run(work: Path, *, sentences: int, voice: str, repeats: int) -> dict:
    if shutil.which("festival") is None:
        raise Skip("festival is not installed")
    from pipelines.corpus.synthesis.sentences import build_sentences
    from pipelines.corpus.synthesis.voices import SPEAKER_POOL, synthesize, synthesize_many

    speaker = next(v for v in SPEAKER_POOL if v.engine == "festival" and v.voice == voice)
    texts = build_sentences(sentences, 1234)
    cpu: dict[str, list[float]] = {"single": [], "batch": []}
    wall: dict[str, list[float]] = {"single": [], "batch": []}
    for _ in range(repeats):
        single, c1, w1 = _measure(lambda: [synthesize(speaker, t) for t in texts])
        batch, c2, w2 = _measure(lambda: synthesize_many(speaker, texts))
        assert all(np.array_equal(a, b) for a, b in zip(single, batch)), "audio differs"
        cpu["single"].append(c1), cpu["batch"].append(c2)
        wall["single"].append(w1), wall["batch"].append(w2)
    figures = [Figure(f"X.festival_{kind}", f"festival, {sentences} sentences: one process each "
                      f"vs one for all ({kind} time)", "s", False,
                      Side.of_time("per sentence", Timing(tuple(d["single"]))),
                      Side.of_time("batched", Timing(tuple(d["batch"]))))
               for kind, d in (("cpu", cpu), ("wall", wall))]
    return {"figures": [f.to_dict() for f in figures],
            "details": {"voice": speaker.describe(), "identical_audio": True}}


QUICK = {"sentences": 10, "voice": "kal_diphone", "repeats": 1}
FULL = {"sentences": 10, "voice": "kal_diphone", "repeats": 3}
SMOKE = {"sentences": 2, "voice": "kal_diphone", "repeats": 1}
