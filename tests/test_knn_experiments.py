"""pipelines.knn: the clip-set selection and the experiments on a synthetic clip table whose
vectors carry a codec signature, a checkpoint signature and a shared per-prompt content part."""

import numpy as np
import pandas as pd
import pytest

from pipelines.knn.clips import manifest_units, select_sources
from pipelines.knn.experiments import LEVEL_COLUMN, Experiment, build_support_index, run_experiments
from pipelines.params.knn import KnnAttributionParams

FAMILIES = {"c_a": ("mvq", "none", "time"), "c_b": ("svq", "semantic", "freq"),
            "c_c": ("sq", "disentangle", "time"), "c_d": ("svq", "disentangle", "freq"),
            "ho_x": ("mvq", "semantic", "freq")}


def synthetic_clips(n_speakers=12, per_speaker=5, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    sources = [(f"s{s:02d}_{u}", f"s{s:02d}", f"prompt {s}-{u}")
               for s in range(n_speakers) for u in range(per_speaker)]
    content = {key: rng.normal(size=dim) for key, _, _ in sources}  # the same for every class
    rows, vecs = [], []
    for codec, (vq, aux, dec) in FAMILIES.items():
        held = codec.startswith("ho_")
        centre = rng.normal(size=dim) * 3
        for ckpt in (["late"] if held else ["early", "mid", "late"]):
            offset = rng.normal(size=dim) * 0.8
            for key, spk, text in sources:
                rows.append({"key": f"{key}_{codec}_{ckpt}", "class": f"{codec}@{ckpt}",
                             "codec": codec, "checkpoint": ckpt, "held_out": held, "vq": vq,
                             "aux": aux, "dec": dec, "speaker": spk, "text": text,
                             "source_key": key, "shard": f"{codec}@{ckpt}/shard-000000.tar"})
                vecs.append(centre + offset + content[key] + 0.3 * rng.normal(size=dim))
    return pd.DataFrame(rows), np.stack(vecs)


CFG = KnnAttributionParams(k_grid=(1, 3, 5, 9, 15))


def test_no_prompt_or_speaker_in_two_parts_of_any_split():
    table, vecs = synthetic_clips()
    exp = Experiment(table, vecs, CFG, seed=7)
    for i in range(CFG.splits):
        for level in ("checkpoint", "architecture", "vq"):
            parts = exp.split(i, exp.known, level, 0)
            texts = [set(table.loc[idx, "text"]) for idx in (parts.support, parts.validation,
                                                            parts.query)]
            speakers = [set(table.loc[idx, "speaker"]) for idx in (parts.support, parts.validation,
                                                                   parts.query)]
            for a in range(3):
                for b in range(a + 1, 3):
                    assert not texts[a] & texts[b]
                    assert not speakers[a] & speakers[b]
            for idx in (parts.support, parts.validation, parts.query):
                labels = table.loc[idx, LEVEL_COLUMN[level]]
                assert labels.value_counts().nunique() == 1  # balanced


def test_mixed_split_shares_prompts():
    table, vecs = synthetic_clips()
    exp = Experiment(table, vecs, CFG, seed=7)
    parts = exp.mixed_split(0, exp.known, "checkpoint")
    shared = set(table.loc[parts.support, "text"]) & set(table.loc[parts.query, "text"])
    assert shared


def test_experiments_on_separable_vectors():
    table, vecs = synthetic_clips()
    layers = np.stack([np.random.default_rng(1).normal(size=vecs.shape), vecs], axis=1)
    res = run_experiments(table, layers, [0, 1], CFG, seed=7)
    assert res["layer"] == 1  # the informative layer, not the noise one
    assert set(res["levels"]) == {"checkpoint", "architecture", "vq", "aux", "dec"}
    assert res["levels"]["architecture"]["mean"] > 0.95
    assert res["levels"]["checkpoint"]["classes"] == 12
    assert res["levels"]["checkpoint"]["n"] == CFG.splits
    assert set(res["ood_checkpoints"]) == {"support_late_query_early_mid",
                                           "support_early_late_query_mid"}
    ood = res["open_set"]
    assert ood["unknown_codecs"] == ["ho_x"]
    assert ood["auroc"]["mean"] > 0.9
    assert ood["enrolled_accuracy"]["mean"] > 0.9
    for k in res["k"].values():
        assert k in CFG.k_grid


def test_support_index_holds_the_known_codecs():
    table, vecs = synthetic_clips()
    index = build_support_index(table, vecs, layer=3, k=5, cfg=CFG, seed=7,
                                meta={"model": "m", "num_samples": 16000})
    assert index.system_names == ["c_a", "c_b", "c_c", "c_d"]
    assert index.meta["layer"] == 3 and index.meta["threshold"] > 0
    answers = index.attribute(vecs[table["codec"].eq("c_b").to_numpy()][:5])
    assert [a["system"] for a in answers] == ["c_b"] * 5
    assert {a["vq"] for a in answers} == {"svq"}


@pytest.mark.parametrize("per_speaker", [1, 3])
def test_select_sources_distinct_prompts_per_speaker(per_speaker):
    bona = pd.DataFrame({"key": [f"s{s}_{u}" for s in range(4) for u in range(6)],
                         "speaker": [f"s{s}" for s in range(4) for u in range(6)],
                         "text": [f"t{(s + u) % 7}" for s in range(4) for u in range(6)]})
    chosen = select_sources(bona, per_speaker, seed=3)
    assert chosen["text"].is_unique
    assert chosen.groupby("speaker").size().max() <= per_speaker
    shuffled = select_sources(bona.sample(frac=1.0, random_state=0), per_speaker, seed=3)
    assert sorted(shuffled["key"]) == sorted(chosen["key"])


def test_manifest_units_one_class_per_codec_from_the_selected_sources():
    rows = [{"key": f"p{u}", "codec": "bonafide", "subset": "CoRS", "pair_key": f"p{u}",
             "codec_seen": True, "path": f"p{u}.flac"} for u in range(3)]
    for codec, seen in (("Encodec_24b24k", True), ("DAC24", False)):
        rows += [{"key": f"p{u}_{codec}", "codec": codec, "subset": "CoRS", "pair_key": f"p{u}",
                  "codec_seen": seen, "path": f"p{u}_{codec}.flac"} for u in range(3)]
    rows.append({"key": "gen1", "codec": "DAC24", "subset": "CoSG", "pair_key": "gen1",
                 "codec_seen": False, "path": "gen1.flac"})
    units = manifest_units(pd.DataFrame(rows), pd.DataFrame({"key": ["p0", "p2"]}))
    assert [(u.name, u.held_out) for u in units] == [("DAC24@release", True),
                                                     ("Encodec_24b24k@release", False)]
    assert [src for src, _, _ in units[0].items] == ["p0", "p2"]
    assert units[0].checkpoint_path is None and set(units[0].family) == {"vq", "aux", "dec"}


def test_knn_clip_index_holds_no_timings(tmp_path):
    """data/knn/shards/index.json is a DVC output: two builds give the same bytes (timings go
    to the report's volatile part, outside every DVC output)."""
    import json

    import soundfile as sf

    from pipelines.common.io import split_volatile
    from pipelines.knn.clips import ClipUnit, build_knn_clips
    from pipelines.params.knn import KnnClipsParams

    paths = []
    for i in range(2):
        path = tmp_path / f"s{i}.wav"
        sf.write(path, np.random.default_rng(i).uniform(-0.1, 0.1, 8000).astype(np.float32), 16000)
        paths.append(str(path))
    sources = pd.DataFrame({"key": ["s0", "s1"], "speaker": ["a", "b"], "text": ["x", "y"]})
    unit = ClipUnit("Enc", "release", False, {"vq": "mvq", "aux": "none", "dec": "time"},
                    tuple((f"s{i}", p, f"s{i}_Enc") for i, p in enumerate(paths)))
    cfg = KnnClipsParams(source="manifest", workers=1)
    indexes = []
    for run in ("a", "b"):
        _, report = build_knn_clips([unit], sources, tmp_path / run, cfg)
        indexes.append((tmp_path / run / "shards" / "index.json").read_bytes())
        assert split_volatile(report)[1]["seconds"]  # the timing is in the report's volatile part
    assert indexes[0] == indexes[1]
    assert "seconds" not in json.loads(indexes[0])["Enc@release/shard-000000.tar"]


def test_knn_clips_are_level_matched_to_their_source(tmp_path):
    """A codec checkpoint's kNN clips keep each source's RMS (within 0.5 dB), as the
    resynthesize stage's clips do: no loudness shortcut between classes, and a resynthesized
    corpus clip is embedded at the level of its class's support clips."""
    import io

    import soundfile as sf
    import torch
    import webdataset as wds

    from pipelines.knn.clips import ClipUnit, build_knn_clips
    from pipelines.params.knn import KnnClipsParams
    from sastnet.codecs.codec import build_codec, save_codec
    from tests.codecs.conftest import tiny_config
    from tests.test_level_match import _rms_db

    torch.manual_seed(0)
    codec = build_codec(tiny_config())
    ckpt = tmp_path / "codec.pt"
    save_codec(codec, ckpt, name="Enc")
    rng = np.random.default_rng(3)
    paths, levels = [], {}
    for i, level in enumerate((0.003, 0.02, 0.08)):  # sources far apart in level
        path = tmp_path / f"s{i}.wav"
        sf.write(path, (level * rng.standard_normal(4000)).astype(np.float32), 16000)
        paths.append(str(path))
        levels[f"s{i}_Enc"] = 20 * np.log10(level)
    sources = pd.DataFrame({"key": ["s0", "s1", "s2"], "speaker": ["a", "b", "c"],
                            "text": ["x", "y", "z"]})
    unit = ClipUnit("Enc", "late", False, {"vq": "mvq", "aux": "none", "dec": "time"},
                    tuple((f"s{i}", p, f"s{i}_Enc") for i, p in enumerate(paths)), str(ckpt))
    build_knn_clips([unit], sources, tmp_path / "out", KnnClipsParams(workers=1))
    shard = tmp_path / "out" / "shards" / "Enc@late" / "shard-000000.tar"
    got = {}
    for sample in wds.WebDataset(str(shard), shardshuffle=False):
        wave, _ = sf.read(io.BytesIO(sample["flac"]), dtype="float32")
        got[sample["__key__"]] = _rms_db(wave)
    assert set(got) == set(levels)
    for key, db in got.items():
        assert abs(db - levels[key]) < 0.5, (key, db, levels[key])


def with_bonafide(table: pd.DataFrame, vecs: np.ndarray, seed: int = 3):
    """The synthetic table plus the bona fide class: the source clips themselves (content and
    their own signature, no codec), as ``pipelines.knn.clips.bonafide_unit`` adds them."""
    from pipelines.knn.clips import BONAFIDE

    rng = np.random.default_rng(seed)
    sources = table.drop_duplicates("source_key").sort_values("source_key")
    content = {r.source_key: vecs[table.index[table["source_key"] == r.source_key]].mean(0)
               for r in sources.itertuples()}  # the shared per-prompt part, roughly
    centre = rng.normal(size=vecs.shape[1]) * 3
    rows, extra = [], []
    for r in sources.itertuples():
        rows.append({**{c: getattr(r, c) for c in ("speaker", "text", "source_key")},
                     "key": f"{r.source_key}_bonafide_real", "class": BONAFIDE,
                     "codec": BONAFIDE, "checkpoint": "real", "held_out": False,
                     "vq": BONAFIDE, "aux": BONAFIDE, "dec": BONAFIDE,
                     "shard": f"{BONAFIDE}/shard-000000.tar"})
        extra.append(centre + content[r.source_key] + 0.3 * rng.normal(size=vecs.shape[1]))
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True), np.r_[vecs, np.stack(extra)]


def test_bona_fide_reference_gives_a_bona_fide_false_alarm_rate_and_leaves_attribution_alone():
    """#40: with bona fide clips in the support set, real speech of unseen speakers is not
    "unknown"; without them (the index before) it is. The in-domain tables do not change."""
    from pipelines.knn.report import flat_metrics, render_table

    table, vecs = synthetic_clips()
    plain = run_experiments(table, vecs[:, None], [0], CFG, seed=7)
    table_b, vecs_b = with_bonafide(table, vecs)
    res = run_experiments(table_b, vecs_b[:, None], [0], CFG, seed=7)
    assert res["levels"] == plain["levels"] and res["prompts_mixed"] == plain["prompts_mixed"]
    assert res["ood_checkpoints"] == plain["ood_checkpoints"] and res["k"] == plain["k"]
    ood = res["open_set"]
    assert ood["bonafide_reference"] and "bonafide_false_alarm_rate" not in plain["open_set"]
    assert ood["bonafide_false_alarm_rate"]["mean"] < 0.2
    assert ood["bonafide_false_alarm_rate_without_reference"]["mean"] > 0.8
    assert ood["bonafide_called_spoof"]["mean"] < 0.1
    assert ood["unknown_called_bonafide"]["mean"] < 0.1
    assert ood["auroc"]["mean"] > 0.9
    text = render_table(res, {"model": "m", "num_samples": 16000, "fractions": CFG.fractions,
                              "speaker_disjoint": True})
    assert "**bona fide false-alarm rate**" in text and "known codecs + bona fide + unknown" in text
    assert "bona fide false-alarm rate" not in render_table(
        plain, {"model": "m", "num_samples": 16000, "fractions": CFG.fractions,
                "speaker_disjoint": True})
    assert "bonafide_false_alarm_rate" in flat_metrics(res)["open_set"]


def test_support_index_holds_bona_fide_as_a_system_outside_the_family_vote():
    table, vecs = with_bonafide(*synthetic_clips())
    index = build_support_index(table, vecs, layer=3, k=5, cfg=CFG, seed=7,
                                meta={"model": "m", "num_samples": 16000})
    assert index.system_names == ["bonafide", "c_a", "c_b", "c_c", "c_d"]
    assert index.meta["bonafide_clips"] > 0
    bona = table["codec"].eq("bonafide").to_numpy()
    in_support = set(index.columns["keys"])
    unseen = [i for i in np.flatnonzero(bona) if table.loc[i, "key"] not in in_support]
    answers = index.attribute(vecs[unseen])
    assert all(a["system"] == "bonafide" for a in answers)
    assert sum(a["unknown"] for a in answers) <= len(answers) // 5
    held = vecs[table["codec"].eq("ho_x").to_numpy()][:10]
    for a in index.attribute(held):  # the fallback family is a spoof family, never bona fide
        assert "bonafide" not in (a["vq"], a["aux"], a["dec"])


def test_the_bona_fide_unit_is_the_sources_themselves(tmp_path):
    import soundfile as sf

    from pipelines.knn.clips import bonafide_unit

    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    sources = pd.DataFrame({"key": ["p1"], "path": [str(tmp_path / "a.wav")], "speaker": ["s"],
                            "text": ["t"]})
    unit = bonafide_unit(sources)
    assert unit.name == "bonafide" and unit.checkpoint_path is None and not unit.held_out
    assert unit.items == (("p1", str(tmp_path / "a.wav"), "p1_bonafide_real"),)
    assert unit.family == {"vq": "bonafide", "aux": "bonafide", "dec": "bonafide"}
