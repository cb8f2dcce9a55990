"""Two tiny `hashattack demo` commands in one Python process: are the models they train bit-identical?

docs/reproducibility.md promises byte-identical weights per command (per process). This runs the
same tiny demo twice in one process (real Fashion-MNIST, `--per-class` training images per class,
one epoch, 16 bits, 8 queries, 4 steps, one torch thread), each with a fresh model cache, with
oneDNN on and then off, and prints the largest weight difference between the two trained models.

    python benchmarks/in_process_training.py --per-class 50
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from hashattack.cli.main import main as hashattack


def largest_difference(per_class: int) -> float:
    """Two tiny demos in this process; the largest absolute difference between their models' weights."""
    with tempfile.TemporaryDirectory() as tmp:
        weights = []
        for name in ("a", "b"):
            cache = Path(tmp) / f"cache-{name}"
            assert hashattack(["demo", "--train-per-class", str(per_class), "--epochs", "1", "--bits", "16",
                               "--queries", "8", "--batch-size", "2", "--steps", "4", "--n-t", "3", "--topk", "50",
                               "--cache-dir", str(cache), "--out", str(Path(tmp) / name), "--quiet"]) == 0
            (path,) = cache.glob("*.pt")
            weights.append(torch.load(path, weights_only=True))
        a, b = weights
        return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=50, help="training images per class (default 50)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for enabled in (True, False):
        with torch.backends.mkldnn.flags(enabled=enabled):
            difference = largest_difference(args.per_class)
        print(f"oneDNN {'on ' if enabled else 'off'}: largest weight difference between the models of two "
              f"in-process demos = {difference:.3g}")


if __name__ == "__main__":
    main()
