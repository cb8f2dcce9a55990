"""Calibrate the default ε of the embedded Fashion-MNIST setting (the analogue of appendix Table 2).

Runs every method at several pixel-space ε on the same queries and targets with the default
32-bit model, and prints (and appends to docs/calibration.md with --write) a t-MAP table.

    python benchmarks/eps_calibration.py --queries 100 --eps 0.02 0.05 0.1 0.15 0.2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.spec import RunControls, RunSpec, TrainedModel
from hashattack.reporting.tables import markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.15, 0.2])
    parser.add_argument("--methods", nargs="+", default=["Original", "Noise", "P2P", "DHTA"])
    parser.add_argument("--write", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()

    rows = []
    started = time.perf_counter()
    for eps in args.eps:
        with tempfile.TemporaryDirectory() as out:
            record = run(RunSpec(model=TrainedModel(bits=args.bits), methods=tuple(args.methods),
                                 attack=AttackSettings(eps=eps, steps=args.steps), queries=args.queries,
                                 controls=RunControls(out=out, progress=False, figures=False)))
        methods = record["methods"]
        psnr = methods["DHTA"]["perceptibility"]["psnr_median"] if "DHTA" in methods else float("nan")
        rows.append([f"{eps:g}", f"{eps * 255:.1f}/255"] + [f"{100 * methods[m]['t_map']:.2f}" for m in args.methods]
                    + [f"{psnr:.1f}"])
        print(f"eps {eps}: done after {time.perf_counter() - started:.0f} s", flush=True)
    header = ["eps (pixel)", "≈"] + [f"{m} t-MAP" for m in args.methods] + ["DHTA PSNR dB (median)"]
    text = markdown(header, rows)
    note = (f"{args.queries} queries, {args.steps} steps, {args.bits} bits, n_t = 9, MAP@1000, zero-relevance "
            f"counted as 0; {time.perf_counter() - started:.0f} s on this machine.\n")
    print(text + note)
    if args.write:
        with open(args.write, "a") as handle:
            handle.write("\n" + text + "\n" + note)


if __name__ == "__main__":
    main()
