"""Festival speakers: one process per sentence vs one process per 10 sentences.

    python benchmarks/festival_batch.py [--sentences 10] [--voice kal_diphone]

Both sides produce the same audio (checked); they differ only in how many festival processes
start (each loads the voice). Measures CPU time of the child processes (what the 2 shared cores
pay) and wall time. Writes ``benchmarks/results/festival_batch.json``.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.common.io import write_json
from pipelines.corpus.synthesis.sentences import build_sentences  # noqa: E402
from pipelines.corpus.synthesis.voices import SPEAKER_POOL, synthesize, synthesize_many  # noqa: E402


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(fn) -> tuple[list[np.ndarray], float, float]:
    cpu, wall = _child_cpu_s(), time.perf_counter()
    out = fn()
    return out, _child_cpu_s() - cpu, time.perf_counter() - wall


def main(sentences: int = typer.Option(10, help="sentences to synthesize"),
         voice_name: str = typer.Option("kal_diphone", "--voice", help="festival voice")) -> None:
    """Festival speakers: one process per sentence vs one process per 10 sentences."""
    voice = next(v for v in SPEAKER_POOL if v.engine == "festival" and v.voice == voice_name)
    texts = build_sentences(sentences, 1234)
    single, single_cpu, single_wall = _measure(lambda: [synthesize(voice, t) for t in texts])
    batch, batch_cpu, batch_wall = _measure(lambda: synthesize_many(voice, texts))
    assert all(np.array_equal(a, b) for a, b in zip(single, batch)), "audio differs"
    result = {
        "voice": voice.describe(), "sentences": sentences,
        "per_sentence_process": {"cpu_s": round(single_cpu, 3), "wall_s": round(single_wall, 3)},
        "batched_process": {"cpu_s": round(batch_cpu, 3), "wall_s": round(batch_wall, 3)},
        "cpu_ratio": round(single_cpu / max(batch_cpu, 1e-9), 2),
        "wall_ratio": round(single_wall / max(batch_wall, 1e-9), 2),
        "machine": platform.platform(),
    }
    print(f"{sentences} sentences, {voice.describe()}")
    print(f"  one process per sentence: {single_cpu:6.2f} s CPU  {single_wall:6.2f} s wall")
    print(f"  one process for all:      {batch_cpu:6.2f} s CPU  {batch_wall:6.2f} s wall")
    print(f"  ratio: {result['cpu_ratio']}x CPU, {result['wall_ratio']}x wall (same audio)")
    out = ROOT / "benchmarks" / "results" / "festival_batch.json"
    write_json(out, result)


if __name__ == "__main__":
    typer.run(main)
