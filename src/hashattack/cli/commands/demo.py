"""`hashattack demo`: the embedded end-to-end run on Fashion-MNIST (the README's `make demo`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hashattack.cli.main import add_attack_options, add_run_options, add_speed_options, positive_int, speed_settings


def add_parser(commands) -> None:
    demo = commands.add_parser(
        "demo", help="train the default model on Fashion-MNIST, attack it, print the t-MAP/MAP table",
        description="Train (or reuse) the small CNN hashing model on Fashion-MNIST, run Original, Noise, "
                    "P2P and DHTA on the same queries and targets, and print the paper's Table 1 layout.",
        epilog="example: hashattack demo --bits 32 --queries 100 --eps 0.2 --out runs/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--bits", type=positive_int, default=32, help="code length K (default 32)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    add_attack_options(demo)
    add_run_options(demo)
    add_speed_options(demo)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hashattack.protocol import distributed
    from hashattack.data import fashion_mnist_retrieval
    from hashattack.protocol.engine import AttackSettings, run_experiment
    from hashattack.protocol.targets import load_manifest
    from hashattack.training.loop import TrainConfig

    settings = AttackSettings(eps=args.eps, eps_space=args.eps_space, steps=args.steps, n_t=args.n_t,
                              batch_size=args.batch_size, topk=args.topk, zero_relevance=args.zero_relevance,
                              **speed_settings(args))
    dataset = fashion_mnist_retrieval(args.data, train_per_class=args.train_per_class)
    manifest = None
    if args.manifest is not None:
        manifest = load_manifest(args.manifest, len(dataset.query), len(dataset.database))
    started = time.perf_counter()
    record = run_experiment(dataset, args.bits, settings, args.out, num_queries=args.queries, seed=args.seed,
                            train_config=TrainConfig(epochs=args.epochs), manifest=manifest,
                            cache_dir=args.cache_dir, device=args.device, progress=not args.quiet,
                            force=args.force)
    main = distributed.is_main()
    distributed.shutdown()
    if not main:   # under torchrun only rank 0 reports
        return 0
    from hashattack.reporting.summary import run_summary

    timing = record["timing"]
    resumed = (f"; resumed: {timing['batches_reused']} finished batches reused, {timing['batches_attacked']} attacked now"
               if timing["batches_reused"] else "")
    print()
    print(run_summary(args.out, record["table"], time.perf_counter() - started,
                      f"{record['num_queries']} queries, eps {settings.eps} ({settings.eps_space}), "
                      f"{record['conventions']['map']}, zero-relevance: {settings.zero_relevance}{resumed}"), end="")
    return 0
