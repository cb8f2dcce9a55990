"""Paper-scale speed check of DHTA: a VGG-11 hashing model at 224x224, 100 queries x 2000 steps.

Needs no dataset and no pretrained weights: the VGG-11 is randomly initialised, the queries are
random pixels, and the database is synthetic random codes (its size only matters for the final
ranking, which is timed separately). Prints the attack's wall time and images·steps per second,
plus how close the adversarial codes got to their anchors (a sanity check that the attack ran).

    python benchmarks/gpu_paper_scale.py                         # the full check, on cuda if present
    python benchmarks/gpu_paper_scale.py --queries 2 --steps 2   # a tiny run that works on a CPU

Options: --queries (100), --steps (2000), --batch-size (100), --bits (32), --size (224),
--database (128,503: ImageNet-100's database size), --eps (0.032, normalised space, the paper's
preset), --device (cuda if available, else cpu), --amp (bfloat16 autocast, off by default: the
paper's attack runs in float32), --json FILE (also write the figures as JSON).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from hashattack.attacks import DHTA
from hashattack.retrieval.codes import anchor_code
from hashattack.models import create_model
from hashattack.retrieval.ranking import hamming_rank


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--database", type=int, default=128_503)
    parser.add_argument("--n-t", type=int, default=9)
    parser.add_argument("--eps", type=float, default=0.032)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast during the attack")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    model = create_model("vgg11", args.bits).to(device).eval()
    build_seconds = time.perf_counter() - started

    generator = torch.Generator().manual_seed(args.seed)
    queries = torch.rand(args.queries, 3, args.size, args.size, generator=generator)
    db_codes = torch.where(torch.rand(args.database, args.bits, generator=generator) < 0.5, -1.0, 1.0)
    target_ids = torch.randint(args.database, (args.queries, args.n_t), generator=generator)
    anchors = anchor_code(db_codes[target_ids])

    attack = DHTA(model, eps=args.eps, eps_space="normalized", steps=args.steps, n_t=args.n_t)
    synchronize(device)
    started = time.perf_counter()
    adversarial = []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
        for start in range(0, args.queries, args.batch_size):
            batch = queries[start:start + args.batch_size].to(device)
            adversarial.append(attack(batch, anchors[start:start + args.batch_size].to(device)))
    synchronize(device)
    attack_seconds = time.perf_counter() - started
    adversarial = torch.cat(adversarial)

    with torch.no_grad():
        codes = model.encode(adversarial).cpu()
        benign = model.encode(queries.to(device)).cpu()
    started = time.perf_counter()
    hamming_rank(codes, db_codes, topk=1000)
    rank_seconds = time.perf_counter() - started
    distance = lambda a, b: ((a != b).sum(1).float().mean().item())
    figures = {
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "host": platform.node(), "torch": torch.__version__, "amp_bf16": args.amp,
        "queries": args.queries, "steps": args.steps, "batch_size": args.batch_size, "bits": args.bits,
        "input": [3, args.size, args.size], "database": args.database,
        "model_build_seconds": round(build_seconds, 2),
        "attack_seconds": round(attack_seconds, 2),
        "images_steps_per_second": round(args.queries * args.steps / attack_seconds, 1),
        "ranking_seconds_top1000": round(rank_seconds, 3),
        "mean_hamming_to_anchor_benign": distance(benign, anchors),
        "mean_hamming_to_anchor_adversarial": distance(codes, anchors),
        "peak_gpu_memory_gib": (round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                                if device.type == "cuda" else None),
    }
    print(f"DHTA on VGG-11 ({args.bits} bits, {args.size}x{args.size}), {args.queries} queries x {args.steps} steps, "
          f"batch {args.batch_size}, on {figures['device']}:")
    print(f"  attack wall time       {attack_seconds:.2f} s")
    print(f"  images*steps / second  {figures['images_steps_per_second']}")
    print(f"  Hamming to anchor      {figures['mean_hamming_to_anchor_benign']:.2f} (benign) -> "
          f"{figures['mean_hamming_to_anchor_adversarial']:.2f} (adversarial)")
    print(f"  model build {build_seconds:.1f} s; ranking {args.queries} queries over {args.database} codes "
          f"{rank_seconds:.3f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
