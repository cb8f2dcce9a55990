"""Search engines behind `retrieval.HammingIndex`, named by an index string `KIND[:name=value,...]`.

    exact                          hashattack's packed ranking (the reference)
    faiss                          faiss IndexBinaryFlat (exact)
    faiss-ivf:nlist=256,nprobe=8   faiss IndexBinaryIVF
    faiss-hnsw:M=32,ef=64          faiss IndexBinaryHNSW ("hnsw" for short)
    faiss-mih:b=16,nflip=1         faiss IndexBinaryMultiHash
    usearch:M=16,ef=64             usearch HNSW, Hamming metric (exact=1: a scan)
    sqlite-vec:mode=knn            sqlite-vec vec0 bit vectors
    lancedb:nlist=0                LanceDB, hamming (nlist > 0: IVF_FLAT)
    pgvector:method=scan           PostgreSQL + pgvector bit(K) (method=hnsw: bit_hamming_ops)

`parse_index` is the one parser of these strings; `open_engine` builds one over byte-packed codes. Each
engine but "exact" needs an optional extra (`pip install 'hashattack[KIND]'`), named in its error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashattack.errors import InputError
from hashattack.retrieval.engines import (exact_engine, faiss_engines, lancedb_engine, pgvector_engine,
                                          sqlite_vec_engine, usearch_engine)
from hashattack.retrieval.engines.base import Engine, ordered_results

REGISTRY: dict[str, type[Engine]] = {
    cls.KIND: cls for module in (exact_engine, faiss_engines, usearch_engine, sqlite_vec_engine, lancedb_engine,
                                 pgvector_engine) for cls in module.ENGINES}
ALIASES = {"hnsw": "faiss-hnsw", "faiss-flat": "faiss"}
MAX_INDEX_TEXT = 200


@dataclass(frozen=True)
class IndexChoice:
    """A parsed index string: the engine's kind and the options given (name -> value)."""

    kind: str
    options: tuple[tuple[str, object], ...] = ()

    @property
    def text(self) -> str:
        """The canonical string: the kind, then the given options in name order."""
        given = ",".join(f"{name}={value}" for name, value in self.options)
        return f"{self.kind}:{given}" if given else self.kind


def parse_index(text: str) -> IndexChoice:
    """`KIND[:name=value,...]` as an IndexChoice, or a one-line InputError naming what is wrong."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_INDEX_TEXT or not text.isprintable():
        raise InputError(f"index {str(text)[:60]!r} must look like KIND[:name=value,...], e.g. faiss-ivf:nlist=256,"
                         f"nprobe=8; the kinds are {', '.join(kinds())}")
    kind, _, rest = text.strip().partition(":")
    kind = ALIASES.get(kind.strip(), kind.strip())
    if kind not in REGISTRY:
        raise InputError(f"unknown index {kind!r}: choose from {', '.join(kinds())}")
    known = REGISTRY[kind].OPTIONS
    options = {}
    for part in filter(None, (p.strip() for p in rest.split(","))) if rest.strip() else ():
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError(f"index {kind}: option {part!r} must look like name=value")
        if name not in known:
            names = ", ".join(known) if known else "none"
            raise InputError(f"index {kind} has no option {name!r}: its options are {names}")
        if name in options:
            raise InputError(f"index {kind}: option {name} is given twice")
        options[name] = known[name].parse(kind, name, value)
    return IndexChoice(kind, tuple(sorted(options.items())))


def kinds() -> list[str]:
    return [*REGISTRY, *ALIASES]


def open_engine(index: str | IndexChoice, packed: np.ndarray, n_bits: int) -> Engine:
    """The engine named by `index` over byte-packed codes (N, ceil(K/8)) uint8; close it when done (it is a
    context manager)."""
    choice = index if isinstance(index, IndexChoice) else parse_index(index)
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    if packed.ndim != 2 or packed.shape[0] < 1 or packed.shape[1] != -(-n_bits // 8):
        raise InputError(f"index {choice.kind}: expected packed codes (N >= 1, {-(-n_bits // 8)}) uint8, "
                         f"got {packed.shape}")
    return REGISTRY[choice.kind](packed, n_bits, dict(choice.options))


__all__ = ["REGISTRY", "ALIASES", "IndexChoice", "parse_index", "open_engine", "kinds", "Engine", "ordered_results"]
