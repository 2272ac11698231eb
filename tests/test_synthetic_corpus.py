import shutil

import numpy as np
import pytest

from pipelines.common.audio_io import load_audio
from pipelines.corpus.synthesis.sentences import build_sentences
from pipelines.corpus.synthesis.voices import SPEAKER_POOL
from pipelines.corpus.synthetic import (
    MANIFEST_COLUMNS,
    build_synthetic_corpus,
    plan_corpus,
    plan_cosg,
    render_clip,
    speaker_splits,
)
from pipelines.params import ParamsError
from pipelines.params.core import from_dict
from pipelines.params.corpus_synthetic import MAX_SPEAKERS, SyntheticCorpusParams

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")

# 2 speakers x 3 sentences; prompts 1..2 are "seen", 3 is "unseen"
TINY = SyntheticCorpusParams(num_speakers=2, utts_per_speaker=2, num_sentences=3,
                             seen_max_utt_id=2, dev_speakers=0, test_speakers=1,
                             silence_s=(0.3, 0.6), seed=7, workers=2)


def test_pool_size_matches_params_limit():
    assert len(SPEAKER_POOL) == MAX_SPEAKERS
    assert len({v.describe() for v in SPEAKER_POOL}) == len(SPEAKER_POOL)  # all distinct speakers


def test_sentences_are_distinct_deterministic_and_plain_words():
    a = build_sentences(400, 1234)
    assert len(set(a)) == 400 and a == build_sentences(400, 1234)
    assert a != build_sentences(400, 1)
    assert all(s[0].isupper() and s[-1] in ".?" and "{" not in s for s in a)


def test_default_plan_is_speaker_disjoint_with_seen_and_unseen_test_ids():
    cfg = SyntheticCorpusParams()
    plans = plan_corpus(cfg)
    by_split: dict[str, set[str]] = {}
    for p in plans:
        by_split.setdefault(p.split, set()).add(p.speaker)
    assert set(by_split) == {"train", "dev", "test"}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["dev"])
    assert len({p.speaker for p in plans}) >= 12 and len({p.utt_id for p in plans}) > 200
    test_ids = [p.utt_id for p in plans if p.split == "test"]
    assert min(test_ids) <= 250 < max(test_ids)
    assert all(p.utt_id <= 250 for p in plans if p.split != "test")
    assert len({p.key for p in plans}) == len(plans)


def test_split_sizes_follow_params():
    splits = speaker_splits(SyntheticCorpusParams(num_speakers=14, dev_speakers=3, test_speakers=4))
    assert sorted(splits.values()).count("test") == 4
    assert sorted(splits.values()).count("dev") == 3


@pytest.mark.parametrize("overrides, key", [
    ({"num_speakers": 99}, "num_speakers"),
    ({"num_speakers": 3, "dev_speakers": 1, "test_speakers": 2}, "num_speakers"),
    ({"num_sentences": 260}, "num_sentences"),
    ({"silence_s": [1.0, 0.5]}, "silence_s"),
    ({"num_speakers": 24, "cosg_clips": 4}, "cosg_clips"),  # no voice left for the CoSG world
    ({"cosg_clips": 151}, "cosg_clips"),  # more than the 150 unseen prompts
])
def test_impossible_params_name_the_key(overrides, key):
    with pytest.raises(ParamsError, match=key):
        from_dict(SyntheticCorpusParams, overrides, "corpus.synthetic")


@needs_espeak
def test_tiny_corpus_end_to_end(tmp_path):
    df = build_synthetic_corpus(TINY, tmp_path / "corpus")
    assert list(df.columns) == list(MANIFEST_COLUMNS)
    assert len(df) == 4 and df["key"].is_unique and df.attrs["skipped"] == []
    assert (df["codec"] == "bonafide").all() and (df["subset"] == "CoRS").all()
    assert (df["pair_key"] == df["key"]).all() and df["codec_seen"].all()
    assert (df[["label_vq", "label_aux", "label_dec", "label_bin"]] == 0).all().all()
    assert set(df["split"]) == {"train", "test"}
    assert df.groupby("speaker")["split"].nunique().max() == 1
    test = df[df["split"] == "test"]
    assert set(test["seen"]) == {True, False}
    assert all(k.startswith(s + "_") and len(k.split("_")[1]) == 3
               for k, s in zip(df["key"], df["speaker"]))
    for row in df.itertuples():
        wave = load_audio(row.path)
        assert abs(len(wave) / 16000 - row.duration_s) < 1e-3
        edge = int(0.25 * 16000)  # silence is >= 0.3 s at both ends: only the noise floor
        for part in (wave[:edge], wave[-edge:]):
            rms_db = 20 * np.log10(np.sqrt(np.mean(part ** 2)))
            assert -75 < rms_db < -40
        assert np.abs(wave).max() > 0.3  # speech in the middle
    # a rerun reuses finished clips and gives the same manifest
    again = build_synthetic_corpus(TINY, tmp_path / "corpus")
    assert again.equals(df)


def test_cosg_world_has_unseen_voices_unseen_sentences_and_short_silences():
    """The default profile's CoSG world: no voice or sentence of it occurs in train, and its
    boundary silences are shorter than the corpus' (as the paper's CoSG vs VCTK's)."""
    cfg = SyntheticCorpusParams(silence_s=(0.1, 0.5), cosg_clips=48)
    corpus, cosg = plan_corpus(cfg), plan_cosg(cfg)
    assert len(cosg) == 48 and len({p.key for p in cosg}) == 48
    assert all(p.subset == "CoSG" and p.split == "test" for p in cosg)
    train = [p for p in corpus if p.split == "train"]
    assert not {p.voice for p in cosg} & {p.voice for p in corpus}  # any split
    assert not {p.text for p in cosg} & {p.text for p in train}
    assert all(p.utt_id > cfg.seen_max_utt_id for p in cosg)
    assert len({p.voice for p in cosg}) == len(SPEAKER_POOL) - cfg.num_speakers  # all used
    assert plan_cosg(cfg) == cosg  # deterministic
    speech = np.full(8000, 0.5, np.float32)  # the synthesizer's output: all speech

    def lead_s(plan):
        wave = render_clip(plan, cfg, speech)
        return (np.argmax(np.abs(wave) > 0.1)) / 16000

    cosg_leads = [lead_s(p) for p in cosg]
    cors_leads = [lead_s(p) for p in corpus[:48]]
    assert max(cosg_leads) <= 0.15 and min(cors_leads) >= 0.1
    assert np.median(cosg_leads) < 0.5 * np.median(cors_leads)


@needs_espeak
def test_corrupt_clip_is_recreated(tmp_path):
    df = build_synthetic_corpus(TINY, tmp_path)
    first = df["path"].iloc[0]
    with open(first, "wb") as f:
        f.write(b"junk")
    again = build_synthetic_corpus(TINY, tmp_path)
    assert len(load_audio(first)) > 0 and again["duration_s"].equals(df["duration_s"])


@pytest.mark.skipif(shutil.which("festival") is None, reason="festival missing")
def test_festival_batch_matches_one_process_per_sentence():
    from pipelines.corpus.synthesis.voices import synthesize, synthesize_many
    voice = next(v for v in SPEAKER_POOL if v.engine == "festival")
    texts = build_sentences(2, 3) + ['She said "yes" twice.']
    batch = synthesize_many(voice, texts)
    assert len(batch) == 3 and all(w.dtype == np.float32 and w.size > 8000 for w in batch)
    assert np.array_equal(batch[1], synthesize(voice, texts[1]))
