"""sqlite-vec (`pip install 'hashattack[sqlite-vec]'`, through apsw, since Python's own sqlite3 may not load
extensions): the codes in an in-memory vec0 table of `bit[K]` vectors. `mode=knn` (default) asks vec0's
KNN query (`code MATCH ? AND k = ?`, at most 4096 items); `mode=scan` orders every row by
`vec_distance_hamming` and row id in plain SQL. Both are exact; knn breaks ties as vec0 does."""

from __future__ import annotations

import numpy as np

from hashattack.errors import InputError
from hashattack.retrieval.engines.base import Engine, Option, import_engine_package, package_version, rows_of

KNN_LIMIT = 4096     # vec0 refuses k above this


class SqliteVec(Engine):
    KIND, EXTRA, DISTRIBUTION, EXACT = "sqlite-vec", "sqlite-vec", "sqlite-vec", True
    OPTIONS = {"mode": Option(("knn", "scan"), "knn", "vec0 KNN query or an ORDER BY scan")}
    ABOUT = "sqlite-vec vec0 table of bit vectors, Hamming distance"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        apsw = import_engine_package("apsw", self.KIND, self.EXTRA)
        sqlite_vec = import_engine_package("sqlite_vec", self.KIND, self.EXTRA)
        self.db = apsw.Connection(":memory:")
        self.db.enable_load_extension(True)
        self.db.load_extension(sqlite_vec.loadable_path())
        self.db.enable_load_extension(False)
        self.db.execute(f"CREATE VIRTUAL TABLE codes USING vec0(code bit[{8 * self.n_bytes}])")
        with self.db:
            self.db.executemany("INSERT INTO codes(rowid, code) VALUES (?, vec_bit(?))",
                                ((i, row.tobytes()) for i, row in enumerate(packed)))

    def search(self, packed_queries, r):
        if self.options["mode"] == "knn":
            if r > KNN_LIMIT:
                raise InputError(f"index sqlite-vec: its KNN query returns at most {KNN_LIMIT} items, R = {r}: "
                                 "use sqlite-vec:mode=scan or a smaller --topk")
            sql = "SELECT rowid, distance FROM codes WHERE code MATCH vec_bit(?) AND k = ? ORDER BY distance"
        else:
            sql = ("SELECT rowid, vec_distance_hamming(code, vec_bit(?)) AS d FROM codes "
                   "ORDER BY d, rowid LIMIT ?")
        found = [list(self.db.execute(sql, (row.tobytes(), r))) for row in np.asarray(packed_queries, np.uint8)]
        return rows_of(found, r, self.n_bits)

    def describe(self) -> dict:
        return {**super().describe(), "sqlite": self.db.execute("SELECT sqlite_version()").fetchone()[0],
                "apsw": package_version("apsw")}

    def close(self) -> None:
        self.db.close()


ENGINES = (SqliteVec,)
