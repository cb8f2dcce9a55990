"""usearch (`pip install 'hashattack[usearch]'`): an HNSW graph over bit vectors with the Hamming metric
(`M` links per node, `efc` / `ef` candidates while building / searching); `exact=1` scans every code."""

from __future__ import annotations

import numpy as np

from hashattack.retrieval.engines.base import Engine, Option, import_engine_package, ordered_results


class USearch(Engine):
    KIND, EXTRA, DISTRIBUTION = "usearch", "usearch", "usearch"
    OPTIONS = {"M": Option("int", 16, "links per node"), "efc": Option("int", 128, "candidates while building"),
               "ef": Option("int", 64, "candidates while searching"),
               "exact": Option("bool", 0, "1: scan every code instead of the graph")}
    ABOUT = "usearch Index(metric='hamming', dtype='b1')"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        index_module = import_engine_package("usearch.index", self.KIND, self.EXTRA)
        self.index = index_module.Index(ndim=8 * self.n_bytes, metric="hamming", dtype="b1",
                                        connectivity=self.options["M"], expansion_add=self.options["efc"],
                                        expansion_search=self.options["ef"])
        self.index.add(np.arange(self.n, dtype=np.uint64), np.ascontiguousarray(packed, dtype=np.uint8))

    @property
    def exact(self) -> bool:
        return bool(self.options["exact"])

    def search(self, packed_queries, r):
        q = np.ascontiguousarray(packed_queries, dtype=np.uint8)
        found = self.index.search(q, r, exact=bool(self.options["exact"]))
        keys, dist = np.asarray(found.keys).reshape(len(q), -1), np.asarray(found.distances).reshape(len(q), -1)
        counts = np.asarray(getattr(found, "counts", [keys.shape[1]])).reshape(len(q))   # one query: a Matches
        valid = np.arange(keys.shape[1]) < counts[:, None]
        keys = np.where(valid, np.where(valid, keys, 0).astype(np.int64), -1)
        return ordered_results(keys, dist, r, self.n_bits)


ENGINES = (USearch,)
