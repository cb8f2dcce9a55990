"""LanceDB (`pip install 'hashattack[lancedb]'`): the codes as a table of uint8 vectors in a temporary
folder, searched with the Hamming distance. `nlist=0` (default) scans every row (exact); `nlist=N`
builds an IVF_FLAT index of N partitions and a query visits `nprobe` of them."""

from __future__ import annotations

import tempfile

import numpy as np

from hashattack.retrieval.engines.base import Engine, Option, import_engine_package, ordered_results


class LanceDB(Engine):
    KIND, EXTRA, DISTRIBUTION = "lancedb", "lancedb", "lancedb"
    OPTIONS = {"nlist": Option("count", 0, "IVF_FLAT partitions (0: no index, a full scan)"),
               "nprobe": Option("int", 16, "partitions visited per query")}
    ABOUT = "LanceDB table of uint8 vectors, distance_type hamming"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        lancedb = import_engine_package("lancedb", self.KIND, self.EXTRA)
        pa = import_engine_package("pyarrow", self.KIND, self.EXTRA)
        index = import_engine_package("lancedb.index", self.KIND, self.EXTRA)
        self._folder = tempfile.TemporaryDirectory(prefix="hashattack-lancedb-")
        self._db = lancedb.connect(self._folder.name)
        flat = pa.array(np.ascontiguousarray(packed, dtype=np.uint8).reshape(-1), type=pa.uint8())
        vectors = pa.FixedSizeListArray.from_arrays(flat, self.n_bytes)
        self.table = self._db.create_table("codes", data=pa.table({"id": pa.array(np.arange(self.n)),
                                                                   "vector": vectors}))
        if self.options["nlist"]:
            self.table.create_index("vector", config=index.IvfFlat(distance_type="hamming",
                                                                   num_partitions=self.options["nlist"]))

    @property
    def exact(self) -> bool:
        return not self.options["nlist"] or self.options["nprobe"] >= self.options["nlist"]

    def search(self, packed_queries, r):
        q = np.asarray(packed_queries, dtype=np.uint8)
        query = self.table.search([row for row in q]).distance_type("hamming").select(["id", "_distance"]).limit(r)
        if self.options["nlist"]:
            query = query.nprobes(self.options["nprobe"])
        found = query.to_arrow()
        owner = (np.asarray(found.column("query_index")) if "query_index" in found.column_names
                 else np.zeros(found.num_rows, dtype=np.int64))
        ids, dist = np.asarray(found.column("id"), dtype=np.int64), np.asarray(found.column("_distance"))
        idx = np.full((len(q), r), -1, dtype=np.int64)
        out = np.full((len(q), r), self.n_bits + 1, dtype=np.float64)
        for row in range(len(q)):
            mine = np.flatnonzero(owner == row)[:r]
            idx[row, :len(mine)], out[row, :len(mine)] = ids[mine], dist[mine]
        return ordered_results(idx, out, r, self.n_bits)

    def close(self) -> None:
        self.table = self._db = None
        self._folder.cleanup()


ENGINES = (LanceDB,)
