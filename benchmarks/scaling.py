"""How cost grows: attack throughput against the number of queries, ranking time and memory against
the database size, before and after a change, as two PNG plots and a table.

Attack: DHTA on the embedded model (small CNN, 32 bits, the demo's queries and anchors), all the
queries in one batch, few steps (the cost per step is constant), median of `--repeats` runs after a
2-step warm-up, each point in its own process (`attack_throughput.measure`: same weights, queries
and anchors), with its peak resident memory; "before" imports hashattack from `--before-src`,
"after" from this checkout. Ranking: 1,000 random 64-bit queries, top 1000, over N
random codes, median of `--repeats` runs after a warm-up call (numba's load), each size in its own
process so its peak resident memory is its own; "before" imports hashattack from `--before-src`.

    python benchmarks/scaling.py --before-src /path/to/old/src      # writes benchmarks/scaling_*.png
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
from measure import PeakMemory

HERE = Path(__file__).parent


def attack_point(queries: int, src: Path, inputs: dict, args) -> dict:
    """query·steps/s and the attack's own peak memory for `queries` queries, hashattack from `src`."""
    import tempfile

    import torch
    from attack_throughput import measure

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "inputs.pt")
        torch.save(inputs | {"images": inputs["images"][:queries], "anchors": inputs["anchors"][:queries]}, path)
        r = measure("now", src, path, args)
    seconds = sorted(r["seconds"])[len(r["seconds"]) // 2]
    return {"rate": queries * args.steps / seconds, "own_mib": r["peak_mib"] - r["loaded_mib"]}


def ranking_time(n: int, queries: int, repeats: int, before_src: str | None, out) -> None:
    if before_src:
        sys.path.insert(0, before_src)
    from hashattack.retrieval.ranking import HammingIndex

    rng = np.random.default_rng(n)
    db = rng.integers(0, 256, size=(n, 8), dtype=np.uint8)
    q = np.where(np.unpackbits(rng.integers(0, 256, size=(queries, 8), dtype=np.uint8), axis=1) == 1, 1.0, -1.0)
    index = HammingIndex.from_packed(db, 64, "packed")
    index.search(q[:2], 10)                               # numba's load, outside the timing
    times = []
    with PeakMemory() as memory:
        for _ in range(repeats):
            started = time.perf_counter()
            index.search(q, 1000)
            times.append(time.perf_counter() - started)
    out.put({"seconds": sorted(times)[len(times) // 2], "peak_mib": memory.peak, "own_mib": memory.peak - memory.start})


def in_process(target, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[60_000, 300_000, 1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--ranking-queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before-src", help="src folder of the version before (its curves are drawn beside)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for scaling.json and the PNGs")
    parser.add_argument("--labels", nargs=2, default=["before", "after"], help="names of the two curves")
    parser.add_argument("--replot", type=Path, help="only draw the PNGs again from this scaling.json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.out, args.labels)
        return

    from attack_throughput import SRC, load

    _, model, _, images, anchors = load(max(args.queries), 32, 0)
    inputs = {"bits": 32, "state_dict": model.state_dict(), "images": images, "anchors": anchors}
    sources = {"after": SRC, **({"before": Path(args.before_src)} if args.before_src else {})}
    attack = {}
    for q in args.queries:
        attack[q] = {kind: attack_point(q, src, inputs, args) for kind, src in sources.items()}
        print(f"attack {q:>5} queries: " + "  ".join(f"{k} {v['rate']:,.0f} query·steps/s, {v['own_mib']:+.0f} MiB"
                                                     for k, v in attack[q].items()), flush=True)
    ranking = {}
    for n in args.sizes:
        ranking[n] = {"after": in_process(ranking_time, n, args.ranking_queries, args.repeats, None)}
        if args.before_src:
            ranking[n]["before"] = in_process(ranking_time, n, args.ranking_queries, args.repeats, args.before_src)
        print(f"ranking N={n:>10,}: " + "  ".join(f"{k} {v['seconds']:.2f} s, peak {v['peak_mib']:.0f} MiB "
                                                  f"({v['own_mib']:+.0f})" for k, v in ranking[n].items()), flush=True)
    data = {"steps": args.steps, "threads": args.threads, "ranking_queries": args.ranking_queries,
            "attack": attack, "ranking": ranking}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, args.out, args.labels)


def plot(data: dict, out: Path, labels: list[str]) -> None:
    """scaling_attack.png and scaling_ranking.png from the figures of `main` (or a scaling.json)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attack, ranking = data["attack"], data["ranking"]
    names = dict(zip(("before", "after"), labels))

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for kind in ("before", "after"):
        counts = [q for q in attack if kind in attack[q]]
        if counts:
            left.plot([int(q) for q in counts], [attack[q][kind]["rate"] for q in counts], "o-", label=names[kind])
            right.plot([int(q) for q in counts], [attack[q][kind]["own_mib"] for q in counts], "o-", label=names[kind])
    left.set(xscale="log", xlabel="queries in the batch", ylabel="query·steps / s",
             title=f"DHTA throughput, small CNN, {data['threads']} threads")
    right.set(xscale="log", xlabel="queries in the batch", ylabel="MiB", title="peak resident memory (own)")
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "scaling_attack.png", dpi=110)

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for kind in ("before", "after"):
        sizes = [n for n in ranking if kind in ranking[n]]
        if sizes:
            left.plot([int(n) for n in sizes], [ranking[n][kind]["seconds"] for n in sizes], "o-", label=names[kind])
            right.plot([int(n) for n in sizes], [ranking[n][kind]["own_mib"] for n in sizes], "o-", label=names[kind])
    left.set(xscale="log", yscale="log", xlabel="database codes (64 bits)", ylabel="seconds",
             title=f"{data.get('ranking_queries', 1000)} queries, exact top 1000")
    right.set(xscale="log", xlabel="database codes (64 bits)", ylabel="MiB", title="peak resident memory (own)")
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "scaling_ranking.png", dpi=110)


if __name__ == "__main__":
    main()
