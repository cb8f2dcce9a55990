"""Ranking speed: full-matrix dot product + argsort (as the official code ranks) vs hashattack.

Part 1, 10,000 queries x 60,000 database codes x 64 bits (synthetic codes around 10 class
centres, 10% of bits flipped, so MAP is meaningful and ties are many): the baseline computes
0.5 * (K - Q Bᵀ) and argsorts each row (stable, so its tie order is hashattack's; the official
code's default quicksort is timed too), 1,000 queries at a time; hashattack ranks with its
default backend. Time, peak memory (resident, each method in its own process) and MAP@1000.

Part 2, 1,000 queries over 1M and 10M synthetic codes (64 bits), hashattack alone: the built-in
packed backend, faiss exact (IndexBinaryFlat, must equal the built-in ranking) and faiss IVF
(approximate, recall@R against the exact ranking).

Imports and the one-off load of the compiled kernel happen before the timer starts. Prints the
tables and appends them to benchmarks/RESULTS.md.

    nice python benchmarks/ranking.py                 # both parts
    nice python benchmarks/ranking.py --sizes 1000000 # part 2 at 1M only
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting (libgomp's default) steal the CPU from the other thread
# on a busy 2-core machine; waiting passively keeps faiss's and numba's timings meaningful there.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import multiprocessing as mp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import numpy as np  # noqa: E402
from measure import PeakMemory, append_results  # noqa: E402

BITS = 64
TOPK = 1000


def synthetic_packed(n: int, seed: int, classes: int = 10, flip: float = 0.1, chunk: int = 250_000):
    """(n, 8) uint8 packed 64-bit codes around `classes` centres, and their labels, built in chunks."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).integers(0, 256, size=(classes, BITS // 8), dtype=np.uint8)
    labels = rng.integers(0, classes, n).astype(np.int64)
    packed = np.empty((n, BITS // 8), dtype=np.uint8)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = np.packbits(rng.random((stop - start, BITS)) < flip, axis=1)
        packed[start:stop] = centres[labels[start:stop]] ^ noise
    return packed, labels


def pm1(packed: np.ndarray) -> np.ndarray:
    return np.where(np.unpackbits(packed, axis=1, count=BITS) == 1, 1, -1).astype(np.float32)


def map_at(indices: np.ndarray, query_labels: np.ndarray, db_labels: np.ndarray) -> float:
    """MAP@R of ranked indices (AP 0 for a query with nothing relevant in its top R)."""
    rel = (db_labels[indices] == query_labels[:, None]).astype(np.float64)
    hits = rel.cumsum(axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    ap = np.where(hits[:, -1] > 0, (hits / ranks * rel).sum(axis=1) / np.maximum(hits[:, -1], 1), 0.0)
    return float(ap.mean())


def use_before(before_src: str | None) -> None:
    """In this (spawned) process, import hashattack from `before_src`: the code before a change."""
    if before_src:
        sys.path.insert(0, before_src)


def rank(method: str, q: np.ndarray, d: np.ndarray, queries: int, backend: str) -> np.ndarray:
    if method.startswith("baseline"):
        kind = "stable" if method == "baseline-stable" else "quicksort"
        top = np.empty((queries, TOPK), dtype=np.int64)
        for s in range(0, queries, 1000):
            hamm = 0.5 * (BITS - q[s:s + 1000] @ d.T)          # the full distance matrix of the chunk
            top[s:s + 1000] = np.argsort(hamm, axis=1, kind=kind)[:, :TOPK]
        return top
    from hashattack.retrieval.ranking import hamming_rank

    return hamming_rank(q, d, topk=TOPK, backend=backend).numpy()


def part1_method(method: str, queries: int, database: int, repeats: int, before_src: str | None, out) -> None:
    q_packed, q_labels = synthetic_packed(queries, seed=1)
    d_packed, d_labels = synthetic_packed(database, seed=2)
    q, d = pm1(q_packed), pm1(d_packed)
    if method == "hashattack-before":
        use_before(before_src)
    backend = "faiss" if method == "faiss" else "auto"
    if not method.startswith("baseline"):   # imports and the compiled kernel's load outside the timing
        from hashattack.retrieval.ranking import hamming_rank

        hamming_rank(q[:2], d[:100], topk=10, backend=backend)
    times = []
    with PeakMemory() as memory:
        for _ in range(1 if method.startswith("baseline") else repeats):
            started = time.perf_counter()
            top = rank(method, q, d, queries, backend)
            times.append(time.perf_counter() - started)
    seconds = sorted(times)[len(times) // 2]
    out.put({"method": method, "seconds": seconds, "times": times, "peak": memory.peak, "start": memory.start,
             "map": map_at(top, q_labels, d_labels), "top": top})


def run_in_process(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def part1(args) -> str:
    rows, results = [], {}
    labels = {"baseline-stable": "dot product + stable argsort",
              "baseline-quicksort": "dot product + argsort (official quicksort)",
              "faiss": "faiss IndexBinaryFlat (hashattack backend=\"faiss\")",
              "hashattack-before": "hashattack hamming_rank, the version in --before-src",
              "hashattack": "hashattack hamming_rank (packed, default)"}
    methods = [m for m in labels if (m != "hashattack-before" or args.before_src) and (m != "faiss" or has_faiss())
               and (not m.startswith("baseline") or not args.skip_baselines)]
    for method in methods:
        results[method] = r = run_in_process(part1_method, method, args.queries, args.database, args.repeats,
                                              args.before_src)
        print(method, f"{r['seconds']:.1f} s", f"MAP {r['map']:.6f}", flush=True)
    ours = results["hashattack"]
    for method in methods:
        label = labels[method]
        r = results[method]
        same = "identical" if np.array_equal(r["top"], ours["top"]) else \
            f"{(r['top'] == ours['top']).all(axis=1).mean() * 100:.1f}% of queries identical"
        runs = ", ".join(f"{x:.2f}" for x in r["times"])
        rows.append([label, f"{r['seconds']:.2f} ({runs})", f"{r['seconds'] / ours['seconds']:.1f}x",
                     f"{r['peak']:.0f} ({r['peak'] - r['start']:+.0f})", f"{r['map']:.6f}", same])
    return (f"{args.queries:,} queries x {args.database:,} database codes x {BITS} bits, top {TOPK} "
            f"(MAP@{TOPK}); seconds: median of the runs in brackets; the baseline ranks 1,000 queries at a time (the whole 10,000 x 60,000 float "
            f"matrix alone would be 2.4 GB, its argsort 4.8 GB).\n\n"
            + table(["ranking", "seconds", "time / hashattack", "peak RSS MiB (ranking's own)", "MAP@1000",
                     "ranking vs hashattack"], rows))


def has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def part2_size(n: int, queries: int, ivf: bool, repeats: int, before_src: str | None, out) -> None:
    if before_src:
        use_before(before_src)
    from hashattack.retrieval.ranking import HammingIndex

    q_packed, _ = synthetic_packed(queries, seed=3)
    d_packed, _ = synthetic_packed(n, seed=4)
    q = pm1(q_packed)
    rows, exact = [], None
    setups = [("packed (built-in)" + (", before" if before_src else ""), "packed", {})]
    if has_faiss() and not before_src:
        nlist = 1024 if n >= 4_000_000 else 256
        setups += [("faiss IndexBinaryFlat", "faiss", {})]
        setups += [(f"faiss IVF nlist={nlist}", "faiss-ivf", {"nlist": nlist, "nprobe": 8})] if ivf else []
    for name, backend, options in setups:
        warm = {"nlist": 8} if backend == "faiss-ivf" else {}
        HammingIndex.from_packed(d_packed[:2000], BITS, backend, **warm).search(q[:2], 10)   # warm-up: imports, JIT
        with PeakMemory() as memory:
            started = time.perf_counter()
            index = HammingIndex.from_packed(d_packed, BITS, backend, **options)
            built = time.perf_counter() - started
        for nprobe in ((8, 32) if backend == "faiss-ivf" else (None,)):
            if nprobe is not None:
                index._faiss.index.nprobe = nprobe           # the same trained index, more cells visited
            times = []
            with PeakMemory() as searching:
                for _ in range(repeats if backend == "packed" else 1):
                    started = time.perf_counter()
                    idx, dist = index.search(q, TOPK)
                    times.append(time.perf_counter() - started)
            searched = sorted(times)[len(times) // 2]
            idx, dist = idx.numpy(), dist.numpy()
            if exact is None:
                exact = (idx, dist)
                check = "reference"
            elif backend == "faiss":
                same = np.array_equal(idx, exact[0]) and np.array_equal(dist, exact[1])
                check = "identical to packed" if same else "DIFFERENT"
            else:
                recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(idx, exact[0])]) / TOPK
                kth = dist[:, -1] == exact[1][:, -1]
                check = f"recall@{TOPK} {recall:.3f}; R-th distance exact for {kth.mean() * 100:.0f}% of queries"
            peak = max(memory.peak, searching.peak)
            rows.append([f"{n:,}", name + (f" nprobe={nprobe}" if nprobe else ""), f"{built:.1f}",
                         f"{searched:.2f}" + (f" ({', '.join(f'{x:.2f}' for x in times)})" if len(times) > 1 else ""),
                         f"{queries / searched:,.0f}", f"{peak:.0f} ({peak - memory.start:+.0f})", check])
            print(rows[-1], flush=True)
        del index
    out.put({"rows": rows, "digest": hashlib.sha256(exact[0].tobytes() + exact[1].tobytes()).hexdigest()})


def part2(args) -> str:
    rows = []
    for n in args.sizes:
        before = None
        if args.before_src:
            before = run_in_process(part2_size, n, args.large_queries, False, args.repeats, args.before_src)
            rows += before["rows"]
        now = run_in_process(part2_size, n, args.large_queries, not args.no_ivf, args.repeats, None)
        if before is not None:
            now["rows"][0][-1] = "identical to before" if now["digest"] == before["digest"] else "DIFFERENT from before"
        rows += now["rows"]
    return (f"{args.large_queries:,} queries x N synthetic 64-bit codes, top {TOPK}; build = packing or "
            f"index construction (IVF: k-means training on a sample, then adding), search = ranking all queries (packed: median of {args.repeats} runs, all in brackets).\n\n"
            + table(["N", "backend", "build s", "search s", "queries/s", "peak RSS MiB (own)", "result"], rows))


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000, help="part 1 queries (default 10,000)")
    parser.add_argument("--database", type=int, default=60_000, help="part 1 database size (default 60,000)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000],
                        help="part 2 database sizes (default 1M 10M; none to skip)")
    parser.add_argument("--large-queries", type=int, default=1000, help="part 2 queries (default 1,000)")
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true", help="part 1 without the argsort baselines")
    parser.add_argument("--no-ivf", action="store_true", help="part 2 without faiss IVF (its k-means takes minutes)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the hashattack and faiss rankings")
    parser.add_argument("--before-src", help="also time the hashattack package in this src folder (a version before)")
    parser.add_argument("--note", default="", help="a line about the machine, appended to RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    text = f"### ranking.py — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n{args.note}\n\n"
    if not args.skip_part1:
        text += part1(args) + "\n"
    if args.sizes:
        text += part2(args)
    print(text)
    if not args.no_write:
        append_results(text)


if __name__ == "__main__":
    main()
