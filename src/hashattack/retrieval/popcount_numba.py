"""The compiled kernel of `hashattack.retrieval.popcount` (numba): two linear passes per query, no sort.

For each query (queries in parallel): pass 1 computes every distance (XOR + popcount of 64-bit
words) and their histogram; the histogram gives the R-th smallest distance t and, for every
distance v <= t, the output position where items at distance v start. Pass 2 walks the database
in index order and writes each item at distance < t, and the first ones at distance t, to its
slot: a counting sort, so equal distances keep database order exactly.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def _popcount64(x):
    """Bits set in a uint64 (LLVM compiles this to one popcnt instruction where the CPU has it)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(inline="always")
def _rank_row(q, db_words, n_bits, r, out_idx, out_dist, dist, h0, h1, h2, h3):
    """Rank the database for one query `q` (W,) into out_idx / out_dist (R,); dist and h* are scratch."""
    n, n_words = db_words.shape
    if n_words == 1:  # the common case (K <= 64) as its own loop, which LLVM vectorises
        q0 = q[0]
        for j in range(n):
            dist[j] = _popcount64(q0 ^ db_words[j, 0])
    else:
        for j in range(n):
            d = 0
            for w in range(n_words):
                d += _popcount64(q[w] ^ db_words[j, w])
            dist[j] = d
    # four histograms filled in turn: no store-to-load stall when neighbours share a distance
    n4 = n - n % 4
    for j in range(0, n4, 4):
        h0[dist[j]] += 1
        h1[dist[j + 1]] += 1
        h2[dist[j + 2]] += 1
        h3[dist[j + 3]] += 1
    for j in range(n4, n):
        h0[dist[j]] += 1
    slot = np.empty(n_bits + 1, np.int64)   # next output position of each distance
    total = 0
    t = n_bits
    for v in range(n_bits + 1):
        slot[v] = total
        total += h0[v] + h1[v] + h2[v] + h3[v]
        if total >= r:
            t = v
            break
    for j in range(n):
        d = dist[j]
        if d <= t:
            pos = slot[d]
            if pos < r:
                out_idx[pos] = j
                out_dist[pos] = d
                slot[d] = pos + 1


@numba.njit(parallel=True, cache=True, nogil=True)
def rank_words_short(query_words, db_words, n_bits, r, out_idx, out_dist):
    """Codes of K <= 255 bits: query_words (nq, W), db_words (N, W) uint64 -> out_idx / out_dist (nq, R)."""
    for i in numba.prange(query_words.shape[0]):
        dist = np.empty(db_words.shape[0], np.uint8)
        h0, h1 = np.zeros(256, np.int32), np.zeros(256, np.int32)
        h2, h3 = np.zeros(256, np.int32), np.zeros(256, np.int32)
        _rank_row(query_words[i], db_words, n_bits, r, out_idx[i], out_dist[i], dist, h0, h1, h2, h3)


@numba.njit(parallel=True, cache=True, nogil=True)
def rank_words_long(query_words, db_words, n_bits, r, out_idx, out_dist):
    """Codes of 256..65535 bits; as `rank_words_short` with uint16 distances."""
    for i in numba.prange(query_words.shape[0]):
        dist = np.empty(db_words.shape[0], np.uint16)
        h0, h1 = np.zeros(65536, np.int32), np.zeros(65536, np.int32)
        h2, h3 = np.zeros(65536, np.int32), np.zeros(65536, np.int32)
        _rank_row(query_words[i], db_words, n_bits, r, out_idx[i], out_dist[i], dist, h0, h1, h2, h3)
