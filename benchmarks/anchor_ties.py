"""Anchor ties: DHTA's t-MAP with Algorithm 1's anchors (a tied bit gives +1) against the official
code's `np.sign` anchors (a tied bit gives 0 and leaves the loss), at an even n_t where ties happen.

The embedded default (small CNN, Fashion-MNIST, 32 bits, from the trained-model cache), the demo's
queries and targets drawn for n_t (seed 0), the default ε = 0.2 (pixel) and 2000 steps. Prints the
share of tied anchor bits and t-MAP@1000 under both zero-relevance conventions for both anchors.

    OMP_NUM_THREADS=1 python benchmarks/anchor_ties.py --queries 100 --n-t 8
"""

from __future__ import annotations

import argparse

import torch

from hashattack.attacks import DHTA
from hashattack.data import fashion_mnist_retrieval
from hashattack.data.fashion_mnist import EMBEDDED_EPS
from hashattack.models.encode import encode_set
from hashattack.protocol.targets import choose_targets
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.metrics import average_precisions, mean_of_average_precisions
from hashattack.protocol.trainer import trained_model
from hashattack.training.loop import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--n-t", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--bits", type=int, default=32)
    args = parser.parse_args()
    dataset = fashion_mnist_retrieval()
    model, _ = trained_model(dataset, "small-cnn", args.bits, TrainConfig(), progress=False)
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), args.queries,
                              n_ts=(1, args.n_t), seed=0)
    db_codes = encode_set(model, dataset.database, progress=False)
    objects = db_codes[torch.tensor(manifest.anchor_ids[args.n_t])]            # (B, n_t, K)
    images = dataset.query.pixels(torch.tensor(manifest.query_ids))
    targets = torch.from_numpy(manifest.target_labels)
    tied = (anchor_code(objects, ties="zero") == 0).float().mean().item()
    print(f"{args.queries} queries, n_t = {args.n_t}, {args.bits} bits: {100 * tied:.1f} % of anchor bits tied")
    for ties in ("plus", "zero"):
        adversarial = DHTA(model, eps=EMBEDDED_EPS, steps=args.steps, anchor_ties=ties)(images, objects)
        codes = encode_set(model, adversarial, progress=False)
        aps = average_precisions(codes, db_codes, targets, dataset.database.labels, topk=1000)
        print(f"anchor ties -> {ties}: t-MAP {100 * mean_of_average_precisions(aps, 'zero'):.2f} (zero), "
              f"{100 * mean_of_average_precisions(aps, 'drop'):.2f} (drop)")


if __name__ == "__main__":
    main()
