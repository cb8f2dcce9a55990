"""Attack throughput: the official one-query-at-a-time DHTA loop vs hashattack's batched DHTA.

Same model (the embedded default: small CNN, Fashion-MNIST, 32 bits, from the trained-model
cache), same queries, targets and anchors (the demo's draw), same steps. Prints a side-by-side
table (query·steps per second, the ratio, peak memory, whether both give the same codes) and
appends it to benchmarks/RESULTS.md. The per-step cost does not depend on the step number, so
fewer steps than the paper's 2000 measure the same ratio.

With --quality-steps N it also runs the full-length attack three ways on the same queries and
reports t-MAP and time: the official optimiser (every step), --early-stop, and bf16 autocast.

    nice python benchmarks/attack_throughput.py --queries 100 --steps 100 --quality-steps 2000
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting (libgomp's default) steal the CPU from the other thread
# on a busy machine; waiting passively keeps torch's 2-thread timings meaningful there.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import torch  # noqa: E402
from measure import PeakMemory, append_results  # noqa: E402

from hashattack.attacks import DHTA  # noqa: E402
from hashattack.attacks.reference import one_query_at_a_time  # noqa: E402
from hashattack.data import fashion_mnist_retrieval  # noqa: E402
from hashattack.models.encode import encode_set  # noqa: E402
from hashattack.protocol.targets import choose_targets  # noqa: E402
from hashattack.retrieval.codes import anchor_code  # noqa: E402
from hashattack.retrieval.metrics import mean_average_precision  # noqa: E402
from hashattack.training.cache import trained_model  # noqa: E402
from hashattack.training.loop import TrainConfig  # noqa: E402


def load(queries: int, bits: int, seed: int):
    """The default model, the demo's queries and their DHTA anchors (n_t = 9)."""
    dataset = fashion_mnist_retrieval()
    model, _ = trained_model(dataset, "small-cnn", bits, TrainConfig(), progress=False)
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), queries,
                              n_ts=(1, 9), seed=seed)             # the draw of `hashattack demo`
    images = dataset.query.pixels(torch.tensor(manifest.query_ids))
    ids = torch.tensor(manifest.anchor_ids[9])                       # (queries, 9) database ids
    codes = encode_set(model, dataset.database.pixels(ids.flatten()), progress=False)
    anchors = anchor_code(codes.view(len(ids), 9, -1))
    return dataset, model, manifest, images, anchors


def run_variant(kind: str, queries: int, bits: int, seed: int, steps: int, threads: int, out) -> None:
    """One measurement in its own process, so its peak memory is its own."""
    torch.set_num_threads(threads)
    _, model, _, images, anchors = load(queries, bits, seed)
    attack = DHTA(model, eps=0.1, steps=steps)
    with PeakMemory() as memory:
        started = time.perf_counter()
        if kind == "official":
            for p in model.parameters():
                p.requires_grad_(True)                    # as the official code: weights keep requires_grad
            adversarial = one_query_at_a_time(attack, images, anchors)
        else:
            adversarial = attack(images, anchors)
        seconds = time.perf_counter() - started
    out.put({"kind": kind, "seconds": seconds, "peak_mib": memory.peak, "loaded_mib": memory.start,
             "adversarial": adversarial.numpy(), "codes": model.encode(adversarial).numpy()})  # numpy: plain pickling


def measure(kind: str, args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=run_variant, args=(kind, args.queries, args.bits, args.seed, args.steps,
                                                  args.threads, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result | {"adversarial": torch.from_numpy(result["adversarial"]), "codes": torch.from_numpy(result["codes"])}


def quality(args) -> list[list[str]]:
    """t-MAP and time of the full-length attack: every step, early stop, bf16 autocast."""
    torch.set_num_threads(args.threads)
    dataset, model, manifest, images, anchors = load(args.queries, args.bits, args.seed)
    db_codes = encode_set(model, dataset.database, progress=False)
    targets = torch.from_numpy(manifest.target_labels)
    rows, times = [], []
    for name, options in (("every step (official)", {}), ("early stop", {"early_stop": True}),
                          ("bf16 autocast", {"precision": "bf16"})):
        attack = DHTA(model, eps=0.1, steps=args.quality_steps, **options)
        started = time.perf_counter()
        adversarial = attack(images, anchors)
        seconds = time.perf_counter() - started
        times.append(seconds)
        codes = model.encode(adversarial)
        t_map = mean_average_precision(codes, db_codes, targets, dataset.database.labels, topk=1000)
        reached = int((codes == anchors).all(dim=1).sum())
        passes = int(attack.steps_taken.sum())
        rows.append([name, f"{100 * t_map:.2f}", f"{reached}/{len(codes)}", f"{passes:,}", f"{seconds:.1f}"])
        print(rows[-1], flush=True)
    for row, seconds in zip(rows, times):
        row.append(f"{times[0] / seconds:.2f}x")
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--steps", type=int, default=100, help="steps of the throughput comparison (default 100)")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--quality-steps", type=int, default=0, help="also compare t-MAP at this many steps")
    parser.add_argument("--note", default="", help="a line about the machine, appended to RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    results = {kind: measure(kind, args) for kind in ("official", "batched")}
    work = args.queries * args.steps
    off, bat = results["official"], results["batched"]
    same = int((off["codes"] == bat["codes"]).all(dim=1).sum())
    diff = (off["adversarial"] - bat["adversarial"]).abs().max().item()
    rows = []
    for name, r in (("official loop (batch 1, weight grads)", off), ("hashattack batched DHTA", bat)):
        rows.append([name, f"{r['seconds']:.1f}", f"{work / r['seconds']:,.0f}",
                     f"{off['seconds'] / r['seconds']:.1f}x", f"{r['peak_mib']:.0f} ({r['peak_mib'] - r['loaded_mib']:+.0f})"])
    text = (f"### attack_throughput.py — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
            f"{args.queries} queries x {args.steps} steps, small CNN {args.bits} bits (Fashion-MNIST default model), "
            f"{args.threads} torch threads, {platform.processor() or platform.machine()}. {args.note}\n\n"
            + table(["method", "seconds", "query·steps/s", "speed-up", "peak RSS MiB (attack's own)"], rows)
            + f"\nSame codes: {same}/{args.queries} queries; largest pixel difference {diff:.2e}.\n")
    if args.quality_steps:
        qrows = quality(args)
        text += (f"\nFull-length attack, {args.queries} queries x {args.quality_steps} steps, t-MAP@1000 (%):\n\n"
                 + table(["DHTA", "t-MAP", "codes = anchor", "forward/backward passes", "seconds", "speed-up"], qrows))
    print(text)
    if not args.no_write:
        append_results(text)


if __name__ == "__main__":
    main()
