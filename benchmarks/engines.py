"""Exact ranking against every search engine of `hashattack.retrieval.engines`: does a targeted attack that
succeeds under exact Hamming ranking still succeed through an approximate index?

Part 1 (the default model: small CNN, Fashion-MNIST, 32 bits, from the trained-model cache; the demo's 100
queries and targets, DHTA at eps 0.2 pixel, n_t = 9, `--steps` steps): per engine, t-MAP@1000 of the
adversarial codes and MAP@1000 of the benign ones scored on the engine's own results, recall@1000 of those
results against exact ranking (adversarial and benign queries together; "recall": the share of the 1000
slots holding an item within the exact 1000th distance, so any order of ties counts as exact; "id_recall":
the overlap with hashattack's own top 1000 ids), build seconds and queries/s.

Part 2 (`--large N`, default 10,000,000 x 64-bit synthetic codes: 1000 clusters, each code its center
with 10 % of its bits flipped; 50 queries near centers): recall@1000 against exact ranking, build seconds,
queries/s, for each engine in its own process under `--budget` seconds, which include making the
synthetic codes and the exact ranking (about 20 s); an engine that cannot build and answer in that
time, or that runs out of memory, is reported as such.

    PYTHONPATH=src python benchmarks/engines.py --part 1 --steps 2000
    PYTHONPATH=src python benchmarks/engines.py --part 2 --large 10000000 --budget 150
    PYTHONPATH=src python benchmarks/engines.py --part 2 --budget 400 --engines faiss-ivf:nlist=1024
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import signal
import sys
import time

import numpy as np
import torch

from hashattack.attacks import DHTA
from hashattack.data import fashion_mnist_retrieval
from hashattack.errors import InputError
from hashattack.models.encode import encode_set
from hashattack.protocol.targets import choose_targets
from hashattack.retrieval import HammingIndex
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.metrics import mean_of_average_precisions, ranked_average_precisions
from hashattack.protocol.trainer import trained_model
from hashattack.training.loop import TrainConfig

R = 1000
SMALL = ["exact", "faiss", "faiss-ivf", "faiss-ivf:nprobe=1", "faiss-hnsw", "faiss-hnsw:M=8,ef=16",
         "faiss-mih", "faiss-mih:nflip=0", "usearch", "usearch:M=4,ef=8", "usearch:exact=1", "sqlite-vec",
         "sqlite-vec:mode=scan", "lancedb", "lancedb:nlist=64,nprobe=4", "pgvector", "pgvector:method=hnsw"]
LARGE = ["exact", "faiss", "faiss-ivf", "faiss-mih", "faiss-hnsw", "usearch", "sqlite-vec", "lancedb", "pgvector"]


def recall(found: torch.Tensor, exact: torch.Tensor) -> float:
    """|returned ids & exact top-R ids| / R (ties at the R-th distance make this < 1 for exact engines too)."""
    return float(np.mean([len(set(a[a >= 0].tolist()) & set(b.tolist())) / b.numel() for a, b in zip(found, exact)]))


def tie_recall(found_dist: torch.Tensor, exact_dist: torch.Tensor, n_bits: int) -> float:
    """The share of the R slots filled with an item at most the exact R-th distance away: 1 exactly when
    the engine's answer is one of the exact answers (any order of the ties)."""
    kth = exact_dist[:, -1:]
    return float(((found_dist <= kth) & (found_dist <= n_bits)).float().mean())


def part1(steps: int, queries: int) -> list[dict]:
    dataset = fashion_mnist_retrieval()
    model, _ = trained_model(dataset, "small-cnn", 32, TrainConfig(), progress=False)
    db_codes = encode_set(model, dataset.database.pixels(slice(None)), progress=False)
    db_labels = dataset.database.labels
    manifest = choose_targets(dataset.query.labels.numpy(), db_labels.numpy(), queries, n_ts=(1, 9), seed=0)
    ids = torch.tensor(manifest.query_ids)
    images, true_labels = dataset.query.pixels(ids), dataset.query.labels[ids]
    anchors = anchor_code(db_codes[torch.tensor(manifest.anchor_ids[9])])
    started = time.perf_counter()
    adversarial = DHTA(model, eps=0.2, steps=steps)(images, anchors)
    print(f"DHTA: {queries} queries x {steps} steps in {time.perf_counter() - started:.0f} s", flush=True)
    adv_codes = encode_set(model, adversarial, progress=False)
    benign = encode_set(model, images, progress=False)
    targets = torch.from_numpy(manifest.targets(9))
    both = torch.cat([adv_codes, benign])
    exact_idx, exact_dist = HammingIndex(db_codes).search(both, R)
    rows = []
    for kind in SMALL:
        row = {"index": kind}
        try:
            started = time.perf_counter()
            with HammingIndex(db_codes, kind) as index:
                row["build_s"] = time.perf_counter() - started
                started = time.perf_counter()
                found, found_dist = index.search(both, R)
                row["qps"] = len(both) / (time.perf_counter() - started)
                row["about"] = index.describe()
        except InputError as error:
            row["refused"] = str(error)
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        adv_found, benign_found = found[:queries], found[queries:]
        row["t_map"] = mean_of_average_precisions(ranked_average_precisions(adv_found, targets, db_labels))
        row["map"] = mean_of_average_precisions(ranked_average_precisions(benign_found, true_labels, db_labels))
        row["recall"] = tie_recall(found_dist, exact_dist, 32)
        row["id_recall"] = recall(found, exact_idx)
        row["returned"] = float((found >= 0).float().mean())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def synthetic(n: int, bits: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Packed clustered codes (n, bits/8) and queries (each a center with 10 % of its bits flipped)."""
    rng = np.random.default_rng(seed)
    centers = rng.integers(0, 256, (1000, bits // 8), dtype=np.uint8)
    flips = np.packbits(rng.random((n_queries, bits)) < 0.1, axis=1)
    queries = centers[rng.integers(0, 1000, n_queries)] ^ flips
    db = np.empty((n, bits // 8), dtype=np.uint8)
    for start in range(0, n, 1_000_000):
        stop = min(n, start + 1_000_000)
        noise = np.packbits(rng.random((stop - start, bits), dtype=np.float32) < 0.1, axis=1)
        db[start:stop] = centers[rng.integers(0, 1000, stop - start)] ^ noise
    return db, queries


def large_child(kind: str, n: int, bits: int, n_queries: int, out) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # out of time: the engine still stops its server
    db, queries = synthetic(n, bits, n_queries)
    q = np.where(np.unpackbits(queries, axis=1) == 1, 1, -1).astype(np.int8)
    exact, exact_dist = HammingIndex.from_packed(db, bits).search(q, R)
    started = time.perf_counter()
    with HammingIndex.from_packed(db, bits, kind) as index:
        build = time.perf_counter() - started
        out.put({"index": kind, "build_s": build})
        started = time.perf_counter()
        found, found_dist = index.search(q, R)
        qps = n_queries / (time.perf_counter() - started)
        out.put({"index": kind, "build_s": build, "qps": qps, "recall": tie_recall(found_dist, exact_dist, bits),
                 "id_recall": recall(found, exact),
                 "about": index.describe(), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def part2(n: int, bits: int, n_queries: int, budget: float, kinds: list[str]) -> list[dict]:
    rows = []
    for kind in kinds:
        out = mp.get_context("spawn").Queue()
        child = mp.get_context("spawn").Process(target=large_child, args=(kind, n, bits, n_queries, out))
        started = time.perf_counter()
        child.start()
        child.join(budget)
        last = {"index": kind}
        while not out.empty():
            last = out.get()
        if child.is_alive():
            child.terminate()
            child.join()
            last["failed"] = (f"not done in {budget:.0f} s ("
                              + ("built, searching" if "build_s" in last else "still building") + ")")
        elif child.exitcode != 0:
            last["failed"] = f"exit {child.exitcode} after {time.perf_counter() - started:.0f} s"
        rows.append(last)
        print(json.dumps(last), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", type=int, choices=(1, 2), nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--large-queries", type=int, default=50)
    parser.add_argument("--budget", type=float, default=300)
    parser.add_argument("--engines", nargs="+", help=f"part 2's engines (default {' '.join(LARGE)})")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    result = {}
    if 1 in args.part:
        result["default_model"] = part1(args.steps, args.queries)
    if 2 in args.part:
        result["synthetic"] = part2(args.large, args.bits, args.large_queries, args.budget,
                                    args.engines or LARGE)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
