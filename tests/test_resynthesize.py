"""Resynthesis with tiny randomly initialised stand-in codecs (the real zoo is a stage output)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pipelines.codecs.resynthesize import CodecEntry, build_resynth_manifest
from pipelines.common.audio_io import load_audio, write_audio
from pipelines.corpus.synthetic import MANIFEST_COLUMNS, to_manifest_frame
from sastnet.taxonomy import CodecFamily, Taxonomy


class StandInCodec(nn.Module):
    """Random 1-D conv filter: same length out, different for every seed."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(1, 1, 9, padding=4)

    def resynthesize(self, wave):
        return torch.tanh(self.conv(wave.unsqueeze(1)).squeeze(1))


def _generate(waves, seeds):
    """Stand-in generator: the prompt clip plus seeded noise, as long as the prompt."""
    return [torch.from_numpy(w) + 0.05 * torch.randn(len(w), generator=torch.Generator()
                                                     .manual_seed(s)) for w, s in zip(waves, seeds)]


TAX = Taxonomy(extra={"zoo_a": CodecFamily("mvq", "none", "time"),
                      "zoo_b": CodecFamily("sq", "semantic", "freq")})


def _corpus(tmp_path, n_per_split=2, cosg=0):
    """Bona fide rows: ``n_per_split`` CoRS clips per split, and ``cosg`` clips of the CoSG
    world (speaker g01, split test)."""
    rows = []
    rng = np.random.default_rng(0)
    for split, spk in (("train", "s01"), ("dev", "s02"), ("test", "s03"), ("test", "g01")):
        subset = "CoSG" if spk == "g01" else "CoRS"
        for u in range(cosg if subset == "CoSG" else n_per_split):
            utt = 10 + u if u % 2 == 0 else 300 + u  # alternately seen / unseen ids
            key = f"{spk}_{utt:03d}"
            path = tmp_path / "corpus" / spk / f"{key}.flac"
            write_audio(path, (0.2 * rng.standard_normal(1600 + 160 * u)).astype(np.float32))
            rows.append({"key": key, "path": str(path), "speaker": spk, "utt_id": utt,
                         "text": "hello", "codec": "bonafide", "subset": subset, "split": split,
                         "seen": utt <= 250, "pair_key": key, "codec_seen": True, "label_vq": 0,
                         "label_aux": 0, "label_dec": 0, "label_bin": 0,
                         "duration_s": (1600 + 160 * u) / 16000})
    return to_manifest_frame(rows)


def _codecs():
    return [CodecEntry("zoo_a", StandInCodec(0), held_out=False, generate=_generate),
            CodecEntry("zoo_b", StandInCodec(1), held_out=True, generate=_generate)]


def test_labels_pairs_and_held_out(tmp_path):
    corpus = _corpus(tmp_path, cosg=2)
    df, report = build_resynth_manifest(corpus, _codecs(), TAX, tmp_path / "audio", batch_size=2,
                                        seed=3)
    assert list(df.columns) == list(MANIFEST_COLUMNS) and df["key"].is_unique
    cors = df[(df["subset"] == "CoRS") & (df["codec"] != "bonafide")]
    a = cors[cors["codec"] == "zoo_a"]
    assert len(a) == 6 and a["codec_seen"].all()
    assert (a[["label_vq", "label_aux", "label_dec", "label_bin"]].values == [1, 1, 1, 1]).all()
    # a held-out codec makes no CoRS clip: CoRS test holds the training codecs (CodecFake+)
    assert "zoo_b" not in set(cors["codec"])
    # every spoof points at its bona fide clip, with the same speaker, utterance and split
    bona = df[df["codec"] == "bonafide"].set_index("key")
    for row in cors.itertuples():
        src = bona.loc[row.pair_key]
        assert row.key == f"{row.pair_key}_{row.codec}"
        assert (row.speaker, row.utt_id, row.split, row.seen) == (src.speaker, src.utt_id,
                                                                 src.split, src.seen)
        assert len(load_audio(row.path)) == len(load_audio(src.path))  # same length
        assert f"/{row.codec}/" in row.path
    # the CoSG world: never resynthesized; each generator continues each of its bona fide clips
    cosg = df[df["subset"] == "CoSG"]
    assert len(cosg) == 2 + 2 * 2 and set(cosg["split"]) == {"test"}
    assert dict(zip(cosg["codec"], cosg["codec_seen"])) == {"bonafide": True, "zoo_a": True,
                                                            "zoo_b": False}
    for row in cosg[cosg["codec"] != "bonafide"].itertuples():
        src = bona.loc[row.pair_key]
        assert src.subset == "CoSG" and row.key == f"{row.pair_key}_{row.codec}"
        assert (row.speaker, row.utt_id) == (src.speaker, src.utt_id)
        assert len(load_audio(row.path)) == len(load_audio(src.path))
    b = cosg[cosg["codec"] == "zoo_b"]
    assert (b[["label_vq", "label_aux", "label_dec", "label_bin"]].values == [3, 2, 2, 1]).all()
    assert report["groups"]["CoRS/test"]["labels"]["bin"]["spoof"] == 2
    assert report["groups"]["CoSG/test"]["clips"] == 6
    assert report["clips_per_split_codec"]["test/zoo_b"] == 2
    assert report["codecs"]["zoo_b"]["held_out"] is True and report["rejected"] == []


def test_labels_come_from_the_taxonomy_not_the_name(tmp_path):
    tax = Taxonomy(extra={"zoo_a": CodecFamily("svq", "disentangle", "freq"),
                          "zoo_b": CodecFamily("sq", "semantic", "freq")})
    df, _ = build_resynth_manifest(_corpus(tmp_path, 1), _codecs()[:1], tax, tmp_path / "audio")
    spoof = df[df["codec"] == "zoo_a"]
    assert (spoof[["label_vq", "label_aux", "label_dec"]].values == [2, 3, 2]).all()


def test_unknown_codec_fails_before_work(tmp_path):
    entry = CodecEntry("zoo_nope", StandInCodec(0))
    with pytest.raises(KeyError, match="zoo_nope"):
        build_resynth_manifest(_corpus(tmp_path, 1), [entry], TAX, tmp_path / "audio")
    assert not (tmp_path / "audio").exists()


def test_bad_bonafide_clip_is_reported_and_skipped(tmp_path):
    corpus = _corpus(tmp_path)
    bad = corpus["path"].iloc[0]
    with open(bad, "wb") as f:
        f.write(b"")
    df, report = build_resynth_manifest(corpus, _codecs()[:1], TAX, tmp_path / "audio")
    assert [r["reason"] for r in report["rejected"]] == ["empty file (0 bytes)"]
    assert corpus["key"].iloc[0] not in set(df["pair_key"])
    assert len(df) == 2 * (len(corpus) - 1)


def test_generated_clips_are_seeded_by_their_identity(tmp_path):
    """A clip's generation seed is (seed, generator, clip key): removing another prompt clip
    or rerunning leaves it bit for bit the same."""
    corpus = _corpus(tmp_path, 1, cosg=3)
    first, _ = build_resynth_manifest(corpus, _codecs()[:1], TAX, tmp_path / "a", seed=3)
    fewer = corpus[corpus["key"] != corpus.loc[corpus["subset"] == "CoSG", "key"].iloc[0]]
    second, _ = build_resynth_manifest(fewer, _codecs()[:1], TAX, tmp_path / "b", seed=3)
    gen = second[(second["subset"] == "CoSG") & (second["codec"] == "zoo_a")]
    assert len(gen) == 2
    for row in gen.itertuples():
        other = first.loc[first["key"] == row.key, "path"].item()
        np.testing.assert_array_equal(load_audio(row.path), load_audio(other))
    third, _ = build_resynth_manifest(corpus, _codecs()[:1], TAX, tmp_path / "c", seed=4)
    key = gen["key"].iloc[0]
    assert not np.array_equal(load_audio(third.loc[third["key"] == key, "path"].item()),
                              load_audio(first.loc[first["key"] == key, "path"].item()))


def test_rerun_reuses_finished_files(tmp_path):
    corpus = _corpus(tmp_path)
    first, _ = build_resynth_manifest(corpus, _codecs()[:1], TAX, tmp_path / "audio")
    mtimes = {p: pd.Timestamp.fromtimestamp(__import__("os").path.getmtime(p))
              for p in first["path"]}

    class Exploding(StandInCodec):
        def resynthesize(self, wave):
            raise AssertionError("should not be called")

    again, _ = build_resynth_manifest(corpus, [CodecEntry("zoo_a", Exploding(0))], TAX,
                                      tmp_path / "audio")
    assert again.equals(first)
    assert all(pd.Timestamp.fromtimestamp(__import__("os").path.getmtime(p)) == t
               for p, t in mtimes.items())


def test_max_clips_per_split_is_a_stratified_seeded_subset(tmp_path):
    from pipelines.codecs.resynthesize import select_bonafide
    corpus = _corpus(tmp_path, n_per_split=6)  # test: 3 seen (id 100..) and 3 unseen ids
    rng = np.random.default_rng(0)
    picked = select_bonafide(corpus, ("train", "test"), {"train": 2, "test": 4}, rng)
    assert (picked["split"] == "train").sum() == 2 and (picked["split"] == "test").sum() == 4
    assert picked.loc[picked["split"] == "test", "seen"].sum() == 2  # half seen, half unseen
    assert "dev" not in set(picked["split"])
    again = select_bonafide(corpus, ("train", "test"), {"train": 2, "test": 4},
                            np.random.default_rng(0))
    assert again["key"].tolist() == picked["key"].tolist()
    lopsided = select_bonafide(corpus, ("test",), {"test": 5}, rng)
    assert len(lopsided) == 5
    df, _ = build_resynth_manifest(corpus, _codecs(), TAX, tmp_path / "audio",
                                   max_clips_per_split={"train": 1, "test": 2})
    counts = df[df["codec"] != "bonafide"].groupby(["codec", "split"]).size().to_dict()
    assert counts == {("zoo_a", "train"): 1, ("zoo_a", "dev"): 6, ("zoo_a", "test"): 2}


def test_a_held_out_real_codec_is_refused():
    """Held-out codecs appear only through generation; an adapter cannot generate."""
    from pipelines.params import ParamsError
    from pipelines.params.resynthesize import RealCodecParams

    with pytest.raises(ParamsError, match="held_out"):
        RealCodecParams(name="DAC24", kind="dac", source="/models/dac", held_out=True)
