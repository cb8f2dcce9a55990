"""Tests for hashattack.retrieval.metrics against per-query Python references and hand-computed values."""

import math

import numpy as np
import pytest
import torch

from hashattack.retrieval.metrics import (
    average_precisions,
    mean_average_precision,
    perceptibility,
    precision_at_k,
    precision_at_ks,
    precision_recall_curve,
    summarize_perceptibility,
)


def random_codes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=(n, k))


def as_multi_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return labels if labels.ndim == 2 else np.eye(n_classes, dtype=np.int64)[labels]


def reference_ranked_relevance(qc, dc, ql, dl, topk):
    """Per query, the relevance (0/1) of the top items: sort by (distance, index), relevance by shared label."""
    out = []
    for i in range(len(qc)):
        dists = [sum(int(x != y) for x, y in zip(qc[i], dc[j])) for j in range(len(dc))]
        order = sorted(range(len(dc)), key=lambda j: (dists[j], j))
        if topk is not None:
            order = order[:topk]
        out.append([int(np.dot(ql[i], dl[j]) > 0) for j in order])
    return out


def reference_ap(qc, dc, ql, dl, topk):
    aps = []
    for rels in reference_ranked_relevance(qc, dc, ql, dl, topk):
        hits, total = 0, 0.0
        for rank, rel in enumerate(rels, start=1):
            if rel:
                hits += 1
                total += hits / rank
        aps.append(total / hits if hits else math.nan)
    return aps


def one_hot_data(rng):
    """K = 4 (many ties); class 4 appears only among queries, so those queries have no relevant item."""
    qc, dc = random_codes(rng, 13, 4), random_codes(rng, 40, 4)
    ql = np.concatenate([rng.integers(0, 4, size=10), [4, 4, 4]])
    dl = rng.integers(0, 4, size=40)
    return qc, dc, ql, dl, 5


def multi_hot_data(rng):
    qc, dc = random_codes(rng, 13, 4), random_codes(rng, 40, 4)
    ql = (rng.random((13, 6)) < 0.25).astype(np.int64)
    ql[0] = 0  # a query with no label at all: nothing is relevant to it
    dl = (rng.random((40, 6)) < 0.25).astype(np.int64)
    return qc, dc, ql, dl, 6


@pytest.mark.parametrize("make_data", [one_hot_data, multi_hot_data])
@pytest.mark.parametrize("topk", [None, 3, 10])
def test_map_matches_per_query_reference(make_data, topk):
    qc, dc, ql, dl, n_classes = make_data(np.random.default_rng(0))
    ref = np.array(reference_ap(qc, dc, as_multi_hot(ql, n_classes), as_multi_hot(dl, n_classes), topk))
    assert np.isnan(ref).any() and not np.isnan(ref).all()

    aps = average_precisions(qc, dc, ql, dl, topk=topk, chunk_size=4)
    assert aps.dtype == np.float64 and aps.shape == (13,)
    np.testing.assert_allclose(aps, ref, rtol=1e-12)  # NaN positions must agree too

    zero = mean_average_precision(qc, dc, ql, dl, topk=topk, chunk_size=5)
    drop = mean_average_precision(qc, dc, ql, dl, topk=topk, zero_relevance="drop")
    assert zero == pytest.approx(np.nan_to_num(ref).mean(), rel=1e-12)
    assert drop == pytest.approx(np.nanmean(ref), rel=1e-12)
    assert drop > zero
    torch_map = mean_average_precision(
        torch.from_numpy(qc).float(), torch.from_numpy(dc), torch.from_numpy(ql), torch.from_numpy(dl), topk=topk
    )
    assert torch_map == pytest.approx(zero, rel=1e-12)


def test_map_hand_computed_example():
    query = np.array([[1, 1, 1, 1]])
    db = np.array(
        [
            [1, 1, 1, -1],  # distance 1
            [1, 1, 1, 1],  # distance 0
            [1, 1, -1, -1],  # distance 2
            [-1, 1, 1, 1],  # distance 1 (tie with item 0, ranked after it)
        ]
    )
    db_labels = np.array([0, 1, 0, 1])
    # ranking 1, 0, 3, 2 -> relevance 1, 0, 1, 0 -> AP = (1/1 + 2/3) / 2
    assert mean_average_precision(query, db, np.array([1]), db_labels) == pytest.approx(5 / 6)
    assert mean_average_precision(query, db, np.array([1]), db_labels, topk=2) == pytest.approx(1.0)
    assert mean_average_precision(query, db, np.array([1]), db_labels, topk=3) == pytest.approx(5 / 6)
    np.testing.assert_allclose(
        precision_at_ks(query, db, np.array([1]), db_labels, [1, 2, 3, 4]), [1, 1 / 2, 2 / 3, 1 / 2]
    )
    # a second query whose class (2) is absent from the database: AP undefined
    queries = np.concatenate([query, query])
    labels = np.array([1, 2])
    np.testing.assert_array_equal(np.isnan(average_precisions(queries, db, labels, db_labels)), [False, True])
    assert mean_average_precision(queries, db, labels, db_labels) == pytest.approx(5 / 12)
    assert mean_average_precision(queries, db, labels, db_labels, zero_relevance="drop") == pytest.approx(5 / 6)
    assert mean_average_precision(query, db, np.array([2]), db_labels, zero_relevance="drop") == 0.0


def test_mixed_label_forms_equal_one_hot():
    qc, dc, ql, dl, n_classes = one_hot_data(np.random.default_rng(3))
    dl_matrix = as_multi_hot(dl, n_classes)
    expected = average_precisions(qc, dc, as_multi_hot(ql, n_classes), dl_matrix)
    np.testing.assert_array_equal(average_precisions(qc, dc, ql, dl_matrix), expected)
    np.testing.assert_array_equal(average_precisions(qc, dc, ql, dl), expected)


@pytest.mark.parametrize("make_data", [one_hot_data, multi_hot_data])
def test_precision_at_k_matches_reference(make_data):
    qc, dc, ql, dl, n_classes = make_data(np.random.default_rng(1))
    ks = [1, 2, 5, 17, 40]
    rels = reference_ranked_relevance(qc, dc, as_multi_hot(ql, n_classes), as_multi_hot(dl, n_classes), None)
    expected = [np.mean([sum(r[:k]) / k for r in rels]) for k in ks]
    out = precision_at_ks(qc, dc, ql, dl, ks, chunk_size=3)
    assert out.shape == (len(ks),)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    for k, value in zip(ks, expected):
        assert precision_at_k(qc, dc, ql, dl, k) == pytest.approx(value, rel=1e-12)


def reference_pr_curve(qc, dc, ql, dl):
    k = qc.shape[1]
    dist = (qc[:, None, :] != dc[None, :, :]).sum(axis=2)
    rel = (ql @ dl.T) > 0
    precision, recall = [], []
    for r in range(k + 1):
        precs, recs = [], []
        for i in range(len(qc)):
            retrieved = dist[i] <= r
            if retrieved.sum():
                precs.append((retrieved & rel[i]).sum() / retrieved.sum())
            if rel[i].sum():
                recs.append((retrieved & rel[i]).sum() / rel[i].sum())
        precision.append(np.mean(precs) if precs else math.nan)
        recall.append(np.mean(recs) if recs else math.nan)
    return np.array(precision), np.array(recall)


@pytest.mark.parametrize("make_data", [one_hot_data, multi_hot_data])
def test_precision_recall_curve_matches_reference(make_data):
    rng = np.random.default_rng(2)
    qc, dc, ql, dl, n_classes = make_data(rng)
    qc, dc = random_codes(rng, 13, 8), random_codes(rng, 40, 8)  # K = 8: radius 0 often retrieves nothing
    expected = reference_pr_curve(qc, dc, as_multi_hot(ql, n_classes), as_multi_hot(dl, n_classes))
    precision, recall = precision_recall_curve(qc, dc, ql, dl, chunk_size=4)
    assert precision.shape == recall.shape == (9,)
    np.testing.assert_allclose(precision, expected[0], rtol=1e-12)
    np.testing.assert_allclose(recall, expected[1], rtol=1e-12)
    assert (np.diff(recall) >= 0).all() and recall[-1] == pytest.approx(1.0)


def test_precision_recall_curve_nan_where_nothing_retrieved():
    query, db = np.array([[1, 1]]), np.array([[-1, -1], [-1, -1]])
    precision, recall = precision_recall_curve(query, db, np.array([0]), np.array([0, 1]))
    np.testing.assert_array_equal(np.isnan(precision), [True, True, False])
    assert precision[2] == 0.5
    np.testing.assert_array_equal(recall, [0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a: mean_average_precision(*a, zero_relevance="none"), "unknown zero-relevance convention 'none': choose 'zero' or 'drop'"),
        (lambda a: mean_average_precision(a[0], a[1], a[2][:2], a[3]), "query_labels"),
        (lambda a: mean_average_precision(a[0], a[1], a[2], np.full((4, 2), 2)), "0 and 1"),
        (lambda a: mean_average_precision(a[0], a[1], a[2].astype(float), a[3]), "integer"),
        (lambda a: mean_average_precision(a[0], a[1], np.eye(3)[a[2]], np.eye(2)[a[3]]), "number of classes"),
        (lambda a: mean_average_precision(a[0], a[1], a[2], np.eye(2)[a[3] % 2]), "out of range"),
        (lambda a: precision_at_k(*a, k=5), "at most the database size 4"),
        (lambda a: precision_at_k(*a, k=0), "positive integer"),
        (lambda a: precision_at_ks(*a, ks=[]), "at least one"),
    ],
)
def test_metrics_reject_bad_input(call, message):
    args = (np.ones((3, 4)), -np.ones((4, 4)), np.array([0, 1, 2]), np.array([0, 1, 1, 0]))
    with pytest.raises(ValueError, match=message):
        call(args)


def test_perceptibility_hand_values():
    benign = np.full((2, 3, 4, 4), 0.5)
    adversarial = benign.copy()
    adversarial[0, 1, 2, 3] += 0.1
    for b, a in ((benign, adversarial), (torch.from_numpy(benign).float(), torch.from_numpy(adversarial).float())):
        out = perceptibility(b, a)
        assert set(out) == {"linf", "l2", "psnr", "ssim"}
        np.testing.assert_allclose(out["linf"], [0.1, 0.0], atol=1e-6)
        np.testing.assert_allclose(out["l2"], [0.1, 0.0], atol=1e-6)
        assert out["psnr"][0] == pytest.approx(10 * math.log10(48 / 0.01), rel=1e-5)
        assert out["psnr"][1] == math.inf
    summary = summarize_perceptibility(perceptibility(benign, adversarial))
    assert summary["linf_mean"] == pytest.approx(0.05) and summary["linf_median"] == pytest.approx(0.05)
    assert summary["psnr_mean"] == math.inf and summary["psnr_median"] == math.inf


@pytest.mark.parametrize(
    "benign, adversarial, message",
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), "same shape"),
        (np.zeros((2, 3)), np.full((2, 3), -0.5), "\\[0, 1\\]"),
        (np.full((2, 3), 1.5), np.zeros((2, 3)), "\\[0, 1\\]"),
        (np.zeros((2, 3)), np.full((2, 3), np.nan), "\\[0, 1\\]"),
    ],
)
def test_perceptibility_rejects_bad_input(benign, adversarial, message):
    with pytest.raises(ValueError, match=message):
        perceptibility(benign, adversarial)
