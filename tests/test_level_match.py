"""Resynthesized clips are level-matched (RMS) to their bona fide source: no loudness shortcut."""

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipelines.codecs.resynthesize import CodecEntry, build_resynth_manifest
from pipelines.common.audio_io import load_audio, match_level, write_audio
from pipelines.corpus.synthetic import to_manifest_frame
from sastnet.taxonomy import CodecFamily, Taxonomy


def _rms_db(wave: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))


class GainCodec(nn.Module):
    """A codec that changes the level a lot (and the waveform a little) - the shortcut to remove."""

    def __init__(self, gain: float, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(1, 1, 9, padding=4)
        self.gain = gain

    def resynthesize(self, wave):
        return self.gain * torch.tanh(self.conv(wave.unsqueeze(1)).squeeze(1))


def test_match_level_hits_the_reference_rms():
    rng = np.random.default_rng(0)
    ref = 0.1 * rng.standard_normal(16000)
    for gain in (0.01, 0.3, 3.0):
        out = match_level(gain * rng.standard_normal(16000).astype(np.float32) * 0.05, ref)
        assert abs(_rms_db(out) - _rms_db(ref)) < 0.01


def test_match_level_never_clips_and_keeps_silence():
    ref = np.full(1000, 0.9)  # loud reference, crest factor 1
    spiky = np.zeros(1000, np.float32)
    spiky[10] = 0.5  # a single spike: reaching the reference RMS would need a peak >> 1
    out = match_level(spiky, ref)
    assert np.max(np.abs(out)) <= 0.999 + 1e-6
    silent = np.zeros(100, np.float32)
    assert np.array_equal(match_level(silent, ref), silent)


def test_resynthesized_files_within_half_a_db_of_their_source(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for split, spk in (("train", "s01"), ("dev", "s02"), ("test", "s03")):
        for u in range(3):
            key = f"{spk}_{10 + u:03d}"
            path = tmp_path / "corpus" / spk / f"{key}.flac"
            level = 10 ** (rng.uniform(-40, -12) / 20)  # sources at different levels
            wave = np.concatenate([1e-4 * rng.standard_normal(3200),  # leading near-silence
                                   level * rng.standard_normal(8000)]).astype(np.float32)
            write_audio(path, wave)
            rows.append({"key": key, "path": str(path), "speaker": spk, "utt_id": 10 + u,
                         "text": "hi", "codec": "bonafide", "subset": "CoRS", "split": split,
                         "seen": True, "pair_key": key, "codec_seen": True, "label_vq": 0,
                         "label_aux": 0, "label_dec": 0, "label_bin": 0,
                         "duration_s": len(wave) / 16000})
    corpus = to_manifest_frame(rows)
    tax = Taxonomy(extra={"zoo_loud": CodecFamily("mvq", "none", "time"),
                          "zoo_quiet": CodecFamily("sq", "semantic", "freq")})
    codecs = [CodecEntry("zoo_loud", GainCodec(0.9, 0)), CodecEntry("zoo_quiet", GainCodec(0.01, 1))]
    df, _ = build_resynth_manifest(corpus, codecs, tax, tmp_path / "audio", batch_size=2)
    spoofs = df[df["codec"] != "bonafide"]
    assert len(spoofs) == 2 * len(corpus)
    source = pd.Series(corpus["path"].values, index=corpus["key"])
    diffs = [abs(_rms_db(load_audio(row.path)) - _rms_db(load_audio(source[row.pair_key])))
             for row in spoofs.itertuples()]
    assert max(diffs) < 0.5, diffs
