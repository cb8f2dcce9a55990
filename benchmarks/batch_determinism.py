"""What DHTA gives identically across batch sizes and CPU thread counts: pixels, codes, t-MAP.

Same model (the embedded default: small CNN, Fashion-MNIST, 32 bits, from the trained-model
cache), same queries and anchors (the demo's draw, n_t = 9), DHTA at the demo's ε (0.2, pixel
space), attacked `--batch-sizes` queries at a time with 1 and 2 torch threads, each thread count and
precision (fp32; fp64: the model in float64) in its own process. Prints, against batch size 1 with 1
thread: the largest pixel difference (and against 1 thread at the same batch size), the number of
queries whose code differs, and the t-MAP (MAP@1000 against the target labels). `--isa avx2` runs
the children with oneDNN, ATen and MKL held to AVX2 (an AVX-512 machine then computes as an AVX2 one).

    python benchmarks/batch_determinism.py --queries 20 --steps 2000 --precisions fp32 fp64
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os

import torch

from hashattack.attacks import DHTA
from hashattack.data import fashion_mnist_retrieval
from hashattack.models.encode import encode_set
from hashattack.protocol.targets import choose_targets
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.metrics import mean_average_precision
from hashattack.protocol.trainer import trained_model
from hashattack.training.loop import TrainConfig


def load(queries: int, seed: int = 0):
    """The default model, the demo's queries and their DHTA anchors (n_t = 9)."""
    dataset = fashion_mnist_retrieval()
    model, _ = trained_model(dataset, "small-cnn", 32, TrainConfig(), progress=False)
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), queries,
                              n_ts=(1, 9), seed=seed)
    images = dataset.query.pixels(torch.tensor(manifest.query_ids))
    ids = torch.tensor(manifest.anchor_ids[9])
    anchors = anchor_code(encode_set(model, dataset.database.pixels(ids.flatten()), progress=False).view(len(ids), 9, -1))
    return dataset, model, manifest, images, anchors


AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def attack_all(threads: int, precision: str, batch_sizes: list[int], queries: int, steps: int, out) -> None:
    """Every batch size with `threads` torch threads and the model in `precision`, in this process."""
    torch.set_num_threads(threads)
    _, model, _, images, anchors = load(queries)
    if precision == "fp64":
        model = model.double()
    attack = DHTA(model, eps=0.2, steps=steps)
    for size in batch_sizes:
        adversarial = torch.cat([attack(images[i:i + size], anchors[i:i + size]) for i in range(0, len(images), size)])
        out.put((precision, threads, size, adversarial.numpy(), torch.backends.cpu.get_cpu_capability()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 7, 100])
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "fp64"], default=["fp32"])
    parser.add_argument("--isa", choices=["native", "avx2"], default="native")
    args = parser.parse_args()
    if args.isa == "avx2":
        os.environ.update(AVX2_ONLY)   # the spawned children read these when their libraries load
    ctx = mp.get_context("spawn")
    queue, results, capability = ctx.Queue(), {}, "?"
    for precision in args.precisions:
        for threads in (1, 2):
            proc = ctx.Process(target=attack_all, args=(threads, precision, args.batch_sizes, args.queries, args.steps,
                                                        queue))
            proc.start()
            for _ in args.batch_sizes:
                precision_, threads_, size, pixels, capability = queue.get()
                results[precision_, threads_, size] = torch.from_numpy(pixels)
            proc.join()
    torch.set_num_threads(1)
    dataset, model, manifest, _, _ = load(args.queries)
    db_codes = encode_set(model, dataset.database, progress=False)
    targets = torch.from_numpy(manifest.target_labels)
    print(f"{args.queries} queries x {args.steps} DHTA steps, eps 0.2 (pixel), small CNN 32 bits, CPU capability "
          f"{capability}; against batch size {args.batch_sizes[0]}, 1 thread, same precision")
    print("| precision | threads | batch size | max pixel difference | same, to 1 thread at this batch size "
          "| queries with another code | t-MAP (%) |")
    print("|---|---|---|---|---|---|---|")
    for (precision, threads, size), pixels in sorted(results.items()):
        reference = results[precision, 1, args.batch_sizes[0]]
        codes, ref_codes = model.encode(pixels.float()), model.encode(reference.float())
        t_map = mean_average_precision(codes, db_codes, targets, dataset.database.labels, topk=1000)
        print(f"| {precision} | {threads} | {size} | {(pixels - reference).abs().max().item():.1e} | "
              f"{(pixels - results[precision, 1, size]).abs().max().item():.1e} | "
              f"{int((codes != ref_codes).any(dim=1).sum())} | {100 * t_map:.4f} |", flush=True)


if __name__ == "__main__":
    main()
