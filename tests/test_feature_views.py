"""K seeded RawBoost views: the Whisper features of the view the training loader picks line up
with the waveform it augments (issue #14 item 6).

The encoder is a stand-in that writes the waveform itself into the (128, d) feature array, so
"these features were computed from that waveform" is checked sample for sample."""

import numpy as np
import pytest

from pipelines.dataset.loader import FEATURE_ROWS, make_dataset, shard_paths_for
from pipelines.dataset.shards import build_shards, sample_key
from pipelines.params.shard import ShardParams
from pipelines.train.data import _augment
from pipelines.whisper.feature_shards import extract_shard
from sastnet.augment import pick_view, rawboost_view
from tests.shard_dummies import fake_vad, make_manifest

D = 8  # feature width of the stand-in encoder: the first 128 x 8 samples of the wave
NUM_SAMPLES, SEED, ALGO, K = 16000, 7, 5, 3


def _encode(waves):
    return np.stack([w[:FEATURE_ROWS * D].reshape(FEATURE_ROWS, D) for w in waves])


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("views")
    manifest = make_manifest(root / "audio", train_utts=3)
    build_shards(manifest, fake_vad(manifest), root / "shards", ShardParams(tasks=("aux",),
                 samples_per_shard=4), seed=1)
    src = shard_paths_for(root / "shards", "train-aux")
    for path in src:
        rel = path.split("/shards/")[1]
        extract_shard(_encode, path, root / "features" / rel, num_samples=NUM_SAMPLES, batch_size=3)
        for k in range(K):
            extract_shard(_encode, path, root / "views" / f"v{k}" / rel, num_samples=NUM_SAMPLES,
                          batch_size=3,
                          transform=lambda key, w, k=k: rawboost_view(w, ALGO, SEED, key, k))
    return root, src


def _clips(root, src):
    return list(make_dataset(src, num_samples=NUM_SAMPLES, feature_dir=str(root / "features"),
                             view_dirs=tuple(str(root / "views" / f"v{k}") for k in range(K)),
                             split_by_node=False, split_by_worker=False))


def test_loader_attaches_every_view_in_order(shards):
    root, src = shards
    clips = _clips(root, src)
    assert clips and all(len(c["whisper_views"]) == K for c in clips)
    clip = clips[0]
    for k in range(K):
        expected = rawboost_view(clip["wave"], ALGO, SEED, sample_key(clip["key"]), k)
        np.testing.assert_allclose(clip["whisper_views"][k].ravel(),
                                   expected[:FEATURE_ROWS * D].astype(np.float16), rtol=0, atol=0)


@pytest.mark.parametrize("epoch", [0, 5])
def test_augmented_waveform_matches_its_view_features(shards, epoch):
    root, src = shards
    clips = _clips(root, src)
    train_seed = SEED + 3  # another training seed draws other views of the same precomputed set
    out = list(_augment(clips, ALGO, np.random.default_rng(0), seed=train_seed, epoch=epoch,
                        views_seed=SEED))
    for clean, aug in zip(clips, out):
        assert "whisper_views" not in aug
        assert aug["view"] == pick_view(train_seed, sample_key(clean["key"]), epoch, K)
        # the features are those of exactly the waveform the acoustic branch gets
        np.testing.assert_array_equal(aug["whisper"].ravel(),
                                      aug["wave"][:FEATURE_ROWS * D].astype(np.float16)
                                      .astype(np.float32))
        assert not np.allclose(aug["wave"], clean["wave"])  # it is augmented


def test_views_differ_and_epochs_draw_different_views(shards):
    root, src = shards
    clip = _clips(root, src)[0]
    views = clip["whisper_views"]
    assert not np.array_equal(views[0], views[1])
    picks = {pick_view(SEED, "p001_001", e, K) for e in range(30)}
    assert picks == set(range(K))
