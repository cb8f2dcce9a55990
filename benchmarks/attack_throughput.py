"""Attack throughput: the official one-query-at-a-time DHTA loop vs hashattack's batched DHTA.

Variants, each in its own process, each timed `--repeats` times after a 2-step warm-up (median
reported): the official loop; the batched attack as one batch on all torch threads (hashattack
before the batch was sharded: `shards=1`, the very code path it had); the batched attack sharded
across the threads (the default now, `attacks.descent.descent_shards`); and the same with
channels_last. The fraction of fp32 peak uses 5.7 MFLOP per query·step (forward plus input
gradient of the small CNN, counted by torch.utils.flop_counter) against an fp32 matmul measured
in the same run on the same threads.

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

# OMP_WAIT_POLICY is left as the environment has it (unset: libgomp spins a while, then sleeps), as
# hashattack's own commands run; set it to PASSIVE for a machine shared with other heavy jobs.

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from measure import PeakMemory, append_results  # noqa: E402

from hashattack.attacks import DHTA  # noqa: E402
from hashattack.attacks import descent  # noqa: E402
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


VARIANTS = {
    "official": "official loop (batch 1, weight grads)",
    "one-batch": "batched DHTA, one batch on all threads (before)",
    "sharded": "batched DHTA, sharded over the threads (default now)",
    "sharded+cl": "sharded + channels_last",
}


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """fp32 matmul rate on `threads` torch threads: the peak the attack is compared with (median)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - started) / 1e9)
    return sorted(rates)[len(rates) // 2]


def step_mflop(model, images, anchors) -> float:
    """MFLOP of one query·step: the forward plus the gradient with respect to the input."""
    delta = torch.zeros_like(images[:1], requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        loss = -(anchors[:1] * torch.tanh(model(images[:1] + delta))).sum()
        torch.autograd.grad(loss, delta)
    return counter.get_total_flops() / 1e6


def run_variant(kind: str, queries: int, bits: int, seed: int, steps: int, threads: int, repeats: int, out) -> None:
    """One measurement in its own process, so its peak memory is its own."""
    torch.set_num_threads(threads)
    _, model, _, images, anchors = load(queries, bits, seed)
    if kind == "one-batch":
        descent.descent_shards = lambda images: 1          # the code path before sharding
    attack = DHTA(model, eps=0.1, steps=steps, channels_last=kind == "sharded+cl")
    if kind == "official":
        for p in model.parameters():
            p.requires_grad_(True)                    # as the official code: weights keep requires_grad

    def once(steps_now: int):
        attack.steps = steps_now
        return one_query_at_a_time(attack, images, anchors) if kind == "official" else attack(images, anchors)

    once(2)                                           # warm-up: allocator, oneDNN primitives
    seconds = []
    with PeakMemory() as memory:
        for _ in range(repeats):
            started = time.perf_counter()
            adversarial = once(steps)
            seconds.append(time.perf_counter() - started)
    out.put({"kind": kind, "seconds": sorted(seconds)[len(seconds) // 2], "all_seconds": seconds,
             "peak_mib": memory.peak, "loaded_mib": memory.start, "mflop": step_mflop(model, images, anchors),
             "adversarial": adversarial.numpy(), "codes": model.encode(adversarial).numpy()})  # numpy: plain pickling


def measure(kind: str, args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=run_variant, args=(kind, args.queries, args.bits, args.seed, args.steps,
                                                  args.threads, args.repeats, queue))
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
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--no-official", action="store_true", help="skip the (slow) official one-query loop")
    parser.add_argument("--quality-steps", type=int, default=0, help="also compare t-MAP at this many steps")
    parser.add_argument("--note", default="", help="a line about the machine, appended to RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    kinds = [k for k in VARIANTS if k != "official" or not args.no_official]
    results = {kind: measure(kind, args) for kind in kinds}
    peak = matmul_gflops(args.threads)
    work = args.queries * args.steps
    base, before = results[kinds[0]], results["one-batch"]
    rows = []
    for kind in kinds:
        r = results[kind]
        same = int((before["codes"] == r["codes"]).all(dim=1).sum())
        diff = (before["adversarial"] - r["adversarial"]).abs().max().item()
        rate = work / r["seconds"]
        rows.append([VARIANTS[kind], f"{r['seconds']:.2f} ({', '.join(f'{x:.2f}' for x in r['all_seconds'])})",
                     f"{rate:,.0f}", f"{base['seconds'] / r['seconds']:.2f}x", f"{before['seconds'] / r['seconds']:.2f}x",
                     f"{100 * rate * r['mflop'] * 1e6 / (peak * 1e9):.1f}%",
                     f"{same}/{args.queries}, {diff:.1e}", f"{r['peak_mib']:.0f} ({r['peak_mib'] - r['loaded_mib']:+.0f})"])
    text = (f"### attack_throughput.py — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
            f"{args.queries} queries x {args.steps} steps, small CNN {args.bits} bits (Fashion-MNIST default model), "
            f"{args.threads} torch threads, {platform.processor() or platform.machine()}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; median of {args.repeats} runs (all runs in brackets) "
            f"after a 2-step warm-up. One query·step = {before['mflop']:.2f} MFLOP; fp32 peak = {peak:.0f} GFLOP/s "
            f"(2048x2048 matmul, same threads, same run). {args.note}\n\n"
            + table(["method", "seconds", "query·steps/s", f"vs {kinds[0]}", "vs before", "of fp32 peak",
                     "codes = before's, largest pixel difference", "peak RSS MiB (own)"], rows))
    if args.quality_steps:
        qrows = quality(args)
        text += (f"\nFull-length attack, {args.queries} queries x {args.quality_steps} steps, t-MAP@1000 (%):\n\n"
                 + table(["DHTA", "t-MAP", "codes = anchor", "forward/backward passes", "seconds", "speed-up"], qrows))
    print(text)
    if not args.no_write:
        append_results(text)


if __name__ == "__main__":
    main()
