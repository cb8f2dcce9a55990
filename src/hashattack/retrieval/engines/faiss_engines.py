"""faiss binary indexes (`pip install 'hashattack[faiss]'`): flat (exact), IVF, HNSW and multi-hash.

Flat and IVF are `retrieval.faiss_index.FaissBinaryIndex`; HNSW is a graph over the codes (IndexBinaryHNSW:
`M` links per node, `efc` candidates while building, `ef` while searching); multi-hash (IndexBinaryMultiHash)
splits a code into `nhash` substrings of `b` bits and returns the items that match a query's substring
within `nflip` flipped bits, so items far from the query are never found.
"""

from __future__ import annotations

import math

import numpy as np

from hashattack.errors import InputError
from hashattack.retrieval.engines.base import Engine, Option, ordered_results
from hashattack.retrieval.faiss_index import FaissBinaryIndex, import_faiss


class FaissFlat(Engine):
    KIND, EXTRA, DISTRIBUTION, EXACT = "faiss", "faiss", "faiss-cpu", True
    ABOUT = "faiss IndexBinaryFlat: exact, ties in database order"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        self.index = FaissBinaryIndex(packed, n_bits, "faiss")

    def search(self, packed_queries, r):
        return self.index.search(packed_queries, r)


class FaissIVF(Engine):
    KIND, EXTRA, DISTRIBUTION = "faiss-ivf", "faiss", "faiss-cpu"
    OPTIONS = {"nlist": Option("int", None, "cells (default 4 sqrt(N))"),
               "nprobe": Option("int", 16, "cells visited per query")}
    ABOUT = "faiss IndexBinaryIVF: Hamming k-means cells, a query visits the nprobe nearest"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        nlist = self.options["nlist"] or max(1, min(65536, int(4 * math.sqrt(self.n))))
        self.options["nlist"] = nlist
        self.index = FaissBinaryIndex(packed, n_bits, "faiss-ivf", nlist=nlist, nprobe=self.options["nprobe"])

    @property
    def exact(self) -> bool:
        return self.options["nprobe"] >= self.options["nlist"]

    def search(self, packed_queries, r):
        return self.index.search(packed_queries, r)


class FaissHNSW(Engine):
    KIND, EXTRA, DISTRIBUTION = "faiss-hnsw", "faiss", "faiss-cpu"
    OPTIONS = {"M": Option("int", 32, "links per node"), "efc": Option("int", 40, "candidates while building"),
               "ef": Option("int", 64, "candidates while searching (raised to R)")}
    ABOUT = "faiss IndexBinaryHNSW: a navigable small-world graph"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        faiss = import_faiss()
        self.index = faiss.IndexBinaryHNSW(8 * self.n_bytes, self.options["M"])
        self.index.hnsw.efConstruction = self.options["efc"]
        self.index.add(np.ascontiguousarray(packed, dtype=np.uint8))

    def search(self, packed_queries, r):
        self.index.hnsw.efSearch = max(self.options["ef"], r)   # HNSW returns at most ef items
        dist, idx = self.index.search(np.ascontiguousarray(packed_queries, dtype=np.uint8), r)
        return ordered_results(idx, dist, r, self.n_bits)


class FaissMultiHash(Engine):
    KIND, EXTRA, DISTRIBUTION = "faiss-mih", "faiss", "faiss-cpu"
    OPTIONS = {"nhash": Option("int", None, "hash tables (default K / b)"),
               "b": Option("int", 16, "bits of each table's substring"),
               "nflip": Option("count", 1, "flipped bits probed in a substring")}
    ABOUT = "faiss IndexBinaryMultiHash: items matching a substring within nflip bits"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        faiss = import_faiss()
        dim, b = 8 * self.n_bytes, self.options["b"]
        nhash = self.options["nhash"] = self.options["nhash"] or max(1, dim // b)
        if nhash * b > dim or b > 64:
            raise InputError(f"index faiss-mih: nhash * b = {nhash * b} must be at most the code length "
                             f"{dim} and b at most 64")
        self.index = faiss.IndexBinaryMultiHash(dim, nhash, b)
        self.index.nflip = self.options["nflip"]
        self.index.add(np.ascontiguousarray(packed, dtype=np.uint8))

    def search(self, packed_queries, r):
        dist, idx = self.index.search(np.ascontiguousarray(packed_queries, dtype=np.uint8), r)
        return ordered_results(idx, dist, r, self.n_bits)


ENGINES = (FaissFlat, FaissIVF, FaissHNSW, FaissMultiHash)
