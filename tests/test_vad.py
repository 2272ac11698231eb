"""silero-vad on real speech made with espeak-ng (skipped where espeak-ng or sox is missing)."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipelines.dataset.vad import (
    borrow_pair_segments,
    read_vad,
    run_vad,
    speech_segments,
    speech_segments_batch,
    vad_summary,
    world_summary,
    write_vad,
)
from pipelines.params.vad import VadParams
from sastnet.silence import rm_sil

SR = 16000
pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                reason="needs espeak-ng and sox")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    tmp = tmp_path_factory.mktemp("speech")
    subprocess.run(["espeak-ng", "-w", str(tmp / "raw.wav"), "Please call Stella and ask her to bring these things."],
                   check=True)
    subprocess.run(["sox", str(tmp / "raw.wav"), "-r", str(SR), str(tmp / "s.wav")], check=True)
    wave, sr = sf.read(tmp / "s.wav", dtype="float32")
    assert sr == SR
    return wave


@pytest.fixture(scope="module")
def model():
    from silero_vad import load_silero_vad
    return load_silero_vad()


def test_rm_sil_removes_leading_and_trailing_silence(speech, model):
    pad = np.zeros(SR, np.float32)
    padded = np.concatenate([pad, speech, pad])
    kept = rm_sil(padded, speech_segments(padded, model, VadParams()))
    assert len(kept) < len(speech)  # both seconds of padding (and inter-word pauses) are gone
    assert len(padded) - len(kept) > 2 * SR


def test_pure_speech_is_almost_unchanged(speech, model):
    kept = rm_sil(speech, speech_segments(speech, model, VadParams()))
    assert 0.7 * len(speech) < len(kept) <= len(speech)


def test_batched_scoring_gives_the_same_segments(speech, model):
    rng = np.random.default_rng(0)
    waves = [speech, np.concatenate([np.zeros(7000, np.float32), speech[:20001]]),
             np.zeros(SR // 2, np.float32), (0.01 * rng.standard_normal(3333)).astype(np.float32)]
    cfg = VadParams(forward_batch=3)
    assert speech_segments_batch(waves, model, cfg) == [speech_segments(w, model, cfg) for w in waves]


def test_silence_has_no_segments(model):
    assert speech_segments(np.zeros(SR, np.float32), model, VadParams()) == []


@pytest.mark.slow
def test_run_vad_with_ray_flags_no_speech_and_unreadable(speech, tmp_path):
    sf.write(tmp_path / "speech.flac", speech, SR)
    sf.write(tmp_path / "quiet.flac", np.zeros(SR, np.float32), SR)
    (tmp_path / "broken.flac").write_bytes(b"nope")
    manifest = pd.DataFrame({"key": ["speech", "quiet", "broken"],
                             "path": [str(tmp_path / n) for n in ("speech.flac", "quiet.flac", "broken.flac")]})
    frame = run_vad(manifest, VadParams(batch_clips=2, num_cpus=1))
    assert frame["key"].tolist() == ["speech", "quiet", "broken"]
    assert frame["has_speech"].tolist() == [True, False, False]
    assert frame.loc[0, "speech_fraction"] > 0.5 and frame.loc[2, "error"].startswith("unreadable audio")
    summary = vad_summary(frame)
    assert summary["no_speech"] == 1 and summary["errors"] == 1 and summary["no_speech_keys"] == ["quiet"]
    write_vad(frame, tmp_path / "t.parquet")
    back = read_vad(tmp_path / "t.parquet")
    assert back["segments"].tolist() == frame["segments"].tolist()


def _vad_row(key, segments, num_samples, error=None):
    return {"key": key, "segments": segments, "has_speech": bool(segments),
            "speech_fraction": 0.0, "num_samples": num_samples, "error": error, "segments_from": key}


def test_resyntheses_borrow_their_time_aligned_sources_segments():
    manifest = pd.DataFrame({
        "key": ["a", "a_codec", "a_shifted", "a_broken", "gen", "b", "b_codec"],
        "pair_key": ["a", "a", "a", "a", None, "b", "b"]})
    frame = pd.DataFrame([
        _vad_row("a", [[100, 900]], 1000),
        _vad_row("a_codec", [], 1000 + 100),  # 100 samples = 6.25 ms longer: still aligned
        _vad_row("a_shifted", [[0, 50]], 2000),  # not time-aligned: keeps its own
        _vad_row("a_broken", [], 0, error="unreadable audio"),
        _vad_row("gen", [], 1000),  # generated: no source
        _vad_row("b", [[0, 800]], 800),
        _vad_row("b_codec", [[10, 20]], 700 + 5 * 16),  # shorter than the source: cut
    ])
    out = borrow_pair_segments(frame, manifest, 16000, max_length_diff_ms=20.0)
    assert out.loc[1, "segments"] == [[100, 900]] and out.loc[1, "has_speech"]
    assert out.loc[1, "segments_from"] == "a" and out.loc[1, "speech_fraction"] > 0.7
    assert out.loc[2, "segments"] == [[0, 50]] and out.loc[2, "segments_from"] == "a_shifted"
    assert out.loc[3, "segments"] == [] and out.loc[3, "segments_from"] == "a_broken"
    assert out.loc[4, "segments"] == [] and not out.loc[4, "has_speech"]
    assert out.loc[6, "segments"] == [[0, 780]] and out.loc[6, "segments_from"] == "b"
    assert frame.loc[1, "segments"] == []  # the input is not modified
    summary = vad_summary(out)
    assert summary["segments_from_pair"] == 2 and summary["no_speech"] == 1


def test_world_summary_by_subset_and_kind_by_hand():
    """Speech share over all audio and over the models' crop, lead/trail silence medians."""
    manifest = pd.DataFrame({"key": ["r", "r_c", "g", "g_c", "g_d", "bad"],
                             "subset": ["CoRS", "CoRS", "CoSG", "CoSG", "CoSG", "CoSG"],
                             "codec": ["bonafide", "c", "bonafide", "c", "d", "c"]})
    frame = pd.DataFrame([
        _vad_row("r", [[1600, 8000]], 16000),  # 0.1 s lead, 0.5 s trail, 40 % speech
        _vad_row("r_c", [], 16000),  # no speech
        _vad_row("g", [[160, 15840]], 16000),  # 0.01 s at each end, 98 % speech
        _vad_row("g_c", [[800, 4800], [8000, 16000]], 16000),  # 75 %; crop 0..8000: 50 %
        _vad_row("g_d", [[0, 8000]], 16000),  # 50 %; crop 100 %; lead 0, trail 0.5 s
        _vad_row("bad", [], 0, error="unreadable audio"),  # left out
    ])
    world = world_summary(frame, manifest, crop_samples=8000)
    assert set(world) == {"CoRS/bonafide", "CoRS/spoof", "CoSG/bonafide", "CoSG/spoof"}
    assert world["CoRS/bonafide"] == {"clips": 1, "speech_share": 0.4, "speech_share_crop": 0.8,
                                      "no_speech_clips": 0, "median_lead_silence_s": 0.1,
                                      "median_trail_silence_s": 0.5}
    assert world["CoRS/spoof"]["no_speech_clips"] == 1
    assert world["CoRS/spoof"]["median_lead_silence_s"] is None
    gen = world["CoSG/spoof"]
    assert gen["clips"] == 2 and gen["speech_share"] == 0.625
    assert gen["speech_share_crop"] == 0.75 and gen["median_lead_silence_s"] == 0.025
    assert gen["median_trail_silence_s"] == 0.25


def test_length_groups_score_a_long_clip_alone_and_bound_the_padding():
    from pipelines.dataset.vad import length_groups

    seconds = [3, 2, 4, 600, 3, 5, 2, 4]
    lengths = [s * 16000 for s in seconds]
    groups = length_groups(lengths, forward_batch=32)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert [3] in groups  # the 10-minute clip alone
    for group in groups:
        padded = len(group) * max(lengths[i] for i in group)
        assert padded <= 2.0 * sum(lengths[i] for i in group)
    assert len(length_groups([16000] * 10, forward_batch=4)) == 3  # 4 + 4 + 2
    # without the bound (before): one group padded to 600 s, 8 x 600 s of work
    assert length_groups(lengths, forward_batch=32, max_padding=float("inf")) == [sorted(
        range(8), key=lambda i: lengths[i])]
