import pytest

from sastnet import taxonomy as tx


def test_class_counts_per_task():
    assert {t: tx.num_classes(t) for t in tx.TASKS} == {"vq": 4, "aux": 4, "dec": 3, "bin": 2}


def test_table_sizes_match_the_release():
    # 31 CoRS codec strings (30 in CoRS_ALL + one missing there), 17 CoSG models.
    assert len(tx.CORS_CODECS) == 31
    assert len(tx.COSG_MODELS) == 17


@pytest.mark.parametrize("codec,expected", [
    ("Encodec_6b24k", {"vq": 1, "aux": 1, "dec": 1, "bin": 1}),
    ("spectralcodecs", {"vq": 3, "aux": 1, "dec": 2, "bin": 1}),
    ("xcodec_hubert_libirispeech", {"vq": 1, "aux": 2, "dec": 1, "bin": 1}),
    ("xocdec_hubert_general_audio", {"vq": 1, "aux": 2, "dec": 1, "bin": 1}),
    ("mimicodec", {"vq": 1, "aux": 2, "dec": 1, "bin": 1}),
    ("ticodec_1g1r", {"vq": 2, "aux": 3, "dec": 1, "bin": 1}),
    ("socodec_16384x4_120ms_16khz_chinese", {"vq": 1, "aux": 3, "dec": 2, "bin": 1}),
    ("SINGLECODEC", {"vq": 2, "aux": 3, "dec": 2, "bin": 1}),
    ("SIMPLESPEECH2", {"vq": 3, "aux": 1, "dec": 1, "bin": 1}),
    ("bonafide", {"vq": 0, "aux": 0, "dec": 0, "bin": 0}),
    (None, {"vq": 0, "aux": 0, "dec": 0, "bin": 0}),
])
def test_labels(codec, expected):
    assert tx.labels_for(codec) == expected


def test_unknown_codec_names_the_closest():
    with pytest.raises(tx.UnknownCodecError) as err:
        tx.labels_for("xcodec_hubert_librispeech")  # the correct spelling is not the file's
    assert "xcodec_hubert_libirispeech" in str(err.value)


def test_protocol_columns_map_to_families():
    assert tx.family_from_protocol("REAL", "REAL", "REAL") is None
    fam = tx.family_from_protocol("SEM", "FREQ", "MVQ")
    assert fam == tx.CORS_CODECS["SemantiCodec_0.35kbps_16k"]
    with pytest.raises(ValueError, match="AUX label 'Foo'"):
        tx.family_from_protocol("Foo", "TIME", "MVQ")


def test_split_cors_utterance():
    assert tx.split_cors_utterance("p227_260_snac_24khz") == ("p227_260", "snac_24khz")
    assert tx.split_cors_utterance("p226_261") == ("p226_261", None)
    with pytest.raises(tx.UnknownCodecError):
        tx.split_cors_utterance("p227_001_snack_24khz", known=list(tx.CORS_CODECS))


def test_extra_codecs_extend_but_do_not_shadow():
    zoo = tx.Taxonomy({"zoo_rvq_time": tx.CodecFamily(vq="mvq", aux="none", dec="time")})
    assert zoo.labels("zoo_rvq_time")["vq"] == 1
    with pytest.raises(ValueError, match="already in the taxonomy"):
        tx.Taxonomy({"bigcodec": tx.CodecFamily(vq="mvq", aux="none", dec="time")})
    with pytest.raises(ValueError, match="allowed"):
        tx.CodecFamily(vq="rvq", aux="none", dec="time")
