"""Attack throughput: hashattack's batched DHTA now, against earlier versions of it and the official loop.

Every variant runs in its own Python process, on the same model weights, queries and anchors (the
embedded default model and the demo's draw, prepared once here and handed over in a file), timed
`--repeats` times after a 2-step warm-up; `--rounds` rounds run every variant in turn, so a load
that drifts meets them all alike, and the median of all runs is reported:

- `official`: the official code's loop, one query at a time, weights keeping requires_grad;
- each `--compare LABEL=SRC`: hashattack imported from SRC, the `src` folder of another checkout
  (for example `git worktree add /tmp/before 56937c1`), with its default settings; the first
  also with glibc's thresholds set as `models.acceleration.keep_freed_memory` sets them now, to
  show which part of the gain is the allocator's and which the kernels';
- `now`: this checkout with its default settings, and `now + channels_last`.

Codes and pixels are compared with the first `--compare` (else with `now`). The fraction of fp32
peak uses the MFLOP of one query·step (forward plus input gradient, counted by
torch.utils.flop_counter on PyTorch's own kernels) against a 2048x2048 fp32 matmul timed in the
same run on the same threads. Peak memory is the kernel's peak resident memory (VmHWM, reset before
the attack's warm-up) less the resident memory then (no sampling thread: its wake-ups would take
the GIL from the shards). Page faults per step are the process's minor faults during the timed
runs (median over rounds): the pages the kernel had to hand over, zeroed.
The cost of a step does not depend on its number, so fewer steps than the paper's 2000 measure
the same rates.

With --quality-steps N it also runs the full-length attack three ways on the same queries and
reports t-MAP and time: the official optimiser (every step), --early-stop, and bf16 autocast.

    python benchmarks/attack_throughput.py --queries 100 --steps 30 --repeats 5 --compare before=/tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from measure import append_results, minor_faults, peak_rss_mib, reset_peak_rss, rss_mib

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def load(queries: int, bits: int, seed: int):
    """The default model, the demo's queries and their DHTA anchors (n_t = 9), from this checkout."""
    from hashattack.data import fashion_mnist_retrieval
    from hashattack.models.encode import encode_set
    from hashattack.protocol.targets import choose_targets
    from hashattack.retrieval.codes import anchor_code
    from hashattack.protocol.trainer import trained_model
    from hashattack.training.loop import TrainConfig

    dataset = fashion_mnist_retrieval()
    model, _ = trained_model(dataset, "small-cnn", bits, TrainConfig(), progress=False)
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), queries,
                              n_ts=(1, 9), seed=seed)             # the draw of `hashattack demo`
    images = dataset.query.pixels(torch.tensor(manifest.query_ids))
    ids = torch.tensor(manifest.anchor_ids[9])                       # (queries, 9) database ids
    codes = encode_set(model, dataset.database.pixels(ids.flatten()), progress=False)
    anchors = anchor_code(codes.view(len(ids), 9, -1))
    return dataset, model, manifest, images, anchors


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
    """MFLOP of one query·step: the forward plus the gradient with respect to the input, counted on PyTorch's
    own kernels (weights that need gradients keep every layer on them; only the input's gradient is asked)."""
    from torch.utils.flop_counter import FlopCounterMode

    delta = torch.zeros_like(images[:1], requires_grad=True)
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        loss = -(anchors[:1] * torch.tanh(model(images[:1] + delta))).sum()
        torch.autograd.grad(loss, delta)
    for p, flag in zip(model.parameters(), flags):
        p.requires_grad_(flag)
    return counter.get_total_flops() / 1e6


def child(kind: str, inputs: str, output: str, steps: int, threads: int, repeats: int) -> None:
    """One measurement, in a process of its own (hashattack is whichever `sys.path` finds first)."""
    from hashattack.attacks import DHTA
    from hashattack.models.small_cnn import SmallCNN

    torch.set_num_threads(threads)
    if kind == "allocator":                           # what models.acceleration.keep_freed_memory sets
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 256 << 20)
        libc.mallopt(-3, 32 << 20)
    given = torch.load(inputs, weights_only=True)
    model = SmallCNN(given["bits"])
    model.load_state_dict(given["state_dict"])
    model.eval()
    images, anchors = given["images"], given["anchors"]
    attack = DHTA(model, eps=0.1, steps=steps, channels_last=kind == "now+cl")
    if kind == "official":
        from hashattack.attacks.reference import one_query_at_a_time
        for p in model.parameters():
            p.requires_grad_(True)                    # as the official code: weights keep requires_grad

    def once(steps_now: int):
        attack.steps = steps_now
        return one_query_at_a_time(attack, images, anchors) if kind == "official" else attack(images, anchors)

    loaded = rss_mib()                                # before the attack's first step
    reset_peak_rss()
    once(2)                                           # warm-up: allocator, oneDNN primitives, numba kernels
    seconds, faults = [], minor_faults()
    for _ in range(repeats):
        started = time.perf_counter()
        adversarial = once(steps)
        seconds.append(time.perf_counter() - started)
    faults = (minor_faults() - faults) / (repeats * steps)
    torch.save({"seconds": seconds, "peak_mib": peak_rss_mib(), "loaded_mib": loaded, "faults_per_step": [faults],
                "adversarial": adversarial, "codes": model.encode(adversarial),
                "package": str(Path(sys.modules["hashattack"].__file__).parent)}, output)


def measure(kind: str, src: Path, inputs: str, args) -> dict:
    """Run `child` for `kind` with hashattack taken from `src`."""
    with tempfile.TemporaryDirectory() as folder:
        output = str(Path(folder) / "result.pt")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(HERE)])}
        subprocess.run([sys.executable, __file__, "--child", kind, "--inputs", inputs, "--output", output,
                        "--steps", str(args.steps), "--threads", str(args.threads), "--repeats", str(args.repeats)],
                       env=env, check=True)
        result = torch.load(output, weights_only=True)
    print(f"{kind}: {', '.join(f'{x:.3f}' for x in result['seconds'])} s ({result['package']})", flush=True)
    return result


def measure_rounds(variants: list, inputs: str, args) -> dict:
    """Every variant once per round, rounds one after the other (a load that drifts meets them all alike);
    the median over all timed runs, the highest peak memory."""
    results: dict = {}
    for _ in range(args.rounds):
        for key, _, kind, src in variants:
            r = measure(kind, src, inputs, args)
            if key in results:
                r = r | {"seconds": results[key]["seconds"] + r["seconds"],
                         "faults_per_step": results[key]["faults_per_step"] + r["faults_per_step"],
                         "peak_mib": max(r["peak_mib"], results[key]["peak_mib"])}
            results[key] = r
    for r in results.values():
        r["median"] = sorted(r["seconds"])[len(r["seconds"]) // 2]
    return results


def quality(args) -> list[list[str]]:
    """t-MAP and time of the full-length attack: every step, early stop, bf16 autocast."""
    from hashattack.attacks import DHTA
    from hashattack.models.encode import encode_set
    from hashattack.retrieval.metrics import mean_average_precision

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
    parser.add_argument("--steps", type=int, default=30, help="steps of the throughput comparison (default 30)")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all variants, interleaved (default 3)")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC",
                        help="also time hashattack from another checkout's src folder (repeatable)")
    parser.add_argument("--no-official", action="store_true", help="skip the (slow) official one-query loop")
    parser.add_argument("--quality-steps", type=int, default=0, help="also compare t-MAP at this many steps")
    parser.add_argument("--note", default="", help="a line about the machine, appended to RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.inputs, args.output, args.steps, args.threads, args.repeats)

    compare = []
    for item in args.compare:
        label, _, src = item.partition("=")
        if not label or not (Path(src) / "hashattack" / "__init__.py").is_file():
            parser.error(f"--compare {item!r}: give LABEL=SRC with SRC a folder holding hashattack/")
        compare.append((label, Path(src)))
    _, model, _, images, anchors = load(args.queries, args.bits, args.seed)
    mflop = step_mflop(model, images, anchors)
    # (key, row name, what the child runs, where hashattack comes from)
    official = [("official", "official loop (batch 1, weight grads)", "official", SRC)]
    variants = (official if not args.no_official else []) + \
        [(label, label, "now", src) for label, src in compare] + \
        [(f"{label}+allocator", f"{label}, allocator as now", "allocator", src) for label, src in compare[:1]] + \
        [("now", "now (default)", "now", SRC), ("now+cl", "now + channels_last", "now+cl", SRC)]
    with tempfile.TemporaryDirectory() as folder:
        inputs = str(Path(folder) / "inputs.pt")
        torch.save({"bits": args.bits, "state_dict": model.state_dict(), "images": images, "anchors": anchors}, inputs)
        results = measure_rounds(variants, inputs, args)
    peak = matmul_gflops(args.threads)
    work = args.queries * args.steps
    reference_key = compare[0][0] if compare else "now"
    reference = results[reference_key]
    first = results[variants[0][0]]
    rows = []
    for key, name, _, _ in variants:
        r = results[key]
        same = int((reference["codes"] == r["codes"]).all(dim=1).sum())
        diff = (reference["adversarial"] - r["adversarial"]).abs().max().item()
        rate = work / r["median"]
        rows.append([name, f"{r['median']:.3f} ({', '.join(f'{x:.3f}' for x in r['seconds'])})", f"{rate:,.0f}",
                     f"{first['median'] / r['median']:.2f}x", f"{reference['median'] / r['median']:.2f}x",
                     f"{100 * rate * mflop * 1e6 / (peak * 1e9):.1f}%", f"{same}/{args.queries}, {diff:.1e}",
                     f"{r['peak_mib']:.0f} ({r['peak_mib'] - r['loaded_mib']:+.0f})",
                     f"{sorted(r['faults_per_step'])[len(r['faults_per_step']) // 2]:,.0f}"])
    sources = "; ".join(f"{label} = {src}" for label, src in compare) or "no --compare"
    text = (f"### attack_throughput.py — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
            f"{args.queries} queries x {args.steps} steps, small CNN {args.bits} bits (Fashion-MNIST default model), "
            f"{args.threads} torch threads, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; each variant in its own process, {args.rounds} "
            f"rounds of all variants one after the other, {args.repeats} runs each, median of all (all in brackets) "
            f"after a 2-step warm-up ({sources}). One query·step = "
            f"{mflop:.2f} MFLOP; fp32 peak = {peak:.0f} GFLOP/s (2048x2048 matmul, same threads, same run). {args.note}\n\n"
            + table(["method", "seconds", "query·steps/s", f"vs {variants[0][1]}", f"vs {reference_key}", "of fp32 peak",
                     f"codes = {reference_key}'s, largest pixel difference", "peak RSS MiB (own)",
                     "page faults per step"], rows))
    if args.quality_steps:
        qrows = quality(args)
        text += (f"\nFull-length attack, {args.queries} queries x {args.quality_steps} steps, t-MAP@1000 (%):\n\n"
                 + table(["DHTA", "t-MAP", "codes = anchor", "forward/backward passes", "seconds", "speed-up"], qrows))
    print(text)
    if not args.no_write:
        append_results(text)


if __name__ == "__main__":
    main()
