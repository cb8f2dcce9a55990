"""The compiled kernel of `hashattack.retrieval.popcount` (numba): tiles of queries, one filtered pass.

Queries are ranked in tiles of `TILE` (tiles in parallel). A tile walks the database in blocks of
`BLOCK` codes that stay in the core's cache while every query of the tile scans them, so the
database is read from memory once per tile rather than once per query. Per query:

1. a cut-off distance from a strided sample of the database, chosen so that about 2R items lie at
   or below it;
2. one pass over the database (XOR + popcount of 64-bit words): an item at or below the cut-off
   counts in the query's distance histogram and, while there is room, goes to a candidate buffer
   in database order; distances are not stored;
3. the histogram gives the R-th smallest distance t. When the cut-off was too small (fewer than R
   items at or below it) or the buffer overflowed, the query alone is scanned again with the exact
   t (at most two more passes, rare), so the result is exact in every case;
4. a counting sort of the candidates by distance: equal distances keep database order exactly.
"""

from __future__ import annotations

import numba
import numpy as np

TILE = 32          # queries sharing one pass over the database
BLOCK = 4096       # database codes per block (32 KiB of 64-bit codes: stays in L1/L2 during a tile)
SAMPLE = 4096      # database items sampled per query to choose the cut-off
RUN = 64           # codes counted at once before the candidates among them are recorded


@numba.njit(inline="always")
def _popcount64(x):
    """Bits set in a uint64 (LLVM compiles this to one popcnt instruction where the CPU has it)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(inline="always")
def _distance(q, db_words, j):
    n_words = db_words.shape[1]
    if n_words == 1:
        return np.int64(_popcount64(q[0] ^ db_words[j, 0]))
    d = np.int64(0)
    for w in range(n_words):
        d += np.int64(_popcount64(q[w] ^ db_words[j, w]))
    return d


@numba.njit(inline="always")
def _scan(q, db_words, start, stop, cut, hist, buf, count):
    """Items start..stop-1 at distance <= cut: histogram, and into `buf` while it has room; returns count."""
    cap = buf.shape[0]
    for j in range(start, stop):
        d = _distance(q, db_words, j)
        if d <= cut:
            hist[d] += 1
            if count < cap:
                buf[count] = j
            count += 1
    return count


@numba.njit(inline="always")
def _count_at_most(q0, block, cut):
    """How many 64-bit codes of `block` lie within `cut` of `q0` (a loop LLVM vectorises)."""
    c = 0
    for j in range(block.shape[0]):
        if _popcount64(q0 ^ block[j]) <= cut:
            c += 1
    return c


@numba.njit(inline="always")
def _scan_one_word(q0, db_flat, start, stop, cut, hist, buf, count):
    """`_scan` for codes of one 64-bit word: a vectorised count per run of `RUN` codes first, and the
    scalar pass that records candidates only over the rare runs that hold one."""
    cap = buf.shape[0]
    cut_u = np.uint64(cut)
    for s in range(start, stop, RUN):
        e = min(stop, s + RUN)
        if _count_at_most(q0, db_flat[s:e], cut_u):
            for j in range(s, e):
                d = np.int64(_popcount64(q0 ^ db_flat[j]))
                if d <= cut:
                    hist[d] += 1
                    if count < cap:
                        buf[count] = j
                    count += 1
    return count


@numba.njit(inline="always")
def _cutoff(q, db_words, n_bits, r, sample_hist):
    """A distance with about 2R database items at or below it, from a strided sample."""
    n = db_words.shape[0]
    stride = max(1, n // SAMPLE)
    sample_hist[:] = 0
    size = 0
    for j in range(0, n, stride):
        sample_hist[_distance(q, db_words, j)] += 1
        size += 1
    want = min(size, (2 * r * size + n - 1) // n + 16)
    total = 0
    for v in range(n_bits + 1):
        total += sample_hist[v]
        if total >= want:
            return v
    return n_bits


@numba.njit(inline="always")
def _threshold(hist, n_bits, r):
    """The R-th smallest distance from a histogram that counts at least R items."""
    total = 0
    for v in range(n_bits + 1):
        total += hist[v]
        if total >= r:
            return v
    return n_bits


@numba.njit(inline="always")
def _finish(q, db_words, n_bits, r, cut, hist, buf, count, out_idx, out_dist):
    """Exact top-R of one query from its filtered pass (rescanning when the pass fell short)."""
    n = db_words.shape[0]
    if count < r:                       # cut-off too small: the exact histogram of the whole database
        hist[:] = 0
        count = _scan(q, db_words, 0, n, n_bits, hist, buf, 0)
        cut = n_bits
    t = _threshold(hist, n_bits, r)
    if count > buf.shape[0]:            # buffer overflowed: keep only d < t and the first ones at t
        below = 0
        for v in range(t):
            below += hist[v]
        kept = 0
        at_t = r - below
        for j in range(n):
            d = _distance(q, db_words, j)
            if d < t or (d == t and at_t > 0):
                if d == t:
                    at_t -= 1
                buf[kept] = j
                kept += 1
        count = kept
    slot = np.empty(n_bits + 1, np.int64)   # next output position of each distance
    total = 0
    for v in range(n_bits + 1):
        slot[v] = total
        total += hist[v]
    for i in range(count):
        j = buf[i]
        d = _distance(q, db_words, j)
        if d <= t:
            pos = slot[d]
            if pos < r:
                out_idx[pos] = j
                out_dist[pos] = d
                slot[d] = pos + 1


@numba.njit(parallel=True, cache=True, nogil=True)
def rank_words_tiled(query_words, db_words, db_flat, n_bits, r, out_idx, out_dist):
    """query_words (nq, W), db_words (N, W) uint64 -> out_idx / out_dist (nq, R), exact top-R.

    db_flat: the same words as one contiguous 1-D array (the vectorised path for W = 1)."""
    nq = query_words.shape[0]
    n = db_words.shape[0]
    n_tiles = (nq + TILE - 1) // TILE
    cap = min(n, 16 * r + 4096)          # room for the candidates: the cut-off aims at about 2R
    for tile in numba.prange(n_tiles):
        q0 = tile * TILE
        q1 = min(nq, q0 + TILE)
        m = q1 - q0
        hists = np.zeros((m, n_bits + 1), np.int64)
        bufs = np.empty((m, cap), np.int64)
        counts = np.zeros(m, np.int64)
        cuts = np.empty(m, np.int64)
        sample_hist = np.zeros(n_bits + 1, np.int64)
        for i in range(m):
            cuts[i] = _cutoff(query_words[q0 + i], db_words, n_bits, r, sample_hist)
        for start in range(0, n, BLOCK):
            stop = min(n, start + BLOCK)
            for i in range(m):
                if db_words.shape[1] == 1:
                    counts[i] = _scan_one_word(query_words[q0 + i, 0], db_flat, start, stop, cuts[i], hists[i],
                                               bufs[i], counts[i])
                else:
                    counts[i] = _scan(query_words[q0 + i], db_words, start, stop, cuts[i], hists[i], bufs[i],
                                      counts[i])
        for i in range(m):
            _finish(query_words[q0 + i], db_words, n_bits, r, cuts[i], hists[i], bufs[i], counts[i],
                    out_idx[q0 + i], out_dist[q0 + i])
