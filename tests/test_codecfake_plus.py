"""CodecFake+ ingestion on the real protocol samples (tests/fixtures/codecfakeplus) and a tiny
fake release tree. Expected counts below were counted by hand / with awk on the fixture files,
not with the code under test."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipelines.common.manifest import validate_manifest
from pipelines.corpus.codecfake_plus import (
    BadAudioError,
    UnknownCodecsError,
    prepare_codecfake_plus,
    read_release_lists,
)
from pipelines.corpus.codecfake_protocols import ProtocolError, parse_protocol_line, read_protocol
from pipelines.params.corpus import CodecFakePlusParams

FIXTURES = Path(__file__).parent / "fixtures" / "codecfakeplus"
SAMPLE_LISTS = dict(  # noqa: C408 (keyword form reads like the params)
    train_lists=("train_mult_learn.head40.txt",), dev_lists=("dev_mult_learn_bal_vq.head40.txt",),
    cors_list="CoRS_ALL.head40.txt", cosg_list="CoSG_ALL.sample40.txt",
    cosg_seen_list="CoSG_SEEN.head40.txt")


def _params(protocol_dir=FIXTURES, audio_root="/nonexistent", **kw):
    return CodecFakePlusParams(**{**SAMPLE_LISTS, "protocol_dir": str(protocol_dir),
                                  "audio_root": str(audio_root), **kw})


def _sample_records():
    records, log = read_release_lists(_params())
    return pd.DataFrame(records), log


# --- line formats ---------------------------------------------------------------------------

def test_training_row_seven_columns():
    row = parse_protocol_line("p226 p226_261_Encodec_6b24k - Trad TIME MVQ spoof", "train", "x:1")
    assert (row.group, row.utt, row.aux, row.dec, row.vq, row.bin_label) == \
        ("p226", "p226_261_Encodec_6b24k", "Trad", "TIME", "MVQ", 1)


def test_cosg_rows_four_and_five_columns():
    four = parse_protocol_line("VIOLA entts_viola_output_356_0 - spoof", "cosg", "x:1")
    five = parse_protocol_line("ELLAV ELLAV_1_prompt_hc - - bonafide", "cosg", "x:2")
    assert (four.group, four.utt, four.bin_label) == ("VIOLA", "entts_viola_output_356_0", 1)
    assert (five.group, five.utt, five.bin_label) == ("ELLAV", "ELLAV_1_prompt_hc", 0)


def test_cosg_seen_row_keeps_vq_column():
    row = parse_protocol_line("CLAMTTS caine_prompt - REAL bonafide", "cosg_seen", "x:1")
    assert (row.vq, row.bin_label) == ("REAL", 0)


def test_spoofs_spelling_is_a_spoof():
    assert parse_protocol_line("p227 p227_001_bigcodec - - spoofs", "cors", "x:1").bin_label == 1


@pytest.mark.parametrize("line, kind, message", [
    ("p227 p227_001 - - - bonafide", "cors", r"CoRS_ALL.txt:7: expected 5 columns `SPK UTT - - KEY`"),
    ("p227 p227_001 - REAL REAL bonafide", "train", r"expected 7 columns"),
    ("VIOLA a - - - spoof", "cosg", r"expected 4 or 5 columns"),
    ("p227 p227_001 - - fake", "cors", r"KEY column 'fake' is not one of"),
])
def test_malformed_lines_name_file_and_line(line, kind, message):
    with pytest.raises(ProtocolError, match=message):
        parse_protocol_line(line, kind, "CoRS_ALL.txt:7")


def test_missing_list_names_params_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="protocol_dir"):
        read_protocol(tmp_path / "CoRS_ALL.txt", "cors")


# --- labels on the real samples (counts by hand) ----------------------------------------------

def test_sample_clip_counts_per_split():
    df, log = _sample_records()
    counts = df.groupby(["subset", "split"]).size().to_dict()
    # 40 lines each; CoSG: 30 unique CoSG_ALL rows (10 VIOLA lines repeat) + 40 CoSG_SEEN rows
    assert counts == {("CoRS", "train"): 40, ("CoRS", "dev"): 40, ("CoRS", "test"): 40,
                      ("CoSG", "test"): 70}
    assert log.duplicate_rows == {"CoSG_ALL.sample40.txt": 10}
    assert log.cosg_seen_only == 40


@pytest.mark.parametrize("split, task, expected", [
    # awk '{print $4}' / $5 / $6 / $7 on train_mult_learn.head40.txt
    ("train", "aux", {0: 20, 1: 7, 2: 7, 3: 6}),  # REAL 20, Trad 7, SEM 7, Disent 6
    ("train", "dec", {0: 20, 1: 11, 2: 9}),  # REAL 20, TIME 11, FREQ 9
    ("train", "vq", {0: 20, 1: 17, 2: 3}),  # REAL 20, MVQ 17, SVQ 3
    ("train", "bin", {0: 20, 1: 20}),
    # dev_mult_learn_bal_vq.head40.txt
    ("dev", "aux", {0: 20, 1: 18, 2: 1, 3: 1}),
    ("dev", "dec", {0: 20, 1: 12, 2: 8}),
    ("dev", "vq", {0: 20, 1: 7, 2: 6, 3: 7}),  # MVQ 7, SVQ 6, SQ 7
    # CoRS_ALL.head40.txt: 40 x snac_24khz (None, Time, MVQ)
    ("test", "vq", {1: 40}), ("test", "aux", {1: 40}), ("test", "dec", {1: 40}),
])
def test_cors_sample_label_counts(split, task, expected):
    df, log = _sample_records()
    part = df[(df.subset == "CoRS") & (df.split == split)]
    assert part[f"label_{task}"].value_counts().to_dict() == expected
    assert not log.disagreements  # the taxonomy agrees with every label column of the samples


def test_cosg_sample_labels():
    df, _ = _sample_records()
    cosg = df[df.subset == "CoSG"]
    # bona fide: 6 ELLAV + 7 VIOLA (CoSG_ALL) + 5 CLAMTTS REAL rows (CoSG_SEEN)
    assert cosg.label_bin.value_counts().to_dict() == {1: 52, 0: 18}
    # spoof DEC: VIOLA 7 time; MASKGCT 10 + CLAMTTS 35 freq
    assert cosg.label_dec.value_counts().to_dict() == {2: 45, 0: 18, 1: 7}
    assert set(cosg.loc[cosg.label_bin == 1, "label_vq"]) == {1}  # all MVQ
    viola = cosg[cosg.key == "VIOLA__entts_viola_output_356_0"].iloc[0]
    assert (viola.codec, viola.speaker, viola.split) == ("VIOLA", "VIOLA", "test")
    assert pd.isna(viola.utt_id) and pd.isna(viola.seen)
    # codec_seen: exactly the CoSG_SEEN rows
    assert cosg.codec_seen.sum() == 40
    assert set(cosg.loc[cosg.codec_seen, "speaker"]) == {"CLAMTTS"}


def test_seen_unseen_from_numeric_utterance_id():
    df, _ = _sample_records()
    cors = df[df.subset == "CoRS"]
    # awk: utt id <= 250 -> train 22/18, dev 22/18, test 28/12
    counts = cors.groupby(["split", "seen"]).size().to_dict()
    assert counts == {("dev", False): 18, ("dev", True): 22, ("test", False): 12,
                      ("test", True): 28, ("train", False): 18, ("train", True): 22}
    row = cors[cors.key == "p227_250_snac_24khz"].iloc[0]
    assert (row.utt_id, row.seen, row.pair_key) == (250, True, "p227_250")
    assert not cors[cors.key == "p227_260_snac_24khz"].iloc[0].seen


def test_release_defects_are_handled_and_reported():
    records, log = read_release_lists(_params(cors_list="CoRS_ALL.defects.txt"))
    df = pd.DataFrame(records).set_index("key")
    # the `spoofs` row is a spoof, with the misspelt codec string as in the file name
    row = df.loc["p228_007_xocdec_hubert_general_audio"]
    assert (row.label_bin, row.label_aux, row.label_dec, row.label_vq) == (1, 2, 1, 1)
    assert log.key_spellings == ["CoRS_ALL.defects.txt:3: KEY 'spoofs' read as spoof"]
    # alias mimicodec -> mini (SEM, Time, MVQ)
    assert tuple(df.loc["p228_007_mimicodec", ["label_aux", "label_dec", "label_vq"]]) == (2, 1, 1)
    # a KEY that contradicts the codec: the taxonomy wins, the disagreement is counted
    row = df.loc["p227_300_spectralcodecs"]
    assert (row.label_bin, row.label_vq, row.label_dec) == (1, 3, 2)
    assert log.disagreements == {"CoRS_ALL.defects.txt bin": 1}


def test_unknown_codecs_are_all_listed(tmp_path):
    for name in FIXTURES.glob("*.txt"):
        shutil.copy(name, tmp_path)
    (tmp_path / "CoRS_ALL.head40.txt").write_text(
        "p227 p227_001_snac_24hkz - - spoof\np227 p227_002_newcodec - - spoof\n")
    with pytest.raises(UnknownCodecsError, match=r"(?s)snac_24hkz.*closest known: snac_24khz"
                                                  r".*newcodec"):
        read_release_lists(_params(protocol_dir=tmp_path))


# --- end to end on a tiny fake release ---------------------------------------------------------

def _fake_release(root: Path, skip: set[str] = frozenset()) -> None:
    """Write a short FLAC for every clip of the sample lists, in the official layout."""
    records, _ = read_release_lists(_params())
    rng = np.random.default_rng(0)
    for i, rec in enumerate(records):
        folder, stem = rec["audio_stem"]
        if rec["key"] in skip:
            continue
        path = root / folder / f"{stem}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = 1600 + 160 * (i % 5)  # 0.1 .. 0.14 s at 16 kHz
        sf.write(path, (0.1 * rng.standard_normal(n)).astype(np.float32), 16000)


def test_end_to_end_manifest_with_durations(tmp_path):
    _fake_release(tmp_path)
    df, log = prepare_codecfake_plus(_params(audio_root=tmp_path))
    validate_manifest(df)
    assert len(df) == 190 and df.key.is_unique
    row = df[df.key == "p260_075_Encodec_24b24k"].iloc[0]
    assert row.path == str(tmp_path / "all_data_16k" / "p260_075_Encodec_24b24k.flac")
    assert row.duration_s == pytest.approx(sf.info(row.path).duration)
    assert df[df.key == "MASKGCT__1995-1826-0000_maskgct"].iloc[0].path.endswith(
        "SLMdemos_16k/MASKGCT/1995-1826-0000_maskgct.flac")
    assert set(np.round(df.duration_s.astype(float) * 16000).astype(int)) == {1600, 1760, 1920, 2080, 2240}
    assert not log.bad_audio
    assert log.audio_formats == {"16000 Hz x 1 ch": 190}


def test_missing_audio_is_an_error_listing_files(tmp_path):
    missing = {"p260_075", "p227_260_snac_24khz", "VIOLA__entts_viola_generated_14"}
    _fake_release(tmp_path, skip=missing)
    with pytest.raises(BadAudioError, match=r"(?s)3 of 190 listed clips.*p227_260_snac_24khz"
                                            r".*on_bad_audio: skip") as err:
        prepare_codecfake_plus(_params(audio_root=tmp_path))
    assert "SLMdemos_16k/VIOLA/entts_viola_generated_14" in str(err.value)
    df, log = prepare_codecfake_plus(_params(audio_root=tmp_path, on_bad_audio="skip"))
    # the bona fide p260_075 leaves with its resyntheses (they cannot be paired any more)
    records, _ = read_release_lists(_params())
    spoofs_of_p260_075 = {r["key"] for r in records
                          if r["pair_key"] == "p260_075" and r["key"] != "p260_075"}
    assert spoofs_of_p260_075 and set(log.dropped_with_source) == spoofs_of_p260_075
    assert len(df) == 187 - len(spoofs_of_p260_075) and len(log.bad_audio) == 3
    assert not set(df.key) & (missing | spoofs_of_p260_075)
    assert log.as_dict()["skipped_with_their_bona_fide_source"] == log.dropped_with_source


def test_skipped_clips_are_each_said_on_the_console(tmp_path, capsys):
    _fake_release(tmp_path, skip={"p260_075"})
    _, log = prepare_codecfake_plus(_params(audio_root=tmp_path, on_bad_audio="skip"))
    out = capsys.readouterr()
    said = out.out + out.err
    assert "skipped " + str(tmp_path / "all_data_16k" / "p260_075") in said
    for key in log.dropped_with_source:
        assert f"skipped {key} (its bona fide source p260_075 was skipped)" in said


def test_a_truncated_flac_passes_the_header_check_but_not_full_verification(tmp_path):
    _fake_release(tmp_path)
    victim = tmp_path / "all_data_16k" / "p260_075_Encodec_24b24k.flac"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # cut mid-stream: the header still says all frames
    df, _ = prepare_codecfake_plus(_params(audio_root=tmp_path))
    assert "p260_075_Encodec_24b24k" in set(df.key)  # header only: not noticed (before)
    with pytest.raises(BadAudioError, match=r"p260_075_Encodec_24b24k.flac \((truncated|unreadable)"):
        prepare_codecfake_plus(_params(audio_root=tmp_path, verify_audio="full"))


def test_corrupt_audio_is_named(tmp_path):
    _fake_release(tmp_path)
    bad = tmp_path / "all_data_16k" / "p260_075.flac"
    bad.write_bytes(b"not a flac")
    with pytest.raises(BadAudioError, match=r"p260_075.flac \(unreadable"):
        prepare_codecfake_plus(_params(audio_root=tmp_path))


def test_balanced_training_variants_are_merged(tmp_path):
    for name in FIXTURES.glob("*.txt"):
        shutil.copy(name, tmp_path)
    # a second variant: the same bona fide rows, other codecs drawn for two of them
    (tmp_path / "train_bal_vq.txt").write_text(
        "p260 p260_075 - REAL REAL REAL bonafide\n"
        "p260 p260_075_bigcodec - Trad TIME SVQ spoof\n"
        "p286 p286_132 - REAL REAL REAL bonafide\n"
        "p286 p286_132_SemantiCodec_1.40kbps_16k - SEM FREQ MVQ spoof\n")
    records, log = read_release_lists(_params(
        protocol_dir=tmp_path, train_lists=("train_mult_learn.head40.txt", "train_bal_vq.txt")))
    train = [r for r in records if r["split"] == "train"]
    assert len(train) == 41  # 40 + p260_075_bigcodec; shared rows are one clip each
    assert log.duplicate_rows == {"CoSG_ALL.sample40.txt": 10}  # none from the train lists


def test_training_label_columns_that_disagree_are_counted(tmp_path):
    for name in FIXTURES.glob("*.txt"):
        shutil.copy(name, tmp_path)
    (tmp_path / "train.txt").write_text(
        "p260 p260_075 - REAL REAL REAL bonafide\n"
        "p260 p260_075_bigcodec - Trad FREQ MVQ spoof\n"  # taxonomy: None, Time, SVQ
        "p260 p260_076 - REAL TIME REAL bonafide\n")  # REAL mixed with a family
    records, log = read_release_lists(_params(protocol_dir=tmp_path, train_lists=("train.txt",)))
    rec = {r["key"]: r for r in records}["p260_075_bigcodec"]
    assert (rec["label_aux"], rec["label_dec"], rec["label_vq"]) == (1, 1, 2)  # taxonomy wins
    assert log.disagreements == {"train.txt dec": 1, "train.txt vq": 1, "train.txt aux/dec/vq": 1}
