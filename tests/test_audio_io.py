import numpy as np
import pytest
import soundfile as sf

from pipelines.common.audio_io import AudioError, audio_duration_s, load_audio, write_audio


def _tone(n=1600, sr=16000):
    return (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / sr)).astype(np.float32)


def test_round_trip_flac(tmp_path):
    path = tmp_path / "a" / "clip.flac"
    write_audio(path, _tone())
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.shape == (1600,)
    assert np.abs(wave - _tone()).max() < 1e-3
    assert audio_duration_s(path) == pytest.approx(0.1)
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize("case, reason", [
    ("missing", "file not found"),
    ("empty", "empty file"),
    ("garbage", "unreadable audio"),
    ("stereo", "2 channels"),
    ("rate", "sample rate 8000 Hz"),
    ("nan", "NaN"),
    ("nosamples", "no samples"),
])
def test_bad_inputs_name_file_reason_and_fix(tmp_path, case, reason):
    path = tmp_path / f"{case}.wav"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(b"not audio at all" * 10)
    elif case == "stereo":
        sf.write(path, np.zeros((160, 2), np.float32), 16000)
    elif case == "rate":
        sf.write(path, _tone(), 8000)
    elif case == "nan":
        wave = _tone()
        wave[5] = np.nan
        sf.write(path, wave, 16000, subtype="FLOAT")
    elif case == "nosamples":
        sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match=reason) as info:
        load_audio(path)
    err = info.value
    assert err.path == str(path) and str(path) in str(err)
    assert err.fix and err.as_record()["reason"] == err.reason


def test_write_refuses_nan(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_audio(tmp_path / "x.flac", np.array([0.0, np.nan], np.float32))
    assert not (tmp_path / "x.flac").exists()


def test_shard_bytes_follow_the_same_policy_and_name_the_member(tmp_path):
    import io

    buf = io.BytesIO()
    sf.write(buf, np.zeros((160, 2), np.float32), 16000, format="FLAC")
    with pytest.raises(AudioError, match=r"^shard-000001.tar:k1: 2 channels, expected mono"):
        load_audio(buf.getvalue(), name="shard-000001.tar:k1")
    buf = io.BytesIO()
    sf.write(buf, _tone(), 16000, format="FLAC", subtype="PCM_16")
    np.testing.assert_allclose(load_audio(buf.getvalue()), _tone(), atol=1 / 2**15)


def test_downmix_averages_channels_only_when_asked(tmp_path):
    path = tmp_path / "st.wav"
    left, right = _tone(), np.zeros_like(_tone())
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path, channels="downmix"), left / 2, atol=1e-7)
    with pytest.raises(AudioError, match="2 channels"):
        load_audio(path)
    with pytest.raises(AudioError, match="sample rate 16000 Hz, expected 8000 Hz"):
        load_audio(path, sample_rate_hz=8000, channels="downmix")
