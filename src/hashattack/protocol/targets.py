"""The target protocol of DHTA and the manifest that records it.

For each query (drawn at random from the query set):
- its target label vector is drawn uniformly among the distinct label vectors of the database
  that occur more than n_t times and differ from the query's label vector;
- n_t anchor objects are drawn without replacement from the database items whose label vector
  equals the target; their database codes are voted into the anchor code.

Which n_t decides eligibility is the target protocol (`TARGET_PROTOCOLS`):
- "paired" (the default): one draw for every n_t of a run, among the label vectors with more than
  the largest n_t items; the objects for n_t are the first n_t of one random order of the target's
  items. Every method (P2P's n_t = 1, DHTA's 9, each point of an n_t sweep) attacks a query towards
  the same target, so the methods compare pairwise, query by query; P2P and small n_t never target
  a label vector with fewer items than the largest n_t.
- "official": each n_t draws among the label vectors with more than *its own* n_t items, as the
  official code (one script per method). n_t values whose eligible label vectors are the same
  share one draw, made exactly as "paired" makes it for the largest of them (from the generator's
  state after the queries are drawn); so the largest n_t's targets and objects equal paired's, and
  when every label vector has more items than every n_t (single-label data with many items per
  class) the two protocols draw the same manifest.

The manifest (JSON) records query ids, target labels (per n_t when they differ), anchor object
ids, the protocol and the seed, and a run given a manifest re-runs exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hashattack.errors import InputError
from hashattack.files import atomic_write_json
from hashattack.retrieval.stored import label_vectors  # noqa: F401  (re-exported for the protocol)
from hashattack.run_format import MANIFEST_FORMAT
from hashattack.validation import MAX_CLASSES, MAX_INT64, MAX_LABEL_CELLS, MAX_N_T, check_count, read_json

TARGET_PROTOCOLS = ("paired", "official")


@dataclass
class Manifest:
    """Queries, targets and anchor objects of one run (indices into the query set / the database)."""

    seed: int
    query_ids: list[int]
    target_labels: np.ndarray                     # (n_queries, num_classes) uint8 multi-hot
    anchor_ids: dict[int, list[list[int]]]        # n_t -> per query, n_t database indices
    dataset: str = ""
    extra: dict = field(default_factory=dict)
    protocol: str = "paired"
    target_labels_by_n_t: dict[int, np.ndarray] = field(default_factory=dict)   # n_t -> targets, where they differ

    def __len__(self) -> int:
        return len(self.query_ids)

    def targets(self, n_t: int | None) -> np.ndarray:
        """The target label vectors (n_queries, C) of the methods whose anchors hold `n_t` objects (None:
        the manifest's main targets, those of its largest n_t)."""
        return self.target_labels_by_n_t.get(n_t, self.target_labels) if n_t is not None else self.target_labels

    def to_json(self) -> dict:
        return {
            "format": MANIFEST_FORMAT,
            "dataset": self.dataset,
            "seed": self.seed,
            "num_classes": int(self.target_labels.shape[1]),
            "query_ids": [int(i) for i in self.query_ids],
            "target_labels": [np.flatnonzero(row).tolist() for row in self.target_labels],
            "anchor_ids": {str(n_t): ids for n_t, ids in sorted(self.anchor_ids.items())},
            "target_protocol": self.protocol,
            **({"target_labels_by_n_t": {str(n_t): [np.flatnonzero(row).tolist() for row in labels]
                                         for n_t, labels in sorted(self.target_labels_by_n_t.items())}}
               if self.target_labels_by_n_t else {}),
            **({"extra": self.extra} if self.extra else {}),
        }

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_json())


def load_manifest(path: str | Path, num_queries: int | None = None, num_database: int | None = None,
                  dataset: str | None = None) -> Manifest:
    """Read and validate a manifest; ids are checked against the set sizes, and its dataset against
    `dataset` (the kind before a `:`, e.g. `images`), when given."""
    path = Path(path)
    raw = read_json(path, "manifest")
    try:
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        if raw.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format is {str(raw.get('format'))[:40]!r}, expected {MANIFEST_FORMAT!r}")
        n_classes = check_count(raw["num_classes"], "num_classes", MAX_CLASSES, low=1)
        query_ids = _ids(raw["query_ids"], "query_ids")
        if not query_ids:
            raise ValueError("query_ids is empty; a manifest needs at least one query")
        if len(set(query_ids)) != len(query_ids):
            first = next(i for n, i in enumerate(query_ids) if i in query_ids[:n])
            raise ValueError(f"query id {first} is listed twice in query_ids")
        if len(query_ids) * n_classes > MAX_LABEL_CELLS:
            raise ValueError(f"{len(query_ids)} queries x {n_classes} classes is more than {MAX_LABEL_CELLS:,} labels")
        labels = _label_rows(raw["target_labels"], len(query_ids), n_classes, "")
        extra_targets = raw.get("target_labels_by_n_t", {})
        if not isinstance(extra_targets, dict):
            raise ValueError("target_labels_by_n_t is not an object")
        by_n_t = {_n_t(k): _label_rows(v, len(query_ids), n_classes, f" in target_labels_by_n_t[{k}]")
                  for k, v in extra_targets.items()}
        protocol = raw.get("target_protocol", "paired")   # manifests older than the option: the nested draw
        if protocol not in TARGET_PROTOCOLS:
            raise ValueError(f"target_protocol is {str(protocol)[:40]!r}, expected one of {', '.join(TARGET_PROTOCOLS)}")
        if not isinstance(raw["anchor_ids"], dict):
            raise ValueError("anchor_ids is not an object")
        anchors = {}
        for k, v in raw["anchor_ids"].items():
            n_t = _n_t(k)
            if not isinstance(v, list) or len(v) != len(query_ids) or \
                    any(not isinstance(r, list) or len(r) != n_t for r in v):
                raise ValueError(f"anchor_ids[{n_t}] must hold {n_t} ids for each of {len(query_ids)} queries")
            anchors[n_t] = [_ids(r, f"anchor_ids[{n_t}]") for r in v]
        seed = check_count(raw["seed"], "seed", MAX_INT64)
        kind = raw.get("dataset", "")
        if not isinstance(kind, str):
            raise ValueError("dataset is not a string")
        extra = raw.get("extra", {})
        if not isinstance(extra, dict):
            raise ValueError("extra is not an object")
    except (InputError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise InputError(f"{path}: malformed manifest ({exc})") from None
    if num_queries is not None and any(not 0 <= i < num_queries for i in query_ids):
        raise InputError(f"{path}: a query id is outside the query set of {num_queries}")
    if num_database is not None and any(not 0 <= i < num_database for rows in anchors.values() for r in rows for i in r):
        raise InputError(f"{path}: an anchor id is outside the database of {num_database}")
    if dataset is not None and kind and kind.partition(":")[0] != dataset.partition(":")[0]:
        raise InputError(f"{path}: a manifest of dataset {kind[:60]!r}, not of {dataset!r}; give this dataset's "
                         "manifest or none")
    return Manifest(seed, query_ids, labels, anchors, kind, extra, protocol, by_n_t)


def _ids(values, where: str) -> list[int]:
    """A JSON list of ids: non-negative integers within int64 (not bools, not "7", not a string of digits)."""
    if not isinstance(values, list):
        raise ValueError(f"{where} is not a list of ids, got {type(values).__name__}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT64:
            raise ValueError(f"{where} holds {repr(value)[:40]}, not an integer id from 0 to {MAX_INT64}")
    return list(values)


def _n_t(key: str) -> int:
    """An n_t key of the manifest ("9"): a positive integer in plain digits."""
    if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 8) or not 0 < int(key) <= MAX_N_T:
        raise ValueError(f"n_t key {str(key)[:20]!r} is not an integer from 1 to {MAX_N_T:,}")
    return int(key)


def _label_rows(rows, count: int, n_classes: int, where: str) -> np.ndarray:
    """(count, n_classes) uint8 multi-hot from a manifest's lists of class indices (`where`: which list)."""
    if not isinstance(rows, list):
        raise ValueError(f"target_labels{where} is not a list")
    if len(rows) != count:
        raise ValueError(f"target_labels{where} and query_ids differ in length")
    labels = np.zeros((count, n_classes), dtype=np.uint8)
    for row, classes in enumerate(rows):
        if not isinstance(classes, list) or not classes:
            raise ValueError(f"target label of query {row}{where} is empty")
        for c in classes:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n_classes:
                raise ValueError(f"target label of query {row}{where} names class {repr(c)[:40]}, "
                                 f"not an integer in 0..{n_classes - 1}")
        labels[row, classes] = 1
    return labels


def choose_targets(query_labels: np.ndarray, db_labels: np.ndarray, num_queries: int, n_ts=(1, 9),
                   seed: int = 0, query_ids=None, candidate_filter=None, dataset: str = "",
                   protocol: str = "paired") -> Manifest:
    """Draw queries, target label vectors and anchor objects following `protocol` (module docstring).

    query_labels (Nq, C), db_labels (Nd, C): one-/multi-hot label vectors.
    num_queries: how many queries to draw (ignored when `query_ids` is given).
    n_ts: the n_t values to draw anchors for (nested draws, see the module docstring).
    candidate_filter: optional callable(label_vector) -> bool restricting the target labels
    (e.g. to classes the model never saw, for the open-set experiment).
    protocol: "paired" (eligibility by the largest n_t, one draw) or "official" (each n_t's own).
    """
    if protocol not in TARGET_PROTOCOLS:
        raise InputError(f"unknown target protocol {protocol!r}: choose from {', '.join(TARGET_PROTOCOLS)}")
    query_labels = np.asarray(query_labels).astype(np.uint8)
    db_labels = np.asarray(db_labels).astype(np.uint8)
    n_ts = sorted({int(n) for n in n_ts})
    if not n_ts or n_ts[0] <= 0:
        raise InputError(f"n_t values must be positive integers, got {n_ts}")
    rng = np.random.default_rng(seed)
    if query_ids is None:
        if not 0 < num_queries <= len(query_labels):
            raise InputError(f"number of queries must be between 1 and {len(query_labels)}, got {num_queries}")
        query_ids = np.sort(rng.choice(len(query_labels), size=num_queries, replace=False))
    query_ids = [int(i) for i in query_ids]
    state = rng.bit_generator.state   # every group of n_t values draws from here

    vectors, inverse, counts = np.unique(db_labels, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    allowed = np.ones(len(vectors), dtype=bool)
    if candidate_filter is not None:
        allowed = np.array([bool(candidate_filter(v)) for v in vectors])
    groups: dict[tuple, list[int]] = {}   # eligible label vectors -> the n_t values drawing among them
    for n in n_ts:
        eligible = allowed & (counts > (n if protocol == "official" else n_ts[-1]))
        groups.setdefault(tuple(np.flatnonzero(eligible)), []).append(n)
    targets: dict[int, np.ndarray] = {}
    anchors: dict[int, list[list[int]]] = {}
    for eligible_ids, group in groups.items():
        generator = np.random.default_rng()
        generator.bit_generator.state = state
        drawn, objects = _draw(query_labels, vectors, inverse, counts, np.array(eligible_ids, dtype=np.int64),
                               query_ids, group, generator)
        targets.update({n: drawn for n in group})
        anchors.update(objects)
    main = targets[n_ts[-1]]
    by_n_t = {n: t for n, t in targets.items() if not np.array_equal(t, main)}
    return Manifest(int(seed), query_ids, main, dict(sorted(anchors.items())), dataset, {}, protocol, by_n_t)


def _draw(query_labels: np.ndarray, vectors: np.ndarray, inverse: np.ndarray, counts: np.ndarray,
          eligible_ids: np.ndarray, query_ids: list[int], n_ts: list[int],
          rng: np.random.Generator) -> tuple[np.ndarray, dict[int, list[list[int]]]]:
    """One nested draw: per query a target among `eligible_ids` (label vectors other than the query's),
    then one random order of its items, whose first n objects are the anchors of each n in `n_ts`."""
    largest = max(n_ts)
    if not len(eligible_ids):
        raise InputError(f"n_t = {largest} is too large: no target label has more than {largest} database objects "
                         f"(largest count {counts.max()})")
    members = {int(v): np.flatnonzero(inverse == v) for v in eligible_ids}
    targets = np.zeros((len(query_ids), vectors.shape[1]), dtype=np.uint8)
    anchors: dict[int, list[list[int]]] = {n: [] for n in n_ts}
    for row, qid in enumerate(query_ids):
        candidates = eligible_ids[(vectors[eligible_ids] != query_labels[qid]).any(axis=1)]
        if not len(candidates):
            raise InputError(f"query {qid} has no target label different from its own with more than {largest} objects")
        chosen = int(candidates[int(rng.integers(len(candidates)))])
        targets[row] = vectors[chosen]
        order = rng.permutation(members[chosen])[:largest]
        for n in n_ts:
            anchors[n].append([int(i) for i in order[:n]])
    return targets, anchors


def anchor_objects(db_labels: np.ndarray, target_labels: np.ndarray, n_t: int, seed: int = 0) -> list[list[int]]:
    """The official anchor draw for given targets: per target label vector, `n_t` database objects drawn
    without replacement (one random order of the items whose label vector equals it, first `n_t`)."""
    rng = np.random.default_rng(seed)
    rows = []
    for number, target in enumerate(target_labels):
        members = np.flatnonzero((db_labels == target).all(axis=1))
        if len(members) < n_t:
            raise InputError(f"target {number} ({np.flatnonzero(target).tolist()}) has {len(members)} database "
                             f"objects, fewer than n_t = {n_t}")
        rows.append([int(i) for i in rng.permutation(members)[:n_t]])
    return rows
