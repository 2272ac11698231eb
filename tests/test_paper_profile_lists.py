"""Paper profile data: the official CodecFake+ lists become the training/dev/test shards row for
row, and the seen250 experiment filters training and dev clips by utterance id.

The expected keys are read from the protocol files with plain string splitting, not with the
code under test; the shards are real WebDataset tars read back with tarfile."""

import json
import tarfile
from pathlib import Path

import pytest

from pipelines.corpus.codecfake_plus import list_table, prepare_codecfake_plus
from pipelines.dataset.shards import build_shards, official_splits, plan_splits
from pipelines.params.corpus import TASK_LISTS, CodecFakePlusParams
from pipelines.params.shard import ShardParams
from tests.codecfake_release import build_fake_release, list_utts
from tests.shard_dummies import fake_vad

TASKS = ("vq", "aux", "dec", "bin")
OFFICIAL = {"aux": "mult_learn.txt", "bin": "mult_learn.txt", "vq": "mult_learn_bal_vq.txt",
            "dec": "mult_learn_bal_dec.txt"}  # the release's README, typed here by hand


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("codecfake_plus")
    section = build_fake_release(root)
    p = CodecFakePlusParams(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in section.items()})
    manifest, log = prepare_codecfake_plus(p)
    return root, p, manifest, list_table(log)


def _shard_keys(shards_dir: Path, split: str) -> list[str]:
    keys = []
    for tar in sorted((shards_dir / split).glob("shard-*.tar")):
        with tarfile.open(tar) as f:
            for member in f.getmembers():
                if member.name.endswith(".json"):
                    keys.append(json.loads(f.extractfile(member).read())["key"])
    return keys


def _utt_id(utt: str) -> int:
    return int(utt.split("_")[1])


def test_task_lists_default_is_the_release_mapping():
    assert TASK_LISTS == OFFICIAL


def test_list_table_keeps_every_row_in_file_order(release):
    root, p, _, lists = release
    for name in p.train_lists + p.dev_lists + p.test_lists:
        assert lists[lists["list"] == name]["key"].tolist() == list_utts(root / "protocols" / name)


def test_official_shards_are_the_lists_row_for_row(release, tmp_path):
    root, p, manifest, lists = release
    official = official_splits(lists, p.task_lists, TASKS)
    cfg = ShardParams(train_lists="official", tasks=TASKS, samples_per_shard=7)
    index = build_shards(manifest, fake_vad(manifest), tmp_path, cfg, seed=1, official=official)
    for task in TASKS:
        for prefix, split in (("train_", "train"), ("dev_", "dev"), ("test_", "test_list")):
            expected = list_utts(root / "protocols" / (prefix + OFFICIAL[task]))
            assert _shard_keys(tmp_path, f"{split}-{task}") == expected, (task, split)
            assert index["splits"][f"{split}-{task}"]["samples"] == len(expected)
    # the one dev split every task selects on is the AUX dev list (dev_mult_learn.txt)
    assert _shard_keys(tmp_path, "dev") == list_utts(root / "protocols" / "dev_mult_learn.txt")
    # the test lists hold Encodec_24b24k rows that CoRS_ALL lacks; they are test clips too
    test_list = _shard_keys(tmp_path, "test_list-aux")
    assert any(k.endswith("_Encodec_24b24k") for k in test_list)
    assert set(test_list) <= set(manifest.loc[manifest["split"] == "test", "key"])


def test_balanced_lists_differ_so_each_task_reads_its_own(release):
    root = release[0]
    aux = list_utts(root / "protocols" / "train_mult_learn.txt")
    vq = list_utts(root / "protocols" / "train_mult_learn_bal_vq.txt")
    assert aux[0::2] == vq[0::2] and aux[1::2] != vq[1::2]  # same bona fide, other spoofs


def test_seen250_keeps_only_utterance_ids_up_to_250(release):
    root, p, manifest, lists = release
    official = official_splits(lists, p.task_lists, TASKS)
    cfg = ShardParams(train_lists="official", tasks=TASKS)
    plans = {s.name: s for s in plan_splits(manifest, cfg, 1, official, max_utt_id=250)}
    full = {s.name: s for s in plan_splits(manifest, cfg, 1, official)}
    for task in TASKS:
        for prefix, split in (("train_", "train"), ("dev_", "dev")):
            utts = list_utts(root / "protocols" / (prefix + OFFICIAL[task]))
            kept = [k for unit in plans[f"{split}-{task}"].units for k in (r["key"] for r in unit)]
            assert kept == [u for u in utts if _utt_id(u) <= 250]
            assert 0 < len(kept) < len(utts)  # the sample has utterances on both sides of 250
        # test sets are never filtered
        assert plans[f"test_list-{task}"].units == full[f"test_list-{task}"].units


def test_seen250_filters_the_redrawn_lists_too(tmp_path):
    from tests.shard_dummies import make_manifest

    manifest = make_manifest(tmp_path, train_utts=4)
    manifest.loc[manifest["pair_key"].isin(["p001_003", "p001_004"]), "utt_id"] = 300
    cfg = ShardParams(tasks=("aux",))
    plans = {s.name: s for s in plan_splits(manifest, cfg, 1, max_utt_id=250)}
    utts = {int(r["utt_id"]) for unit in plans["train-aux"].units for r in unit}
    assert utts == {1, 2}


def test_official_lists_need_the_lists_read(release):
    _, p, _, lists = release
    with pytest.raises(ValueError, match=r"dev_mult_learn_bal_dec.txt.*corpus.codecfake_plus.dev_lists"):
        official_splits(lists[lists["list"] != "dev_mult_learn_bal_dec.txt"], p.task_lists, TASKS)
