"""Transcription check of the converted Whisper and the small WER helper."""

import pytest

from pipelines.whisper.check import edit_distance, word_error_rate


def test_word_error_rate_counts_edits_over_reference_words():
    assert edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert word_error_rate(["The cat sat."], ["the cat sat"]) == 0.0
    assert word_error_rate(["one two three four"], ["one too three"]) == pytest.approx(0.5)
    assert word_error_rate(["a b", "c d"], ["a b", ""]) == pytest.approx(0.5)


@pytest.mark.slow
def test_converted_tiny_en_transcribes_espeak_speech(tmp_path):
    from pipelines.whisper.check import check_transcription
    from pipelines.whisper.convert import bundled_model_dir, convert_whisper

    convert_whisper(bundled_model_dir(), tmp_path)
    result = check_transcription(tmp_path, sentences=(
        "The quick brown fox jumps over the lazy dog.",
        "People look for the pot of gold at the end of the rainbow."))
    # robotic espeak-ng speech: tiny.en gets ~0.1 here; a broken conversion gives ~1
    assert result["wer"] < 0.35, result
