"""faiss binary indexes behind `retrieval.HammingIndex` (optional: `pip install hashattack[faiss]`).

Two kinds:

- "faiss" (IndexBinaryFlat): exact and multi-threaded. faiss breaks ties at the R-th distance
  arbitrarily, so the R-th distance of each query is followed by a range search that returns
  every item at or below it; sorting those by (distance, index) gives exactly the built-in
  ranking (equal distances in database order).
- "faiss-ivf" (IndexBinaryIVF): approximate, for tens of millions of codes. The database is
  split into `nlist` Hamming k-means cells (trained on a sample) and a query visits the
  `nprobe` nearest cells; recall against the exact ranking is measured in
  benchmarks/ranking.py. Items found are ordered by (distance, index); a query that finds fewer
  than R items is padded with index -1 and distance K + 1.
"""

from __future__ import annotations

import math

import numpy as np

from hashattack.errors import InputError

KINDS = ("faiss", "faiss-ivf")


def import_faiss():
    """The faiss module, or an InputError saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise InputError("the faiss backends need the optional package faiss-cpu: "
                         "pip install 'hashattack[faiss]'") from None
    return faiss


class FaissBinaryIndex:
    """A faiss binary index over byte-packed codes (n, ceil(K/8)) uint8, as `codes.pack_bits` makes."""

    def __init__(self, packed: np.ndarray, n_bits: int, kind: str = "faiss", nlist: int | None = None,
                 nprobe: int = 16, train_size: int = 200_000, seed: int = 0):
        if kind not in KINDS:
            raise InputError(f"unknown faiss index kind {kind!r}: choose from {', '.join(KINDS)}")
        faiss = import_faiss()
        self.kind, self.n_bits, self.n = kind, n_bits, len(packed)
        self.n_bytes = packed.shape[1]
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        dim = 8 * self.n_bytes               # padding bits are zero in queries and database alike
        if kind == "faiss":
            self.index = faiss.IndexBinaryFlat(dim)
        else:
            nlist = nlist or max(1, min(65536, int(4 * math.sqrt(self.n))))
            if nlist > self.n:
                raise InputError(f"nlist = {nlist} is larger than the database ({self.n} codes)")
            quantizer = faiss.IndexBinaryFlat(dim)
            self.index = faiss.IndexBinaryIVF(quantizer, dim, nlist)
            self._quantizer = quantizer     # keep the Python object alive with the index
            rng = np.random.default_rng(seed)
            sample = packed if self.n <= train_size else packed[np.sort(rng.choice(self.n, train_size, replace=False))]
            self.index.train(sample)
            self.index.nprobe = nprobe
        self.index.add(packed)

    @classmethod
    def wrap(cls, index) -> "FaissBinaryIndex":
        """An existing faiss binary index (IndexBinaryFlat: exact; any other, e.g. IndexBinaryIVF with its
        nprobe: approximate), searched as it is; its codes stay where they are."""
        faiss = import_faiss()
        if not isinstance(index, faiss.IndexBinary):
            raise InputError(f"expected a faiss binary index (faiss.IndexBinary*), got {type(index).__name__}")
        if index.ntotal < 1:
            raise InputError("the faiss index is empty: add codes to it first")
        self = cls.__new__(cls)
        index = faiss.downcast_IndexBinary(index)
        self.kind = "faiss" if isinstance(index, faiss.IndexBinaryFlat) else "faiss-ivf"
        self.index, self.n_bits, self.n, self.n_bytes = index, int(index.d), int(index.ntotal), int(index.code_size)
        return self

    def search(self, packed_queries: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, distances), int64 (nq, R), ordered by (distance, index)."""
        q = np.ascontiguousarray(packed_queries, dtype=np.uint8)
        dist, idx = self.index.search(q, r)
        dist, idx = dist.astype(np.int64), idx.astype(np.int64)
        if self.kind == "faiss":
            return self._exact_ties(q, dist[:, -1], r)
        missing = idx < 0
        dist[missing] = self.n_bits + 1
        idx[missing] = np.iinfo(np.int64).max              # sorts after every real index
        order = np.lexsort((idx, dist), axis=1)
        idx, dist = np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)
        idx[idx == np.iinfo(np.int64).max] = -1
        return idx, dist

    def _exact_ties(self, q: np.ndarray, kth: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Every item at distance <= the R-th distance, sorted by (distance, index); first R per query."""
        indices = np.empty((len(q), r), dtype=np.int64)
        distances = np.empty((len(q), r), dtype=np.int64)
        for radius in np.unique(kth):                       # range_search takes one radius per call
            rows = np.flatnonzero(kth == radius)
            lims, dist, idx = self.index.range_search(q[rows], int(radius) + 1)  # returns dist < radius + 1
            lims = lims.astype(np.int64)
            dist, idx = dist.astype(np.int64), idx.astype(np.int64)
            owner = np.repeat(np.arange(len(rows)), np.diff(lims))
            order = np.lexsort((idx, dist, owner))
            take = order[lims[:-1, None] + np.arange(r)]
            indices[rows], distances[rows] = idx[take], dist[take]
        return indices, distances
