from collections import Counter

import pytest
from shard_dummies import HELD_OUT, SEEN_CODECS, make_manifest

from pipelines.common.manifest import validate_manifest
from pipelines.dataset.sampling import balanced_pairs, class_histogram


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    m = make_manifest(tmp_path_factory.mktemp("clips"))
    m = m[(m["split"] == "train") & (m["subset"] == "CoRS")]
    return m[(m["codec"] == "bonafide") | m["codec_seen"]]


# 6 utterances, each resynthesized by all 6 seen codecs. By hand:
#   AUX: None {DAC24, bigcodec, spectralcodecs}, SEM {SpeechTokenizer, SemantiCodec}, Disent {ticodec}
#        -> 6 spoofs over 3 classes = 2 each.
#   VQ:  MVQ {DAC24, SpeechTokenizer, SemantiCodec}, SVQ {bigcodec, ticodec}, SQ {spectralcodecs} -> 2 each.
#   DEC: TIME {DAC24, bigcodec, SpeechTokenizer, ticodec}, FREQ {spectralcodecs, SemantiCodec} -> 3 each.
#   BIN: 6 spoofs, one per codec.
@pytest.mark.parametrize("strategy,expected", [
    ("aux", {0: 6, 1: 2, 2: 2, 3: 2}),
    ("vq", {0: 6, 1: 2, 2: 2, 3: 2}),
    ("dec", {0: 6, 1: 3, 2: 3}),
    ("bin", {0: 6, 1: 6}),
])
def test_class_counts_by_hand(train, strategy, expected):
    rows = balanced_pairs(train, strategy, seed=1234)
    task = strategy
    assert class_histogram(rows, task) == expected


def test_bin_draws_every_codec_once(train):
    rows = balanced_pairs(train, "bin", seed=7)
    assert Counter(rows.loc[rows["codec"] != "bonafide", "codec"]) == {c: 1 for c in SEEN_CODECS}


def test_pairs_are_bonafide_then_spoof_of_same_utterance(train):
    rows = balanced_pairs(train, "aux", seed=1)
    for _, pair in rows.groupby("pair_index"):
        bona, spoof = pair.iloc[0], pair.iloc[1]
        assert bona["codec"] == "bonafide" and spoof["codec"] != "bonafide"
        assert spoof["pair_key"] == bona["key"]
    assert rows["pair_key"].nunique() == 6 and HELD_OUT not in set(rows["codec"])


def test_dummy_manifest_fits_the_clip_contract(tmp_path):
    validate_manifest(make_manifest(tmp_path))


def test_deterministic_for_a_seed_and_varies_with_it(train):
    a = balanced_pairs(train, "aux", seed=3)["key"].tolist()
    assert a == balanced_pairs(train, "aux", seed=3)["key"].tolist()
    assert any(balanced_pairs(train, "aux", seed=s)["key"].tolist() != a for s in range(4, 10))


def test_unknown_strategy_is_named(train):
    with pytest.raises(ValueError, match="unknown sampling strategy 'vqq'"):
        balanced_pairs(train, "vqq", seed=0)
