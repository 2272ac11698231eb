"""Tiny trained-model folders for the export tests: a random tiny Whisper and ``best/``
checkpoints of tiny models, saved the way training saves them (no training: the tests check
what export and loading do with a model, not its accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from pipelines.train.job import TrainJob, build_job_model

NUM_SAMPLES = 16000  # 1 s windows
WHISPER_DIM = 16
RUN_DIR = Path(__file__).resolve().parent / "fixtures" / "export_run"  # real reports, trimmed


def build_tiny_whisper(path: Path) -> Path:
    """A random Whisper with the real feature extractor, saved as transformers saves it."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=64, d_model=WHISPER_DIM, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, max_target_positions=8,
                        pad_token_id=0, bos_token_id=0, eos_token_id=1, decoder_start_token_id=1)
    WhisperModel(cfg).save_pretrained(path)
    WhisperFeatureExtractor().save_pretrained(path)
    return path


def build_best(models_dir: Path, variant: str, seed: int = 2) -> Path:
    """``models_dir/aux/<variant>/seed<seed>/best``: a seeded tiny model as training saves it."""
    torch.manual_seed(seed)
    overrides = {"fusion": {"whisper_dim": WHISPER_DIM}} if variant == "sastnet" else {}
    job = TrainJob(task="aux", variant=variant, size="tiny", num_samples=NUM_SAMPLES, seed=seed,
                   experiment="seen250", model_overrides=overrides)
    model, _ = build_job_model(job)
    best = models_dir / "aux" / variant / f"seed{seed}" / "best"
    best.mkdir(parents=True)
    torch.save(model.state_dict(), best / "model.pt")
    (best / "config.json").write_text(json.dumps({"job": job.to_dict()}))
    whisper_dim = WHISPER_DIM if model.needs_whisper else None
    (best / "metrics.json").write_text(json.dumps({"epoch": 1, "whisper_dim": whisper_dim}))
    return best


def fast_features(whisper_dir: Path) -> dict:
    """``features`` params of the fast variant (what the default profile runs)."""
    return {"model": str(whisper_dir), "variant": "fast", "fast_seconds": 5.12,
            "num_samples": NUM_SAMPLES}


def speechlike(seconds: float, sr: int, seed: int) -> np.ndarray:
    """A seeded voiced-speech stand-in: harmonics of a wandering pitch, syllable envelope, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = 110 + 40 * rng.random() + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (3 + rng.random()) * t) ** 2
    wave = 0.2 * voiced * envelope + 0.01 * rng.standard_normal(len(t))
    return wave.astype(np.float32)


def clips_of_every_aux_class(folder: Path, seconds: float = 2.5) -> dict[str, Path]:
    """A bona fide clip and its resyntheses by a (seeded, untrained) codec of each AUX family:
    class name -> wav path, one clip per AUX class."""
    from sastnet.codecs import build_codec
    from sastnet.codecs.codec import CodecConfig
    from sastnet.taxonomy import CLASS_NAMES

    wave = speechlike(seconds, 16000, seed=7)
    clips = {CLASS_NAMES["aux"][0]: wave}
    for aux in ("none", "semantic", "disentangle"):
        torch.manual_seed(1)
        codec = build_codec(CodecConfig(aux=aux, strides=(2, 2, 2), channels=4, dim=8,
                                        dec_channels=4, codebook_size=16, semantic_dim=16,
                                        speaker_codebook_size=4)).eval()
        with torch.no_grad():
            out = codec.resynthesize(torch.from_numpy(wave)[None])[0].numpy()
        out = 0.5 * out / max(float(np.abs(out).max()), 1e-6)
        clips[CLASS_NAMES["aux"][codec.family.labels()["aux"]]] = out.astype(np.float32)
    paths = {}
    for name, clip in clips.items():
        paths[name] = folder / f"{name}.wav"
        sf.write(paths[name], clip, 16000, subtype="FLOAT")
    return paths
