"""`hashattack robustness`: benign MAP, MAP under the untargeted attack and P2P / DHTA t-MAP over ε,
for one model or several side by side."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from hashattack.cli.options import add_spec_options, spec_from_args
from hashattack.errors import InputError
from hashattack.protocol import distributed
from hashattack.protocol.engine import run as run_spec
from hashattack.protocol.run_lock import RunLock
from hashattack.protocol.runfolder import check_folder_kind
from hashattack.data.registry import dataset_entry
from hashattack.reporting.robustness import write_robustness

ROBUSTNESS_METHODS = ["Original", "Untargeted", "P2P", "DHTA"]
EPS_FACTORS = (0.25, 0.5, 1.0, 1.5)   # the default sweep, as multiples of the dataset's default eps


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "robustness", conflict_handler="resolve",
        help="robustness table and figure: benign MAP, MAP under the untargeted attack, P2P / DHTA t-MAP over eps, "
             "for one model or several side by side",
        description="Attack each model with Original, Untargeted, P2P and DHTA (or --methods) at every eps, on the "
                    "same queries and targets, into <out>/<label>/ (a run folder per model, a sweep when several eps), "
                    "then write <out>/robustness.md / .csv / .json and <out>/figures/robustness.png with the models "
                    "side by side. Models: --checkpoint FILE (repeatable), else the model the options describe "
                    "(trained here and cached; --adversarial trains it adversarially). Default eps: 0.25, 0.5, 1 and "
                    "1.5 times the dataset's default (0.05 0.1 0.2 0.3 pixel on fashion-mnist). --from-runs puts "
                    "finished run folders side by side without attacking anything.",
        epilog="examples:\n"
               "  hashattack train --bits 32 --out models/standard-32.pt\n"
               "  hashattack train --bits 32 --epochs 3 --adversarial center --adv-steps 3 --out models/center-32.pt\n"
               "  hashattack robustness --checkpoint models/standard-32.pt --checkpoint models/center-32.pt \\\n"
               "      --eps 0.05 0.1 0.2 0.3 --steps 500 --out runs/robustness\n"
               "  hashattack robustness --adversarial untargeted --adv-steps 3 --epochs 3 --out runs/robust-untargeted\n"
               "  hashattack robustness --from-runs runs/robustness/standard runs/other-run --out runs/compare",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_options(parser)
    parser.add_argument("--checkpoint", type=Path, action="append", metavar="FILE",
                        help="a model written by `hashattack train` (repeatable: one block of rows per model)")
    parser.add_argument("--label", action="append", metavar="NAME",
                        help="the models' names in the table, in the order of --checkpoint or --from-runs "
                             "(default: file or folder names)")
    parser.add_argument("--from-runs", type=Path, nargs="+", metavar="DIR",
                        help="attack nothing: put these finished run folders (one model each, one run or a sweep "
                             "over eps) side by side into <out>")
    parser.set_defaults(run=run, dataset="fashion-mnist", out=Path("runs/robustness"))


def models_of(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(label, checkpoint or None for the model the options describe) of every model to compare."""
    checkpoints = list(args.from_runs or args.checkpoint or [None])
    default = "model" if args.adversarial is None else f"adversarial-{args.adversarial}"
    names = [p.name if args.from_runs else p.stem if p is not None else default for p in checkpoints]
    labels = list(args.label or names)
    if len(labels) != len(checkpoints):
        raise InputError(f"{len(labels)} --label for {len(checkpoints)} models: give one per --checkpoint or run folder")
    if len(set(labels)) != len(labels):
        raise InputError(f"two models share a label ({', '.join(labels)}): give --label NAME for each --checkpoint")
    for label in labels:
        if not label or "/" in label or label.startswith("."):
            raise InputError(f"label {label!r} cannot name a folder")
    return list(zip(labels, checkpoints))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.checkpoint and args.adversarial is not None:
        raise InputError("--adversarial trains a model here; the --checkpoint models are already trained "
                         "(train one with `hashattack train --adversarial ...` and give it with --checkpoint)")
    if args.from_runs and args.checkpoint:
        raise InputError("give either --from-runs (finished run folders) or --checkpoint (models to attack), not both")
    check_folder_kind(args.out, "robustness")
    if args.from_runs:
        return show(args.out, dict(models_of(args)))
    args.methods = args.methods or list(ROBUSTNESS_METHODS)
    entry = dataset_entry(args.dataset)
    if args.eps is None and args.eps_space in (None, entry.eps_space):
        args.eps = [round(entry.eps * factor, 6) for factor in EPS_FACTORS]
    folders = {}
    for label, checkpoint in models_of(args):
        options = copy.copy(args)
        options.checkpoint, options.out = checkpoint, Path(args.out) / label
        spec = spec_from_args(options)
        if not args.quiet:
            print(f"== {label}: {checkpoint or 'trained here'} -> {spec.controls.out}")
        run_spec(spec)
        folders[label] = spec.controls.out
    main = distributed.is_main()
    distributed.shutdown()
    return show(args.out, folders) if main else 0


def show(out: Path, folders: dict) -> int:
    """Write the side-by-side files of `folders` ({label: run folder}) into `out` (locked) and print the table."""
    check_folder_kind(out, "robustness")
    Path(out).mkdir(parents=True, exist_ok=True)
    lock = RunLock(out)
    lock.acquire()
    try:
        check_folder_kind(out, "robustness")
        result = write_robustness(out, folders)
    finally:
        lock.release()
    print(f"{result['caption']}\n\n{result['table']}")
    for summary in result["models"]:
        seconds = "?" if summary["train_seconds"] is None else f"{summary['train_seconds']:.0f} s"
        print(f"{summary['model']}: {summary['training']}, trained in {seconds}")
    print(f"\n{Path(out) / 'robustness.md'}, robustness.csv, robustness.json, figures/robustness.png; "
          f"one run folder per model: {', '.join(str(f) for f in folders.values())}")
    return 0


__all__ = ["run", "models_of", "ROBUSTNESS_METHODS"]
