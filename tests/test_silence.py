import numpy as np
import pytest

from sastnet.crop import repeat_crop
from sastnet.silence import merge_segments, rm_sil, speech_fraction


def test_rm_sil_concatenates_speech_regions_in_order():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(rm_sil(wave, [[6, 8], [1, 3]]), [1, 2, 6, 7])


def test_rm_sil_merges_overlaps_and_clips_to_the_wave():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(rm_sil(wave, [[2, 5], [4, 6], [8, 50]]), [2, 3, 4, 5, 8, 9])
    assert merge_segments(np.array([[3, 4], [0, 3]])).tolist() == [[0, 4]]


def test_rm_sil_without_speech_is_empty_not_padded():
    assert rm_sil(np.ones(5, np.float32), []).shape == (0,)


def test_rm_sil_rejects_bad_segments_and_stereo():
    with pytest.raises(ValueError, match="start <= end"):
        rm_sil(np.ones(5), [[4, 2]])
    with pytest.raises(ValueError, match="mono"):
        rm_sil(np.ones((2, 5)), [[0, 1]])


def test_speech_fraction():
    assert speech_fraction([[0, 25], [50, 75]], 100) == 0.5
    assert speech_fraction([], 100) == 0.0 and speech_fraction([[0, 1]], 0) == 0.0


def test_repeat_crop_tiles_short_and_cuts_long_from_the_start():
    wave = np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(repeat_crop(wave, 7), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(repeat_crop(np.arange(10), 4), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="non-empty"):
        repeat_crop(np.zeros(0), 4)
