"""Exact Hamming ranking on bit-packed codes: XOR + popcount distances and top-R selection.

The ranking is the same as `retrieval.reference_hamming_rank_with_distances` (ascending
distance, equal distances in database order) but works on 64-bit words instead of float
vectors, 32x less memory per code, and never sorts the whole database for a top-R query.

Two kernels compute it. "numba" (`hashattack.retrieval.popcount_numba`, the default: numba is a
dependency) is a compiled counting sort: two linear passes per query, queries in parallel,
memory N bytes per thread. "numpy", the reference, is vectorised over chunks of queries:

1. distances of a chunk of queries to the database, one uint8 (uint16 for K > 255) per pair,
   computed in cache-sized blocks of database items with `np.bitwise_count`;
2. a cut-off distance per query taken from a strided sample of its row, chosen so that about
   2R items lie at or below it; the items at or below the cut-off (in database order) are the
   candidates, and the R best of them, sorted by (distance, index) with a stable radix sort, are
   the answer. A query whose cut-off turns out too small (fewer than R candidates) is ranked by
   a full stable sort of its row instead, so the result is exact in every case;
3. queries are processed in chunks sized so that a chunk's distance matrix stays within
   `memory_bytes` (default 128 MiB), whatever the number of queries and the database size.
"""

from __future__ import annotations

import numpy as np

from hashattack.retrieval.popcount_numba import rank_words_long, rank_words_short

SAMPLE_SIZE = 4096          # database items sampled per query to choose the cut-off
BLOCK_BYTES = 4 << 20       # XOR buffer per database block (stays in cache)
DEFAULT_MEMORY_BYTES = 128 << 20


KERNELS = ("auto", "numba", "numpy")


def bytes_to_words(packed: np.ndarray) -> np.ndarray:
    """(n, B) uint8 packed codes (as `codes.pack_bits`) -> (n, W) uint64 words, zero-padded."""
    n, n_bytes = packed.shape
    n_words = -(-n_bytes // 8)
    if n_bytes == n_words * 8:
        return np.ascontiguousarray(packed).view(np.uint64)
    padded = np.zeros((n, n_words * 8), dtype=np.uint8)
    padded[:, :n_bytes] = packed
    return padded.view(np.uint64)


def distance_dtype(n_bits: int) -> np.dtype:
    """Smallest unsigned dtype holding distances 0..n_bits (uint8 keeps the radix sort cheap)."""
    return np.dtype(np.uint8 if n_bits <= 255 else np.uint16 if n_bits <= 65535 else np.uint32)


def distances(query_words: np.ndarray, db_words: np.ndarray, n_bits: int) -> np.ndarray:
    """Hamming distances (nq, N) between word-major packed queries (W, nq) and database (W, N) (numpy kernel)."""
    n_words, nq = query_words.shape
    n = db_words.shape[1]
    out = np.empty((nq, n), dtype=distance_dtype(n_bits))
    block = max(256, BLOCK_BYTES // (8 * max(nq, 1)))
    buf = np.empty((nq, min(block, n)), dtype=np.uint64)
    counts = np.empty((nq, min(block, n)), dtype=np.uint8) if n_words > 1 else None
    for start in range(0, n, block):
        stop = min(start + block, n)
        x = buf[:, : stop - start]
        target = out[:, start:stop]
        for w in range(n_words):
            np.bitwise_xor(query_words[w, :, None], db_words[w, None, start:stop], out=x)
            if w == 0:
                np.bitwise_count(x, out=target, casting="unsafe")
            else:
                c = counts[:, : stop - start]
                np.bitwise_count(x, out=c)
                target += c
    return out


def top_r(dist: np.ndarray, r: int, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The R best items of each row of `dist` (nq, N): (indices, distances), both int64 (nq, R).

    Ordered by ascending distance, equal distances by ascending index (a stable sort's order).
    """
    nq, n = dist.shape
    if r * 8 >= n:  # a large share of the row is wanted: one stable (radix) sort per row
        order = np.argsort(dist, axis=1, kind="stable")[:, :r]
        return order.astype(np.int64, copy=False), np.take_along_axis(dist, order, axis=1).astype(np.int64)

    stride = max(1, n // SAMPLE_SIZE)
    sample = dist[:, ::stride]
    k_sample = min(sample.shape[1] - 1, -(-2 * r * sample.shape[1] // n) + 16)
    cut = np.partition(sample, k_sample, axis=1)[:, k_sample]
    rows, cols = np.nonzero(dist <= cut[:, None])          # candidates, row-major: index order per row
    counts = np.bincount(rows, minlength=nq)
    cand_dist = dist[rows, cols]

    indices = np.empty((nq, r), dtype=np.int64)
    values = np.empty((nq, r), dtype=np.int64)
    ok = counts >= r
    if ok.any():
        span = n_bits + 1
        key_dtype = np.uint16 if nq * span <= np.iinfo(np.uint16).max else np.uint32
        key = rows.astype(key_dtype) * key_dtype(span) + cand_dist.astype(key_dtype)
        order = np.argsort(key, kind="stable")             # by row, then distance, then index
        starts = np.cumsum(counts) - counts
        take = order[starts[ok, None] + np.arange(r)]
        indices[ok] = cols[take]
        values[ok] = cand_dist[take]
    if not ok.all():  # cut-off below the R-th distance for these rows: sort them in full
        bad = np.flatnonzero(~ok)
        order = np.argsort(dist[bad], axis=1, kind="stable")[:, :r]
        indices[bad] = order
        values[bad] = np.take_along_axis(dist[bad], order, axis=1)
    return indices, values


def rank_words(query_words: np.ndarray, db_words: np.ndarray, n_bits: int, r: int, chunk_size: int = 1024,
               memory_bytes: int = DEFAULT_MEMORY_BYTES, kernel: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Top-R ranking of packed queries (nq, W) against a packed database (N, W), 1 <= R <= N.

    Returns (indices, distances), int64 (nq, R). The numpy kernel ranks at most `chunk_size`
    queries at once, fewer when their distance matrix would exceed `memory_bytes`; the numba
    kernel needs N bytes of scratch per thread.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown popcount kernel {kernel!r}: choose from {', '.join(KERNELS)}")
    if kernel in ("numba", "auto"):
        return _rank_numba(query_words, db_words, n_bits, r, chunk_size)
    query_words, db_words = np.ascontiguousarray(query_words.T), np.ascontiguousarray(db_words.T)
    nq, n = query_words.shape[1], db_words.shape[1]
    per_query = n * distance_dtype(n_bits).itemsize * 2   # distances + candidate mask
    step = max(1, min(chunk_size, memory_bytes // per_query))
    indices = np.empty((nq, r), dtype=np.int64)
    values = np.empty((nq, r), dtype=np.int64)
    for start in range(0, nq, step):
        stop = min(start + step, nq)
        dist = distances(query_words[:, start:stop], db_words, n_bits)
        indices[start:stop], values[start:stop] = top_r(dist, r, n_bits)
    return indices, values


def _rank_numba(query_words: np.ndarray, db_words: np.ndarray, n_bits: int, r: int,
                chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    if n_bits > 65535:
        raise ValueError(f"the numba kernel handles codes of at most 65535 bits, got {n_bits}")
    kernel = rank_words_short if n_bits <= 255 else rank_words_long
    nq = len(query_words)
    indices = np.empty((nq, r), dtype=np.int64)
    values = np.empty((nq, r), dtype=np.int64)
    db_words = np.ascontiguousarray(db_words)
    for start in range(0, nq, chunk_size):
        stop = min(start + chunk_size, nq)
        kernel(np.ascontiguousarray(query_words[start:stop]), db_words, n_bits, r,
               indices[start:stop], values[start:stop])
    return indices, values
