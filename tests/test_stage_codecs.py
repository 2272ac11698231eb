from stages.codecs import zoo_markdown


def _record(held_out: bool, lm: bool) -> dict:
    quality = {"mel_distance": 1.2, "si_snr_db": -20.0}
    return {"family": {"vq": "mvq", "aux": "none", "dec": "time"}, "held_out": held_out,
            "token_lm": "x/token_lm.pt" if lm else None, "parameters": 480000,
            "bitrate_kbps": 1.6, "timing": {"reused": False, "train_seconds": 61.0},
            "quality": {**quality, "by_checkpoint": {s: {"step": i, **quality} for i, s in
                                                     enumerate(("early", "mid", "late"))}},
            "trivial": {"mel_distance": 2.2, "si_snr_db": -45.0}}


def test_zoo_markdown_has_a_row_per_codec_and_the_trivial_baseline():
    zoo = {"codecs": {"zoo_a": _record(False, True), "zoo_b": _record(True, False)},
           "wall_seconds": 300.0, "workers": 2}
    text = zoo_markdown(zoo)
    assert "| zoo_a | mvq | none | time | no | yes | 0.48 | 1.60 | 1.200 | 2.200 |" in text
    assert "| zoo_b | mvq | none | time | yes | no |" in text
    assert "2 codecs (2 parallel workers" in text
    assert "300" not in text and "61" not in text  # timings stay out of this DVC output
