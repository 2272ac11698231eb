"""Check a converted Whisper by transcribing espeak-ng speech and scoring the word error rate.

    python -m pipelines.whisper.check data/whisper/tiny.en      # prints and writes reports/whisper_wer.json

Synthetic speech is robotic, so the WER is an upper bound on what the real model does on
real speech; a broken conversion (a transposed or mis-split weight) gives WER near 1.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import typer
from scipy.signal import resample_poly

from pipelines.common.io import write_json
from sastnet.audio import SAMPLE_RATE_HZ

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The rainbow is a division of white light into many beautiful colors.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "She can scoop these things into three red bags.",
    "People look for the pot of gold at the end of the rainbow.",
)


def normalize_words(text: str) -> list[str]:
    """Lower case, punctuation dropped, split on spaces (enough for espeak-ng sentences)."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_error_rate(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER: total word edits / total reference words."""
    ref_words = [normalize_words(r) for r in refs]
    edits = sum(edit_distance(r, normalize_words(h)) for r, h in zip(ref_words, hyps, strict=True))
    return edits / max(1, sum(len(r) for r in ref_words))


def synthesize(text: str, voice: str = "en-us", sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Speak ``text`` with espeak-ng (22.05 kHz) and resample to ``sample_rate_hz``."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-w", tmp.name, text], check=True,
                       capture_output=True)
        wave, sr = sf.read(tmp.name, dtype="float32")
    return resample_poly(wave, sample_rate_hz, sr).astype(np.float32)


@torch.inference_mode()
def transcribe(model_dir: str | Path, waves: list[np.ndarray]) -> list[str]:
    """Greedy transcription with transformers' ``generate`` (English, no timestamps)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    processor = WhisperProcessor.from_pretrained(model_dir)
    model = WhisperForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    feats = processor(waves, sampling_rate=SAMPLE_RATE_HZ, return_tensors="pt").input_features
    tokens = model.generate(feats, max_new_tokens=64)
    return [t.strip() for t in processor.batch_decode(tokens, skip_special_tokens=True)]


def check_transcription(model_dir: str | Path, sentences=SENTENCES) -> dict:
    waves = [synthesize(s, voice) for s, voice in zip(sentences, ["en-us", "en"] * len(sentences))]
    hyps = transcribe(model_dir, waves)
    return {"model": str(model_dir), "wer": word_error_rate(list(sentences), hyps),
            "clips": [{"ref": r, "hyp": h} for r, h in zip(sentences, hyps)]}


def main(model_dir: Path = typer.Argument(..., help="converted Whisper transformers directory"),
         out: Path = typer.Option(Path("reports/whisper_wer.json"), help="report to write"),
         ) -> None:
    """Word error rate of a converted Whisper on a few synthesized sentences."""
    result = check_transcription(model_dir)
    write_json(out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    typer.run(main)
