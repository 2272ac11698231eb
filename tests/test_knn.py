"""sastnet.knn: cosine kNN against a brute-force loop, prompt/speaker-disjoint splits, balancing,
the choice of k, the open-set flag and enrolment (tiny synthetic vectors)."""

import math

import numpy as np
import pytest

from sastnet import knn


def brute_force_knn(support, labels, query, k):
    """kNN written as plainly as possible: python loops, math.sqrt, sorted(); every vector
    centred on the support set's mean first."""
    dim = len(support[0])
    mean = [sum(s[i] for s in support) / len(support) for i in range(dim)]
    support = [[a - m for a, m in zip(s, mean)] for s in support]
    query = [[a - m for a, m in zip(q, mean)] for q in query]
    out_labels, out_dist = [], []
    for q in query:
        dists = []
        for j, s in enumerate(support):
            dot = sum(a * b for a, b in zip(q, s))
            norm = math.sqrt(sum(a * a for a in q)) * math.sqrt(sum(b * b for b in s))
            dists.append((1.0 - dot / norm, j))
        near = sorted(dists)[:k]  # ties: lower support index first
        votes, sums = {}, {}
        for d, j in near:
            votes[labels[j]] = votes.get(labels[j], 0) + 1
            sums[labels[j]] = sums.get(labels[j], 0.0) + d
        best = max(votes.values())
        tied = [c for c in votes if votes[c] == best]
        out_labels.append(min(tied, key=lambda c: (sums[c] / votes[c], c)))
        out_dist.append(sum(d for d, _ in near) / k)
    return np.array(out_labels), np.array(out_dist)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_knn_labels_equal_a_brute_force_computation(k):
    rng = np.random.default_rng(k)
    support = rng.normal(size=(23, 5))
    labels = rng.integers(0, 4, size=23)
    query = rng.normal(size=(17, 5))
    res = knn.knn_predict(support, labels, query, k)
    want_labels, want_dist = brute_force_knn(support.tolist(), labels.tolist(), query.tolist(), k)
    np.testing.assert_array_equal(res.labels, want_labels)
    np.testing.assert_allclose(res.distances, want_dist, atol=1e-12)


def test_knn_is_cosine_not_euclidean():
    support = np.array([[1.0, 0.0], [0.0, 1.0]])
    # far from both in euclidean terms, but pointing the way of class 1
    res = knn.knn_predict(support, np.array([0, 1]), np.array([[0.1, 50.0]]), 1)
    assert res.labels.tolist() == [1]


def test_a_shared_offset_is_centred_away_and_queries_never_move_the_centre():
    """Pooled SSL vectors share a large offset: raw cosines are all ~1 (distances ~1e-4);
    around the support mean the classes are far apart again. Each query's answer is the same
    alone or in a batch (the centre comes from the support set only)."""
    rng = np.random.default_rng(3)
    offset = np.full(8, 100.0)
    support = offset + _clusters(np.eye(8)[:2], 10, rng, spread=0.1)
    labels = np.repeat([0, 1], 10)
    query = offset + _clusters(np.eye(8)[:2], 3, rng, spread=0.1)
    raw = 1.0 - knn.l2_normalize(query) @ knn.l2_normalize(support).T
    assert raw.max() < 1e-3  # uncentred: every pair nearly parallel
    centred = knn.cosine_distances(query, support)
    assert centred.max() > 1.0  # opposite sides of the centre
    res = knn.knn_predict(support, labels, query, 3)
    assert res.labels.tolist() == [0, 0, 0, 1, 1, 1]
    alone = [knn.knn_predict(support, labels, q[None], 3).distances[0] for q in query]
    np.testing.assert_allclose(res.distances, alone)


def test_tie_goes_to_the_nearer_class_whatever_the_support_order():
    support = np.array([[1.0, 0.0], [1.0, 0.2], [1.0, 0.05], [1.0, 0.3]])
    labels = np.array([0, 0, 1, 1])
    query = np.array([[1.0, 0.1]])
    a = knn.knn_predict(support, labels, query, 4).labels
    perm = [3, 1, 2, 0]
    b = knn.knn_predict(support[perm], labels[perm], query, 4).labels
    assert a.tolist() == b.tolist()


def test_k_larger_than_the_support_is_an_error():
    with pytest.raises(ValueError, match="k=5"):
        knn.knn_predict(np.ones((3, 2)), np.zeros(3, int), np.ones((1, 2)), 5)


def _corpus(n_speakers=12, per_speaker=6, shared_prompts=True, seed=0):
    rng = np.random.default_rng(seed)
    speakers = np.repeat([f"s{i:02d}" for i in range(n_speakers)], per_speaker)
    pool = [f"prompt {i}" for i in range(n_speakers * per_speaker // (2 if shared_prompts else 1))]
    prompts = rng.choice(pool, size=len(speakers), replace=shared_prompts)
    if not shared_prompts:
        prompts = np.array(pool)
    return speakers, prompts


@pytest.mark.parametrize("speaker_disjoint", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_prompt_appears_in_two_parts(speaker_disjoint, seed):
    speakers, prompts = _corpus()
    parts = knn.split_parts(speakers, prompts, seed, speaker_disjoint=speaker_disjoint)
    for prompt in np.unique(prompts):
        used = set(parts[(prompts == prompt) & (parts >= 0)])
        assert len(used) <= 1, (prompt, used)
    assert set(parts[parts >= 0]) == {0, 1, 2}
    if speaker_disjoint:
        for spk in np.unique(speakers):
            assert len(set(parts[(speakers == spk) & (parts >= 0)])) <= 1


def test_split_fractions_and_seeding():
    speakers, prompts = _corpus(n_speakers=20, per_speaker=5, shared_prompts=False)
    parts = knn.split_parts(speakers, prompts, [1234, 0])
    np.testing.assert_array_equal(parts, knn.split_parts(speakers, prompts, [1234, 0]))
    assert not np.array_equal(parts, knn.split_parts(speakers, prompts, [1234, 1]))
    counts = np.bincount(parts, minlength=3) / len(parts)
    np.testing.assert_allclose(counts, [0.7, 0.1, 0.2], atol=0.06)
    # the same clips in another order get the same parts
    order = np.random.default_rng(3).permutation(len(parts))
    np.testing.assert_array_equal(knn.split_parts(speakers[order], prompts[order], [1234, 0]),
                                  parts[order])


def test_too_few_speakers_falls_back_to_prompt_groups():
    speakers = np.array(["a"] * 10 + ["b"] * 10)
    prompts = np.array([f"p{i}" for i in range(20)])
    parts = knn.split_parts(speakers, prompts, 0, speaker_disjoint=True)
    assert set(parts) == {0, 1, 2}


def test_mixed_split_shares_prompts_across_parts():
    parts = knn.split_items_mixed(100, [0, 1])
    np.testing.assert_array_equal(np.bincount(parts), [70, 10, 20])


def test_balanced_gives_every_class_the_smallest_count():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 5)
    idx = knn.balanced(labels, np.random.default_rng(0))
    assert np.bincount(labels[idx]).tolist() == [3, 3, 3]
    assert np.all(np.diff(idx) > 0)


def test_choose_k_takes_the_best_and_then_the_smallest():
    assert knn.choose_k({1: 0.5, 5: 0.8, 9: 0.8, 21: 0.7}) == 5
    with pytest.raises(ValueError):
        knn.choose_k({})


def _clusters(centres, n, rng, spread=0.05):
    return np.concatenate([c + spread * rng.normal(size=(n, len(c))) for c in centres])


def test_open_set_flag_and_enrolment_of_an_unknown_system():
    rng = np.random.default_rng(0)
    centres = np.eye(4)  # systems 0, 1, 2 known; 3 unknown
    support = _clusters(centres[:3], 20, rng)
    labels = np.repeat([0, 1, 2], 20)
    val = _clusters(centres[:3], 5, rng)
    center = knn.support_center(support)  # kept through the enrolment, as the index does
    threshold = knn.fit_threshold(knn.knn_predict(support, labels, val, 5, center).distances, 0.95)
    unknown = _clusters(centres[3:], 10, rng)
    before = knn.knn_predict(support, labels, unknown, 5, center)
    assert np.all(before.distances > threshold)  # every unknown clip flagged
    enrolled = np.r_[support, _clusters(centres[3:], 20, rng)]
    after = knn.knn_predict(enrolled, np.r_[labels, np.full(20, 3)], unknown, 5, center)
    assert np.all(after.labels == 3) and np.all(after.distances <= threshold)


def test_open_set_scores():
    scores = knn.open_set_scores(np.array([0.1, 0.2, 0.3, 0.9]), np.array([0.8, 1.0]), 0.5)
    assert scores["detection_rate"] == 1.0
    assert scores["false_alarm_rate"] == 0.25
    assert scores["auroc"] == pytest.approx(7 / 8)
    assert scores["f1_unknown"] == pytest.approx(0.8)
