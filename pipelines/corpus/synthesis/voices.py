"""Synthetic speakers: fixed settings of Debian's offline synthesizers, and how to run them.

A *speaker* is one fixed (engine, voice, variant, pitch, speed) setting, so each speaker sounds
the same in every clip, as a real speaker would. Engines (``../shared/reference/offline-assets.md``):
espeak-ng 1.51 (22.05 kHz, voice variants ``+f1..+f5``/``+m1..+m7``), flite 2.2 (``kal`` 8 kHz,
``kal16``/``awb``/``rms``/``slt`` 16 kHz) and festival 2.5 (diphone voices 16 kHz, HTS 32 kHz).
Every output is resampled to 16 kHz mono float32 here.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from sastnet.audio import SAMPLE_RATE_HZ

__all__ = ["SPEAKER_POOL", "SpeakerVoice", "SynthesisError", "missing_engines", "synthesize",
           "synthesize_many"]

ENGINE_BINARIES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}
DEBIAN_PACKAGES = {"espeak-ng": "espeak-ng", "flite": "flite",
                   "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}


class SynthesisError(RuntimeError):
    """A synthesizer failed or is not installed."""


@dataclass(frozen=True)
class SpeakerVoice:
    """One synthetic speaker: an engine setting that never changes between clips."""

    engine: str  # "espeak-ng" | "flite" | "festival"
    voice: str  # engine voice name (espeak-ng language voice, flite voice, festival voice_<name>)
    variant: str = ""  # espeak-ng variant, e.g. "f3"
    pitch: int = 50  # espeak-ng -p (0..99); flite mean F0 in Hz; unused by festival
    speed: float = 1.0  # words-per-minute factor (espeak-ng) or 1 / duration stretch
    gender: str = "m"

    def describe(self) -> str:
        variant = f"+{self.variant}" if self.variant else ""
        return f"{self.engine}:{self.voice}{variant} pitch={self.pitch} speed={self.speed}"


# Ordered so that any prefix mixes engines and genders: the default corpus takes the first N.
SPEAKER_POOL: tuple[SpeakerVoice, ...] = (
    SpeakerVoice("espeak-ng", "en-us", "m1", 45, 1.00, "m"),
    SpeakerVoice("flite", "slt", "", 0, 1.00, "f"),
    SpeakerVoice("festival", "kal_diphone", "", 0, 1.00, "m"),
    SpeakerVoice("espeak-ng", "en-gb", "f2", 70, 0.95, "f"),
    SpeakerVoice("flite", "awb", "", 0, 0.95, "m"),
    SpeakerVoice("festival", "cmu_us_slt_arctic_hts", "", 0, 1.00, "f"),
    SpeakerVoice("espeak-ng", "en-gb-scotland", "m3", 40, 1.05, "m"),
    SpeakerVoice("flite", "rms", "", 0, 1.00, "m"),
    SpeakerVoice("espeak-ng", "en-029", "f4", 65, 0.90, "f"),
    SpeakerVoice("festival", "ked_diphone", "", 0, 0.95, "m"),
    SpeakerVoice("flite", "kal16", "", 0, 1.05, "m"),
    SpeakerVoice("espeak-ng", "en-gb-x-rp", "f1", 75, 1.00, "f"),
    SpeakerVoice("espeak-ng", "en-us", "m5", 35, 0.90, "m"),
    SpeakerVoice("flite", "slt", "", 200, 0.90, "f"),
    SpeakerVoice("espeak-ng", "en-gb-x-gbclan", "f5", 60, 1.10, "f"),
    SpeakerVoice("flite", "kal", "", 0, 1.00, "m"),
    SpeakerVoice("espeak-ng", "en-gb-x-gbcwmd", "m7", 50, 0.95, "m"),
    SpeakerVoice("flite", "rms", "", 90, 1.10, "m"),
    SpeakerVoice("espeak-ng", "en-us", "f3", 80, 1.05, "f"),
    SpeakerVoice("festival", "kal_diphone", "", 0, 0.85, "m"),
    SpeakerVoice("espeak-ng", "en-gb", "m2", 30, 1.00, "m"),
    SpeakerVoice("flite", "awb", "", 130, 1.05, "m"),
    SpeakerVoice("espeak-ng", "en-gb-scotland", "f2", 55, 0.95, "f"),
    SpeakerVoice("espeak-ng", "en-029", "m6", 45, 1.10, "m"),
)


def missing_engines(voices: list[SpeakerVoice]) -> list[str]:
    """Messages for engines the given voices need that are not installed."""
    needed = sorted({v.engine for v in voices})
    return [f"{e}: `{ENGINE_BINARIES[e]}` not on PATH (apt-get install {DEBIAN_PACKAGES[e]})"
            for e in needed if shutil.which(ENGINE_BINARIES[e]) is None]


def _command(voice: SpeakerVoice, text_file: Path, out: Path) -> list[str]:
    text = text_file.read_text()
    if voice.engine == "espeak-ng":
        name = f"{voice.voice}+{voice.variant}" if voice.variant else voice.voice
        wpm = str(round(165 * voice.speed))  # 165 wpm ~ read speech, espeak-ng's default is 175
        return ["espeak-ng", "-v", name, "-s", wpm, "-p", str(voice.pitch), "-w", str(out), text]
    if voice.engine == "flite":
        cmd = ["flite", "-voice", voice.voice, "--setf", f"duration_stretch={1 / voice.speed:.3f}"]
        if voice.pitch:
            cmd += ["--setf", f"int_f0_target_mean={voice.pitch}"]
        return cmd + ["-f", str(text_file), "-o", str(out)]
    raise SynthesisError(f"unknown engine {voice.engine!r}; allowed: {', '.join(ENGINE_BINARIES)}")


def to_16k(wave: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Polyphase resampling to 16 kHz (exact ratio, e.g. 22050 -> 16000 is 320/441)."""
    if sample_rate_hz == SAMPLE_RATE_HZ:
        return wave.astype(np.float32)
    g = gcd(SAMPLE_RATE_HZ, sample_rate_hz)
    return resample_poly(wave, SAMPLE_RATE_HZ // g, sample_rate_hz // g).astype(np.float32)


def _run(cmd: list[str], voice: SpeakerVoice, timeout_s: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise SynthesisError(missing_engines([voice])[0]) from None
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{voice.describe()}: timed out after {timeout_s} s") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-300:]
        raise SynthesisError(f"{voice.describe()}: exit {proc.returncode}: {err}")


def _read(out: Path, voice: SpeakerVoice, text: str) -> np.ndarray:
    if not out.exists() or out.stat().st_size == 0:
        raise SynthesisError(f"{voice.describe()}: wrote no audio for {text!r}")
    wave, sr = sf.read(str(out), dtype="float32", always_2d=True)
    wave = to_16k(wave.mean(axis=1), sr)
    if wave.size == 0 or np.abs(wave).max() < 1e-4:
        raise SynthesisError(f"{voice.describe()}: produced silence for {text!r}")
    return wave


def _festival_script(voice: SpeakerVoice, texts: list[str], outs: list[Path]) -> str:
    """One festival process for many sentences: loading a voice costs more than a sentence.
    Same audio as ``text2wave -eval (voice_x) -eval (Parameter.set ...)`` sentence by sentence."""
    lines = [f"(voice_{voice.voice})", f"(Parameter.set 'Duration_Stretch {1 / voice.speed:.3f})"]
    for text, out in zip(texts, outs):
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{out}" \'riff)')
    return "\n".join(lines) + "\n"


def synthesize_many(voice: SpeakerVoice, texts: list[str], timeout_s: float = 60.0
                    ) -> list[np.ndarray]:
    """Speak each of ``texts`` with ``voice``: 16 kHz mono float32 samples, no padding."""
    with tempfile.TemporaryDirectory(prefix="synth-") as tmp:
        outs = [Path(tmp) / f"out{i}.wav" for i in range(len(texts))]
        if voice.engine == "festival":
            script = Path(tmp) / "batch.scm"
            script.write_text(_festival_script(voice, texts, outs))
            _run(["festival", "-b", str(script)], voice, timeout_s * len(texts))
        else:
            for i, (text, out) in enumerate(zip(texts, outs)):
                text_file = Path(tmp) / f"text{i}.txt"
                text_file.write_text(text + "\n")
                _run(_command(voice, text_file, out), voice, timeout_s)
        return [_read(out, voice, text) for text, out in zip(texts, outs)]


def synthesize(voice: SpeakerVoice, text: str, timeout_s: float = 60.0) -> np.ndarray:
    """Speak ``text`` with ``voice``; returns 16 kHz mono float32 samples (no padding)."""
    return synthesize_many(voice, [text], timeout_s)[0]
