"""Tiny clip manifests with real FLAC files for the shard/loader tests (fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from sastnet.taxonomy import labels_for

# Six seen codecs spanning the classes (AUX None/SEM/Disent, VQ MVQ/SVQ/SQ, DEC TIME/FREQ),
# one with dots in its name, plus one held-out codec that must never reach train/dev.
SEEN_CODECS = ["DAC24", "bigcodec", "spectralcodecs", "SpeechTokenizer_hubert_avg",
               "SemantiCodec_0.35kbps_16k", "ticodec_1g1r"]
HELD_OUT = "snac_24khz"
SR = 16000


def _write(path: Path, rng: np.random.Generator, num_samples: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = (0.1 * rng.standard_normal(num_samples)).astype(np.float32)
    sf.write(path, wave, SR, format="FLAC", subtype="PCM_16")


def _row(key, path, speaker, utt, codec, subset, split, pair_key, codec_seen, n):
    labels = labels_for(codec)
    return dict(key=key, path=str(path), speaker=speaker, utt_id=utt, text=None, codec=codec,
                subset=subset, split=split, seen=None if utt is None else utt <= 250,
                pair_key=pair_key, codec_seen=codec_seen, duration_s=n / SR,
                **{f"label_{t}": v for t, v in labels.items()})


def make_manifest(root: Path, train_utts: int = 6, dev_utts: int = 3,
                  test_utts: tuple[int, ...] = (249, 250, 251, 300), seed: int = 0) -> pd.DataFrame:
    """Clips for train (p001), dev (p002), CoRS test (p003) and CoSG (VALLE seen, MASKGCT unseen)."""
    rng = np.random.default_rng(seed)
    rows = []
    for speaker, split, utts in (("p001", "train", range(1, train_utts + 1)),
                                 ("p002", "dev", range(1, dev_utts + 1)),
                                 ("p003", "test", test_utts)):
        for utt in utts:
            bona = f"{speaker}_{utt:03d}"
            n = int(rng.integers(3000, 9000))
            _write(root / "bonafide" / f"{bona}.flac", rng, n)
            rows.append(_row(bona, root / "bonafide" / f"{bona}.flac", speaker, utt, "bonafide",
                             "CoRS", split, bona, True, n))
            for codec in SEEN_CODECS + [HELD_OUT]:
                key = f"{bona}_{codec}"
                path = root / codec / f"{key}.flac"
                _write(path, rng, n)
                rows.append(_row(key, path, speaker, utt, codec, "CoRS", split, bona, codec != HELD_OUT, n))
    for model, seen in (("VALLE", True), ("MASKGCT", False)):
        for i in range(2):
            key = f"{model}__{i}"
            path = root / "cosg" / f"{key}.flac"
            _write(path, rng, 6000)
            rows.append(_row(key, path, f"spk{i}", None, model, "CoSG", "test", key, seen, 6000))
    frame = pd.DataFrame(rows)
    frame["utt_id"] = frame["utt_id"].astype("Int64")
    frame["seen"] = frame["seen"].astype("boolean")
    return frame


def fake_vad(manifest: pd.DataFrame) -> pd.DataFrame:
    """VAD table with the first half of every clip as speech (no silero needed)."""
    segments = [[[0, int(d * SR) // 2]] for d in manifest["duration_s"]]
    return pd.DataFrame({"key": manifest["key"], "segments": segments, "has_speech": True,
                         "speech_fraction": 0.5, "num_samples": (manifest["duration_s"] * SR).astype(int),
                         "error": None})
