"""`hashattack experiment PRESET`: the paper's experiments (bits, eps, feature, nt, open-set) as presets."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hashattack.cli.main import DEFAULT_EPS, positive_float, positive_int
from hashattack.cli.dataset_options import (add_dataset_options, add_model_options, model_choice,
                                                 open_dataset_from, train_config_from)

PAPER_EPS = 0.032                                   # normalised space, the official code's ImageNet setting
PAPER_EPS_VALUES = (0.01, 0.02, 0.03, 0.04, 0.05)   # appendix Table 2, normalised space
EMBEDDED_EPS_VALUES = (0.02, 0.05, 0.1, 0.15, 0.2)  # pixel space, around the embedded default eps


def add_parser(commands) -> None:
    from hashattack.protocol.presets import PRESETS

    parser = commands.add_parser(
        "experiment", help="run one of the paper's experiments (bits, eps, feature, nt, open-set) into a run folder",
        description="Run a preset of the paper's experiments and write its run folder: manifest.json, one "
                    "results.json per sub-run, table.md / table.csv in the paper's layout and preset.json.\n"
                    "  bits      Original/Noise/P2P/DHTA t-MAP and Original MAP per code length (Table 1)\n"
                    "  eps       DHTA t-MAP at one code length for several eps (Table 2)\n"
                    "  feature   the feature-based attack vs DHTA per code length (Table 3)\n"
                    "  nt        DHTA t-MAP as n_t varies (1, 3, ..., 15)\n"
                    "  open-set  train on some classes, target only the others (appendix Fig. 2)",
        epilog="examples:\n"
               "  hashattack experiment bits --queries 100\n"
               "  hashattack experiment eps --eps-values 0.02 0.05 0.1 0.15 0.2\n"
               "  hashattack experiment bits --dataset imagenet100 --root /data/imagenet --weights ~/.cache/torch",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", choices=PRESETS, help="which experiment")
    parser.add_argument("--out", type=Path, help="run folder (default runs/PRESET)")
    add_dataset_options(parser)
    add_model_options(parser)
    sweep = parser.add_argument_group("attack and sweep")
    sweep.add_argument("--bits", type=positive_int, nargs="+",
                       help="code lengths: bits/feature sweep them (default 16 32 48 64); eps/nt/open-set take one (default 32)")
    sweep.add_argument("--eps", type=positive_float,
                       help=f"perturbation bound (default {DEFAULT_EPS} pixel on fashion-mnist, {PAPER_EPS} normalized otherwise)")
    sweep.add_argument("--eps-space", choices=("pixel", "normalized"),
                       help="space of eps: pixel on fashion-mnist, normalized (the official code's) otherwise")
    sweep.add_argument("--eps-values", type=positive_float, nargs="+",
                       help=f"eps preset: the sweep (default {' '.join(map(str, EMBEDDED_EPS_VALUES))} on fashion-mnist, "
                            f"{' '.join(map(str, PAPER_EPS_VALUES))} otherwise)")
    sweep.add_argument("--n-t", type=positive_int, default=9, help="objects voted into DHTA's anchor (default 9)")
    sweep.add_argument("--n-t-values", type=positive_int, nargs="+", help="nt preset: the sweep (default 1 3 5 ... 15)")
    sweep.add_argument("--seen-classes", type=int, nargs="+",
                       help="open-set: classes the model trains on (default: the first half, 0-4 on fashion-mnist)")
    sweep.add_argument("--steps", type=positive_int, default=2000, help="attack iterations (default 2000, as the paper)")
    sweep.add_argument("--step-size", type=positive_float, default=1.0,
                       help="l2 length of a step before the input-size scaling sqrt(D/150528) (default 1.0, official)")
    sweep.add_argument("--batch-size", type=positive_int, default=100, help="queries attacked at once (default 100)")
    sweep.add_argument("--topk", type=positive_int, help="R of MAP@R (default 5000 on nus-wide, 1000 otherwise)")
    sweep.add_argument("--zero-relevance", choices=("zero", "drop"), default="zero",
                       help="queries with no relevant item in the top R: count as 0 (default) or drop (official code)")
    run = parser.add_argument_group("run")
    run.add_argument("--queries", type=positive_int, default=100, help="queries (default 100)")
    run.add_argument("--seed", type=int, default=0, help="seed of queries, targets, anchors and noise (default 0)")
    run.add_argument("--manifest", type=Path, help="re-run exactly the queries/targets/anchors of a manifest.json")
    run.add_argument("--cache-dir", type=Path, help="trained-model cache (default $HASHATTACK_CACHE or ~/.cache/hashattack)")
    run.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    run.add_argument("--force", action="store_true", help="start sub-runs over instead of resuming them")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run_command)


def preset_config(args: argparse.Namespace):
    """The PresetConfig the options describe, with the dataset's defaults filled in."""
    from hashattack.data import default_topk
    from hashattack.errors import InputError
    from hashattack.protocol.engine import AttackSettings
    from hashattack.protocol.presets import PAPER_BITS, PAPER_N_TS, PresetConfig

    embedded = args.dataset == "fashion-mnist"
    bits = tuple(args.bits) if args.bits else None
    if args.preset in ("eps", "nt", "open-set") and bits and len(bits) != 1:
        raise InputError(f"the {args.preset} preset runs at one code length; give one --bits value, not {len(bits)}")
    eps_space = args.eps_space or ("pixel" if embedded else "normalized")
    default_eps, default_values = (DEFAULT_EPS, EMBEDDED_EPS_VALUES) if eps_space == "pixel" and embedded else (
        (PAPER_EPS, PAPER_EPS_VALUES) if eps_space == "normalized" else (8 / 255, (2 / 255, 4 / 255, 8 / 255, 16 / 255)))
    settings = AttackSettings(eps=args.eps or default_eps, eps_space=eps_space, steps=args.steps, n_t=args.n_t,
                              step_size=args.step_size,
                              batch_size=args.batch_size, topk=args.topk or default_topk(args.dataset),
                              zero_relevance=args.zero_relevance)
    architecture, model_kwargs = model_choice(args)
    return PresetConfig(
        settings=settings, architecture=architecture, model_kwargs=model_kwargs,
        train=train_config_from(args, architecture),
        bits=bits or PAPER_BITS, single_bits=bits[0] if bits else 32,
        eps_values=tuple(args.eps_values or default_values), n_t_values=tuple(args.n_t_values or PAPER_N_TS),
        seen_classes=tuple(args.seen_classes) if args.seen_classes else None,
        num_queries=args.queries, seed=args.seed, cache_dir=args.cache_dir, device=args.device,
        progress=not args.quiet, force=args.force)


def run_command(args: argparse.Namespace) -> int:
    from hashattack.protocol.presets import run_preset
    from hashattack.protocol.targets import load_manifest

    config = preset_config(args)
    dataset = open_dataset_from(args)
    manifest = None
    if args.manifest is not None:
        manifest = load_manifest(args.manifest, len(dataset.query), len(dataset.database))
    out = args.out or Path("runs") / args.preset
    started = time.perf_counter()
    summary = run_preset(args.preset, dataset, out, config, manifest)
    print()
    print(summary["caption"])
    print()
    print(summary["table"], end="")
    print(f"\n{time.perf_counter() - started:.0f} s; run folder: {out}  (manifest.json, table.md, table.csv, "
          f"preset.json, one results.json per sub-run)")
    return 0
