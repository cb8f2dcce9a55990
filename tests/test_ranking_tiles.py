"""The tiled numba ranking kernel against a full stable argsort, ties included, on every path it has:
one and several 64-bit words, several query tiles, a cut-off too small, a candidate buffer that overflows."""

import numpy as np
import pytest

from hashattack.retrieval import popcount_numba
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
    (64, 3000, 70, 100, 60),      # several tiles, many ties
    (32, 500, 40, 500, 3),        # R = N, three distinct codes: the buffer overflows
    (64, 2000, 33, 1, 2000),      # R = 1
    (128, 1500, 35, 700, 25),     # two words
    (16, 100, 5, 37, 4),
    (300, 400, 10, 50, 40),       # five words, distances above 255
])
def test_tiled_kernel_equals_stable_argsort(bits, n, nq, r, distinct):
    rng = np.random.default_rng(bits + n)
    queries, db = codes(rng, nq, bits, distinct), codes(rng, n, bits, distinct)
    indices, distances = rank_words(queries, db, bits, r, kernel="numba")
    order, dist = stable_reference(queries, db, r)
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(distances, dist)


def at_distance(query: int, d: int) -> np.uint64:
    return np.uint64(query ^ ((1 << d) - 1))


@pytest.mark.parametrize("case", ["cutoff too small", "buffer overflow"])
def test_rescans_give_the_exact_ranking(case):
    """A strided sample that sees too few near items (the cut-off keeps fewer than R) and a cut-off
    that lets in more items than the candidate buffer holds both end in the exact ranking."""
    n, q = 40_000, 0x0123456789ABCDEF
    stride = n // popcount_numba.SAMPLE                     # the sample sees positions 0, stride, 2 stride, ...
    db = np.full((n, 1), at_distance(q, 30), np.uint64)
    if case == "cutoff too small":
        r = 1000
        db[0:240 * stride:stride] = at_distance(q, 1)        # 240 near items, all sampled: cut-off 1, 240 < R
        db[1:2000:7] = at_distance(q, 2)
    else:
        r = 50
        db[5000:15_000] = at_distance(q, 0)                  # 10,000 ties at 0: more than the buffer's 16R + 4096
    queries = np.array([[q], [q ^ 1]], np.uint64)
    indices, distances = rank_words(queries, db, 64, r, kernel="numba")
    order, dist = stable_reference(queries, db, r)
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(distances, dist)
