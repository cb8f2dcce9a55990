"""The numba ranking kernel against a full stable argsort on codes with many ties: one and several 64-bit
words, distances above 255, R = 1 and R = N."""

import numpy as np
import pytest

from hashattack.retrieval.popcount import rank_words


def stable_reference(queries: np.ndarray, db: np.ndarray, r: int):
    dist = np.zeros((len(queries), len(db)), np.int64)
    for w in range(queries.shape[1]):
        dist += np.bitwise_count(queries[:, None, w] ^ db[None, :, w])
    order = np.argsort(dist, axis=1, kind="stable")[:, :r]
    return order, np.take_along_axis(dist, order, axis=1)


def codes(rng, n: int, bits: int, distinct: int) -> np.ndarray:
    """n codes of `bits` bits drawn from `distinct` patterns: few patterns, many ties."""
    words = -(-bits // 64)
    pool = rng.integers(0, 2**63, size=(distinct, words), dtype=np.uint64) * np.uint64(2)
    if bits % 64:
        pool[:, -1] &= np.uint64((1 << (bits % 64)) - 1)
    return pool[rng.integers(0, distinct, n)]


@pytest.mark.parametrize("bits, n, nq, r, distinct", [
    (64, 3000, 70, 100, 60),      # many ties
    (32, 500, 40, 500, 3),        # R = N, three distinct codes
    (64, 2000, 33, 1, 2000),      # R = 1
    (128, 1500, 35, 700, 25),     # two words
    (16, 100, 5, 37, 4),
    (300, 400, 10, 50, 40),       # five words, distances above 255
])
def test_numba_kernel_equals_stable_argsort(bits, n, nq, r, distinct):
    rng = np.random.default_rng(bits + n)
    queries, db = codes(rng, nq, bits, distinct), codes(rng, n, bits, distinct)
    indices, distances = rank_words(queries, db, bits, r, kernel="numba")
    order, dist = stable_reference(queries, db, r)
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(distances, dist)
