"""Tests for hashattack.retrieval.ranking: Hamming ranking and its tie rule against a brute-force reference."""

import numpy as np
import pytest
import torch

from hashattack.retrieval.ranking import hamming_rank, hamming_rank_with_distances


def random_codes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=(n, k))


def reference_ranking(queries: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: stable order by distance, ties by ascending index (np.lexsort)."""
    dist = (queries[:, None, :] != db[None, :, :]).sum(axis=2)
    order = np.stack([np.lexsort((np.arange(len(db)), row)) for row in dist])
    return order, np.take_along_axis(dist, order, axis=1)


@pytest.mark.parametrize("topk", [None, 1, 7, 50, 55])
@pytest.mark.parametrize("chunk_size", [1, 3, 1024])
def test_hamming_rank_matches_lexsort_reference(topk, chunk_size):
    rng = np.random.default_rng(0)
    queries, db = random_codes(rng, 11, 4), random_codes(rng, 50, 4)  # K = 4: many ties
    order, dist = reference_ranking(queries, db)
    r = 50 if topk is None else min(topk, 50)
    idx, d = hamming_rank_with_distances(queries, db, topk=topk, chunk_size=chunk_size)
    assert idx.dtype == torch.int64 and d.dtype == torch.int64 and idx.shape == (11, r)
    np.testing.assert_array_equal(idx.numpy(), order[:, :r])
    np.testing.assert_array_equal(d.numpy(), dist[:, :r])
    np.testing.assert_array_equal(hamming_rank(queries, db, topk, chunk_size).numpy(), order[:, :r])


def test_hamming_rank_torch_input_and_identical_codes():
    rng = np.random.default_rng(1)
    queries, db = random_codes(rng, 5, 6), random_codes(rng, 30, 6)
    out = hamming_rank(torch.from_numpy(queries).float(), torch.from_numpy(db).to(torch.int8), topk=12)
    np.testing.assert_array_equal(out.numpy(), reference_ranking(queries, db)[0][:, :12])
    # every database item at the same distance: the ranking is the database order
    same = np.tile(db[:1], (9, 1))
    np.testing.assert_array_equal(hamming_rank(queries, same).numpy(), np.tile(np.arange(9), (5, 1)))
    # a 1-D query is one row
    assert hamming_rank(queries[0], db).shape == (1, 30)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"topk": 0}, "topk"),
        ({"topk": 2.5}, "topk"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_hamming_rank_rejects_bad_arguments(kwargs, message):
    codes = np.ones((3, 4))
    with pytest.raises(ValueError, match=message):
        hamming_rank(codes, codes, **kwargs)


def test_hamming_rank_rejects_bad_codes():
    with pytest.raises(ValueError, match="code length"):
        hamming_rank(np.ones((2, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="empty"):
        hamming_rank(np.ones((2, 4)), np.ones((0, 4)))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        hamming_rank(np.ones((2, 4)), np.zeros((3, 4)))
