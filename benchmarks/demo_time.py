"""`make demo`'s wall time with a cached model: this checkout against other checkouts, in interleaved rounds.

Each round runs `python -m hashattack demo --force --quiet` once per version (hashattack imported
from that version's `src`), one after the other, so a load that drifts meets them all alike.
Reports per version the wall times, their median and the median of the attacks' own seconds
(P2P + DHTA, from each run folder's timing.json), and checks that every method's codes equal the
first version's (batch records) and that the tables' main columns are equal.

    python benchmarks/demo_time.py --compare before=/tmp/before/src --rounds 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
METHODS = ("Original", "Noise", "P2P", "DHTA")


def run_demo(src: Path, out: Path, extra: list[str]) -> dict:
    """Wall seconds, attack seconds, codes per method and the table's main columns of one demo run."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hashattack", "demo", "--force", "--quiet", "--out", str(out), *extra],
                   env={**os.environ, "PYTHONPATH": str(src)}, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    timing = json.loads((out / "timing.json").read_text())
    codes = {m: json.loads(next((out / "batches").glob(f"{m}-*.json")).read_text())["codes"] for m in METHODS}
    with open(out / "table.csv") as f:
        table = [row[:3] for row in csv.reader(f)][1:]
    attack = sum(timing["methods"][m]["seconds"] for m in ("P2P", "DHTA"))
    return {"wall": wall, "attack": attack, "codes": codes, "table": table}


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=SRC",
                        help="another checkout's src folder to time beside this one (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("demo_args", nargs="*", help="more options for hashattack demo (after --)")
    args = parser.parse_args()
    versions = [(label, Path(src)) for label, _, src in (item.partition("=") for item in args.compare)]
    versions.append(("now", SRC))
    runs: dict[str, list[dict]] = {label: [] for label, _ in versions}
    with tempfile.TemporaryDirectory() as folder:
        for round_number in range(args.rounds):
            for label, src in versions:
                result = run_demo(src, Path(folder) / f"{label}-{round_number}", args.demo_args)
                runs[label].append(result)
                print(f"round {round_number + 1} {label}: wall {result['wall']:.1f} s, attacks {result['attack']:.1f} s",
                      flush=True)
    first = runs[versions[0][0]][0]
    print("\n| version | wall (rounds) | median | P2P + DHTA attack, median | codes = first's | table = first's |")
    print("|---|---|---|---|---|---|")
    for label, _ in versions:
        walls = [r["wall"] for r in runs[label]]
        same_codes = all(r["codes"] == first["codes"] for r in runs[label])
        same_table = all(r["table"] == first["table"] for r in runs[label])
        print(f"| {label} | {', '.join(f'{w:.1f}' for w in walls)} s | {median(walls):.1f} s | "
              f"{median([r['attack'] for r in runs[label]]):.1f} s | {same_codes} | {same_table} |")


if __name__ == "__main__":
    main()
