"""What every search engine behind `retrieval.HammingIndex` shares: its options, its one-line errors, the
order of its results.

An engine holds byte-packed codes (N, ceil(K/8)) uint8 as `codes.pack_bits` makes them (padding bits zero)
and answers `search(packed_queries, r)` with (indices, distances), int64 (nq, r), ordered by
(distance, index) among what it returned; a query that gets fewer than r items is padded with index -1
and distance K + 1. Exact engines return the true top r (ties at the r-th distance as the engine
breaks them); approximate ones return what their index finds.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass

import numpy as np

from hashattack.errors import InputError

MISSING = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Option:
    """One `KIND:name=value` option: its type ("int" >= 1, "count" >= 0, "bool" 0/1, or a tuple of words),
    its default (None: the engine chooses, e.g. from N) and what it does."""

    kind: object
    default: object
    help: str

    def parse(self, engine: str, name: str, text: str):
        if isinstance(self.kind, tuple):
            if text not in self.kind:
                raise InputError(f"index {engine}: option {name}={text!r} must be one of {', '.join(self.kind)}")
            return text
        low = 1 if self.kind == "int" else 0
        high = 1 if self.kind == "bool" else 2 ** 31 - 1
        if not text.isdigit() or not low <= int(text) <= high:
            want = "0 or 1" if self.kind == "bool" else f"an integer in {low} .. {high}"
            raise InputError(f"index {engine}: option {name}={text!r} must be {want}")
        return int(text)


def import_engine_package(module: str, engine: str, extra: str):
    """The optional module an engine needs, or a one-line InputError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"index {engine} needs the optional package {module.split('.')[0]}: "
                         f"pip install 'hashattack[{extra}]'") from None


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def ordered_results(idx: np.ndarray, dist: np.ndarray, r: int, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(nq, <= r) raw results (index < 0 for none) as int64 (nq, r), sorted by (distance, index), padded
    with -1 / K + 1."""
    idx, dist = np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float64)
    dist = np.rint(np.where(np.isfinite(dist), dist, n_bits + 1)).astype(np.int64)   # NaN: no item
    if idx.shape[1] < r:
        pad = r - idx.shape[1]
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=n_bits + 1)
    idx, dist = idx[:, :r].copy(), dist[:, :r].copy()
    missing = idx < 0
    idx[missing], dist[missing] = MISSING, n_bits + 1
    order = np.lexsort((idx, dist), axis=1)
    idx, dist = np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)
    idx[idx == MISSING] = -1
    return idx, dist


def rows_of(results: list[list[tuple[int, float]]], r: int, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query lists of (index, distance) as `ordered_results` gives them."""
    idx = np.full((len(results), r), -1, dtype=np.int64)
    dist = np.full((len(results), r), n_bits + 1, dtype=np.float64)
    for row, found in enumerate(results):
        found = found[:r]
        if found:
            idx[row, :len(found)] = [item for item, _ in found]
            dist[row, :len(found)] = [d for _, d in found]
    return ordered_results(idx, dist, r, n_bits)


class Engine:
    """The base of every engine: `KIND`, `EXTRA` (the pip extra), `DISTRIBUTION` (whose version is recorded),
    `EXACT`, `OPTIONS` (name -> Option); subclasses build in `__init__` and answer `search`."""

    KIND = ""
    EXTRA: str | None = None
    DISTRIBUTION: str | None = None
    EXACT = False
    OPTIONS: dict[str, Option] = {}
    ABOUT = ""

    def __init__(self, packed: np.ndarray, n_bits: int, options: dict):
        self.n_bits, self.n, self.n_bytes = n_bits, int(packed.shape[0]), int(packed.shape[1])
        self.options = {name: options.get(name, option.default) for name, option in self.OPTIONS.items()}

    def search(self, packed_queries: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        """Free what the engine holds outside Python (a server, a temporary folder)."""

    @property
    def exact(self) -> bool:
        return self.EXACT

    def describe(self) -> dict:
        """What results.json records: the engine, its package and version, its options, exact or not."""
        return {"engine": self.KIND, "package": self.DISTRIBUTION,
                "version": package_version(self.DISTRIBUTION) if self.DISTRIBUTION else None,
                "options": dict(self.options), "exact": self.exact}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
