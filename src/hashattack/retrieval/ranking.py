"""Hamming ranking of a database of hash codes for a set of queries.

Items are ordered by ascending Hamming distance to the query; items at equal distance keep
database order (ascending index). This tie rule is deterministic and documented so that
MAP / t-MAP values are reproducible.

One API, several backends (`backend=`):

- "packed" (the default on CPU): codes packed into 64-bit words, distances by XOR + popcount,
  top-R selection without sorting the database, bounded memory (`hashattack.retrieval.popcount`);
- "torch": the straightforward implementation (float dot products, then a sort of the unique
  key `distance * N + index`); it runs on any torch device and is the default for CUDA queries.
  `reference_hamming_rank_with_distances` is this backend, kept as the reference of the others;
- "faiss" (exact, IndexBinaryFlat) and "faiss-ivf" (approximate, IndexBinaryIVF) for large
  databases, with the optional package faiss-cpu (`pip install hashattack[faiss]`);
  `HammingIndex.from_faiss(index)` wraps a faiss binary index the user already has;
- any engine of `hashattack.retrieval.engines` by its index string `KIND[:name=value,...]`
  ("faiss-hnsw:M=32,ef=64", "usearch", "sqlite-vec", "lancedb", "pgvector", ...): results padded with
  index -1 where an approximate engine finds fewer than R; `close()` (or `with`) frees the engine.

"packed", "torch" and "faiss" give identical rankings. To rank many query sets against one
database, build a `HammingIndex` once and call its `search`.
"""

from __future__ import annotations

import numpy as np
import torch

from hashattack.errors import InputError
from hashattack.retrieval.codes import Array, _as_codes, _as_tensor, positive_int
from hashattack.retrieval.engines import kinds, open_engine, parse_index
from hashattack.retrieval.engines.base import package_version
from hashattack.retrieval.faiss_index import FaissBinaryIndex
from hashattack.retrieval.popcount import KERNELS, bytes_to_words, rank_words

BACKENDS = ("auto", "packed", "torch", "faiss", "faiss-ivf")


def reference_hamming_rank_with_distances(
    query_codes: Array, db_codes: Array, topk: int | None = None, chunk_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """The "torch" backend: float dot products, then a sort of `distance * N + index` per chunk.

    Memory is about 20 bytes * chunk_size * N. Arguments and result as `hamming_rank_with_distances`.
    """
    q = _as_codes(query_codes, "query_codes")
    d = _as_codes(db_codes, "db_codes").to(q.device)
    _check_shapes(q, d)
    chunk_size = positive_int(chunk_size, "chunk_size")

    n_db, k = d.shape
    r = _top_count(topk, n_db)
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


class HammingIndex:
    """A database of codes prepared once for ranking (packed words, a faiss index or ±1 codes).

    Args:
        db_codes: (N, K) ±1 codes (numpy or torch), N >= 1.
        backend: "auto" (packed on CPU, torch for CUDA codes), "packed", "torch", "faiss" or
            "faiss-ivf"; see the module docstring.
        nlist, nprobe: cells of the IVF index (default 4·sqrt(N)) and cells visited per query
            (default 16); "faiss-ivf" only.
        kernel: "auto" (= "numba"), "numba" or "numpy"; "packed" only.
    """

    def __init__(self, db_codes: Array, backend: str = "auto", *, nlist: int | None = None, nprobe: int = 16,
                 kernel: str = "auto"):
        d = _as_codes(db_codes, "db_codes")
        if d.shape[0] < 1:
            raise InputError("db_codes must have at least one row, got an empty database")
        self._setup(backend, d.shape[0], d.shape[1], d.device, kernel)
        if self.backend == "torch":
            self._codes = d
        else:
            self._init_packed(np.packbits((d == 1).cpu().numpy(), axis=1), nlist, nprobe)

    @classmethod
    def from_packed(cls, packed: Array, n_bits: int, backend: str = "auto", *, nlist: int | None = None,
                    nprobe: int = 16, kernel: str = "auto") -> "HammingIndex":
        """An index over byte-packed codes (N, ceil(K/8)) uint8 as `codes.pack_bits` writes them;
        this avoids ever holding the ±1 matrix of a very large database."""
        p = _as_tensor(packed, "packed codes").cpu().numpy()
        n_bits = positive_int(n_bits, "n_bits")
        if p.dtype != np.uint8 or p.ndim != 2 or p.shape[1] != -(-n_bits // 8) or p.shape[0] < 1:
            raise InputError(f"packed codes must be a non-empty uint8 array of shape (N, {-(-n_bits // 8)}) "
                             f"for n_bits={n_bits}, got {p.dtype} {p.shape}")
        if n_bits % 8 and (p[:, -1] & np.uint8(0xFF >> (n_bits % 8))).any():
            raise InputError(f"packed codes have bits set beyond n_bits={n_bits} in their last byte")
        self = cls.__new__(cls)
        self._setup(backend, p.shape[0], n_bits, torch.device("cpu"), kernel)
        if self.backend == "torch":
            bits = np.unpackbits(p, axis=1, count=n_bits)
            self._codes = torch.from_numpy(np.where(bits == 1, 1, -1).astype(np.int8))
        else:
            self._init_packed(p, nlist, nprobe)
        return self

    @classmethod
    def from_faiss(cls, index, backend: str = "faiss", *, kernel: str = "auto") -> "HammingIndex":
        """An index over an existing faiss binary index (its codes packed as `codes.pack_bits` does: bit j of
        a code is bit 7 - j % 8 of byte j // 8, +1 = 1; K = index.d).

        backend "faiss" searches the faiss index itself: exact with the documented tie order for an
        IndexBinaryFlat, approximate for others (IndexBinaryIVF, with its own nprobe), see
        `retrieval.faiss_index`; "packed" or "torch" copy its codes out (`reconstruct_n`) and rank them here.
        """
        wrapped = FaissBinaryIndex.wrap(index)
        if backend in ("packed", "torch", "auto"):
            packed = wrapped.index.reconstruct_n(0, wrapped.n)
            return cls.from_packed(np.asarray(packed, dtype=np.uint8), wrapped.n_bits, backend, kernel=kernel)
        if backend not in ("faiss", "faiss-ivf"):
            raise InputError(f"unknown ranking backend {backend!r}: choose from {', '.join(BACKENDS)}")
        self = cls.__new__(cls)
        self._setup(wrapped.kind, wrapped.n, wrapped.n_bits, torch.device("cpu"), kernel)
        self._faiss = wrapped
        return self

    def _setup(self, backend: str, n: int, n_bits: int, device: torch.device, kernel: str) -> None:
        self.engine = None
        if backend not in BACKENDS and isinstance(backend, str) and backend.partition(":")[0].strip() in kinds():
            self.choice = parse_index(backend)     # an engine's index string (one-line error if not)
            backend = "engine"
        elif backend not in BACKENDS:
            raise InputError(f"unknown ranking backend {backend!r}: choose from {', '.join(BACKENDS)} or an engine "
                             f"KIND[:name=value,...] of {', '.join(kinds())}")
        if kernel not in KERNELS:
            raise InputError(f"unknown popcount kernel {kernel!r}: choose from {', '.join(KERNELS)}")
        self.kernel = kernel
        if backend == "auto":
            backend = "torch" if device.type != "cpu" else "packed"
        self.backend, self.size, self.n_bits = backend, n, n_bits

    def _init_packed(self, packed: np.ndarray, nlist: int | None, nprobe: int) -> None:
        if self.backend == "engine":
            self.engine = open_engine(self.choice, packed, self.n_bits)
        elif self.backend == "packed":
            self._words = bytes_to_words(packed)
        else:
            self._faiss = FaissBinaryIndex(packed, self.n_bits, self.backend, nlist=nlist, nprobe=nprobe)

    def search(self, query_codes: Array, topk: int | None = None, chunk_size: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ranked indices and their distances, int64 (nq, R), on the device of `query_codes`.

        Args:
            query_codes: (nq, K) ±1 codes (a 1-D (K,) query is promoted to (1, K)).
            topk: R per query; None for the whole database; clipped to N.
            chunk_size: at most this many queries ranked at once (the packed backend may take
                fewer to keep a chunk's distances within 128 MiB).
        """
        q = _as_codes(query_codes, "query_codes")
        if q.shape[1] != self.n_bits:
            raise InputError(
                f"query_codes and db_codes must have the same code length K, got {q.shape[1]} and {self.n_bits}")
        chunk_size = positive_int(chunk_size, "chunk_size")
        r = _top_count(topk, self.size)
        if self.backend == "torch":
            return reference_hamming_rank_with_distances(q, self._codes, r, chunk_size)
        packed = np.packbits((q == 1).cpu().numpy(), axis=1)
        if self.backend == "packed":
            idx, dist = rank_words(bytes_to_words(packed), self._words, self.n_bits, r, chunk_size,
                                   kernel=self.kernel)
        elif self.engine is not None:
            idx, dist = self.engine.search(packed, r)
        else:
            idx, dist = self._faiss.search(packed, r)
        return torch.from_numpy(idx).to(q.device), torch.from_numpy(dist).to(q.device)

    def describe(self) -> dict:
        """The engine, its package version and options, exact or not (results.json records this)."""
        if self.engine is not None:
            return self.engine.describe()
        package = "faiss-cpu" if self.backend.startswith("faiss") else "hashattack"
        return {"engine": self.backend, "package": package, "version": package_version(package), "options": {},
                "exact": self.backend != "faiss-ivf"}

    def close(self) -> None:
        """Free an engine's server, folder or index (nothing for the built-in backends)."""
        if self.engine is not None:
            self.engine.close()

    def __enter__(self) -> "HammingIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def hamming_rank_with_distances(
    query_codes: Array, db_codes: Array, topk: int | None = None, chunk_size: int = 1024, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank the database for each query and return the ranked indices with their distances.

    Args:
        query_codes: (nq, K) ±1 codes (a 1-D (K,) query is promoted to (1, K)).
        db_codes: (N, K) ±1 codes, N >= 1.
        topk: number R of items to return per query; None for the whole database; values
            larger than N are clipped to N.
        chunk_size: number of queries ranked at once (at most).
        backend: "auto", "packed", "torch", "faiss" or "faiss-ivf" (see the module docstring).
    Returns:
        (indices, distances): two int64 tensors of shape (nq, R) on the device of
        `query_codes` (CPU for numpy input), indices into the database and their distances.
    """
    q = _as_codes(query_codes, "query_codes")
    d = _as_codes(db_codes, "db_codes")
    _check_shapes(q, d)
    if backend == "auto" and q.device.type != "cpu":
        backend = "torch"
    return HammingIndex(d, backend).search(q, topk, chunk_size)


def hamming_rank(
    query_codes: Array, db_codes: Array, topk: int | None = None, chunk_size: int = 1024, backend: str = "auto"
) -> torch.Tensor:
    """Ranked database indices for each query (ascending distance, ties by ascending index).

    Args:
        query_codes: (nq, K) ±1 codes (a 1-D (K,) query is promoted to (1, K)).
        db_codes: (N, K) ±1 codes, N >= 1.
        topk: number R of items per query; None for all N; clipped to N.
        chunk_size: number of queries ranked at once (at most).
        backend: "auto", "packed", "torch", "faiss" or "faiss-ivf" (see the module docstring).
    Returns:
        int64 tensor (nq, R) of database indices on the device of `query_codes`.
    """
    return hamming_rank_with_distances(query_codes, db_codes, topk, chunk_size, backend)[0]


def _check_shapes(q: torch.Tensor, d: torch.Tensor) -> None:
    if q.shape[1] != d.shape[1]:
        raise InputError(
            f"query_codes and db_codes must have the same code length K, got {q.shape[1]} and {d.shape[1]}"
        )
    if d.shape[0] < 1:
        raise InputError("db_codes must have at least one row, got an empty database")


def _top_count(topk: int | None, n_db: int) -> int:
    return n_db if topk is None else min(positive_int(topk, "topk"), n_db)
