"""Hamming ranking of a database of hash codes for a set of queries.

Items are ordered by ascending Hamming distance to the query; items at equal distance keep
database order (ascending index). This tie rule is deterministic and documented so that
MAP / t-MAP values are reproducible: the ranking is the stable sort of the distances, obtained
without a full stable sort by selecting on the unique key `distance * N + index` (N = database
size). Queries are processed in chunks to bound memory (about 20 bytes * chunk_size * N).
"""

from __future__ import annotations

import torch

from hashattack.codes import Array, _as_codes, _positive_int
from hashattack.errors import InputError


def hamming_rank_with_distances(
    query_codes: Array, db_codes: Array, topk: int | None = None, chunk_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank the database for each query and return the ranked indices with their distances.

    Args:
        query_codes: (nq, K) ±1 codes (a 1-D (K,) query is promoted to (1, K)).
        db_codes: (N, K) ±1 codes, N >= 1.
        topk: number R of items to return per query; None for the whole database; values
            larger than N are clipped to N.
        chunk_size: number of queries ranked at once.
    Returns:
        (indices, distances): two int64 tensors of shape (nq, R) on the device of
        `query_codes` (CPU for numpy input), indices into the database and their distances.
    """
    q = _as_codes(query_codes, "query_codes")
    d = _as_codes(db_codes, "db_codes").to(q.device)
    if q.shape[1] != d.shape[1]:
        raise InputError(
            f"query_codes and db_codes must have the same code length K, got {q.shape[1]} and {d.shape[1]}"
        )
    if d.shape[0] < 1:
        raise InputError("db_codes must have at least one row, got an empty database")
    chunk_size = _positive_int(chunk_size, "chunk_size")

    n_db, k = d.shape
    r = n_db if topk is None else min(_positive_int(topk, "topk"), n_db)
    qf, dft = q.to(torch.float32), d.to(torch.float32).T
    index = torch.arange(n_db, device=q.device)
    indices = torch.empty((q.shape[0], r), dtype=torch.int64, device=q.device)
    distances = torch.empty_like(indices)
    for start in range(0, q.shape[0], chunk_size):
        stop = start + chunk_size
        dist = ((k - qf[start:stop] @ dft) / 2).round().to(torch.int64)
        key = dist * n_db + index  # unique per item, so the order below has no ties
        if r == n_db:
            key, idx = torch.sort(key, dim=1)
        else:
            key, idx = torch.topk(key, r, dim=1, largest=False, sorted=True)
        indices[start:stop] = idx
        distances[start:stop] = key // n_db
    return indices, distances


def hamming_rank(
    query_codes: Array, db_codes: Array, topk: int | None = None, chunk_size: int = 1024
) -> torch.Tensor:
    """Ranked database indices for each query (ascending distance, ties by ascending index).

    Args:
        query_codes: (nq, K) ±1 codes (a 1-D (K,) query is promoted to (1, K)).
        db_codes: (N, K) ±1 codes, N >= 1.
        topk: number R of items per query; None for all N; clipped to N.
        chunk_size: number of queries ranked at once.
    Returns:
        int64 tensor (nq, R) of database indices on the device of `query_codes`.
    """
    return hamming_rank_with_distances(query_codes, db_codes, topk, chunk_size)[0]
