"""`hashattack video`: DHTA and its baselines against video hashing models (appendix B/C, Tables 1-3, Fig. 1)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hashattack.cli.main import add_attack_options, positive_float, positive_int

PRESETS = ("single", "bits", "eps")
DATASETS = ("moving-fashion", "jhmdb", "ucf101")


def add_parser(commands) -> None:
    from hashattack.protocol.video import EMBEDDED_EPS, EMBEDDED_STEPS

    video = commands.add_parser(
        "video", help="attack a video hashing model (embedded Moving Fashion-MNIST, JHMDB or UCF-101)",
        description="Train (or reuse) a video hashing model (frozen frame encoder + LSTM + hash layer, Deep Video "
                    "Hashing objective), run Original, Noise, P2P and DHTA on the same queries and targets, and write "
                    "the tables and appendix Fig. 1 (frames.png) into the run folder. Presets: single (one code "
                    "length), bits (16/32/48/64 bits, Table 1 layout), eps (DHTA t-MAP per eps at 32 bits, Table 2).",
        epilog="examples:\n"
               "  hashattack video --bits 32 --queries 100 --out runs/video\n"
               "  hashattack video bits --out runs/video-bits\n"
               "  hashattack video eps --dataset jhmdb --root JHMDB/frames --weights ~/.cache/torch/hub/checkpoints "
               "--eps-space normalized --eps-list 0.01 0.02 0.03 0.04 0.05 --steps 2000",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    video.add_argument("preset", nargs="?", choices=PRESETS, default="single", help="what to run (default single)")
    video.add_argument("--dataset", choices=DATASETS, default="moving-fashion",
                       help="moving-fashion (embedded, derived from Fashion-MNIST; default), jhmdb or ucf101 (need --root)")
    video.add_argument("--root", type=Path, help="JHMDB / UCF-101 root: <root>/<class>/<video folder or file>")
    video.add_argument("--lists", type=Path, help="folder of train/database/query.txt list files (default <root>/lists; "
                                                  "made with the appendix C split when absent)")
    video.add_argument("--weights", type=Path, help="torchvision's ImageNet AlexNet weights file or the folder holding it "
                                                    "(JHMDB / UCF-101)")
    video.add_argument("--frames", type=positive_int, default=16, help="frames per embedded clip (default 16)")
    video.add_argument("--bits", type=positive_int, default=32, help="code length K of single and eps (default 32)")
    video.add_argument("--eps-list", type=positive_float, nargs="+", help="eps values of the eps preset "
                       "(default 0.02 0.05 0.1 0.15 0.2 embedded, 0.01 .. 0.05 paper datasets)")
    video.add_argument("--out", type=Path, default=Path("runs/video"), help="run folder (default runs/video)")
    video.add_argument("--queries", type=positive_int, default=100, help="queries drawn from the query set (default 100)")
    video.add_argument("--seed", type=int, default=0, help="seed of queries, targets, anchors, noise and splits (default 0)")
    video.add_argument("--manifest", type=Path, help="re-run exactly the queries/targets/anchors of a manifest.json")
    video.add_argument("--data", type=Path, help="Fashion-MNIST folder for the embedded clips (default: the Debian package's)")
    video.add_argument("--epochs", type=positive_int, help="training epochs (default 50)")
    video.add_argument("--cache-dir", type=Path, help="trained-model cache (default $HASHATTACK_CACHE or ~/.cache/hashattack)")
    video.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    video.add_argument("--quiet", action="store_true", help="no progress bars")
    video.add_argument("--no-figure", action="store_true", help="skip frames.png")
    video.add_argument("--force", action="store_true",
                       help="start over in a run folder that holds a run with other settings")
    video.add_argument("--step-size", type=positive_float,
                       help="DHTA/P2P step length factor (default 2000/--steps: the total path length of the paper's "
                            "2000 unit steps; exactly 1.0 at 2000 steps)")
    add_attack_options(video)
    video.set_defaults(eps=EMBEDDED_EPS, steps=EMBEDDED_STEPS, run=run)
    for action in video._actions:
        if action.dest == "eps":
            action.help = f"perturbation bound (default {EMBEDDED_EPS}, in --eps-space units)"
        if action.dest == "steps":
            action.help = f"attack iterations (default {EMBEDDED_STEPS}; the paper uses 2000)"


def run(args: argparse.Namespace) -> int:
    from hashattack.errors import InputError
    from hashattack.protocol.engine import AttackSettings
    from hashattack.protocol.targets import load_manifest
    from hashattack.protocol import video as ve

    progress = not args.quiet
    if args.dataset == "moving-fashion":
        setup = ve.embedded_setup(args.data, frames=args.frames, epochs=args.epochs or ve.EMBEDDED_EPOCHS,
                                  cache_dir=args.cache_dir, progress=progress)
        eps_list = args.eps_list or ve.EMBEDDED_EPS_LIST
    else:
        if args.root is None or args.weights is None:
            raise InputError(f"--dataset {args.dataset} needs --root (the videos) and --weights (ImageNet AlexNet weights)")
        setup = ve.paper_setup(args.dataset, args.root, args.weights, args.lists, epochs=args.epochs or ve.PAPER_EPOCHS,
                               seed=args.seed)
        eps_list = args.eps_list or ve.PAPER_EPS
    step_size = args.step_size or ve.path_length_step_size(args.steps)
    settings = AttackSettings(eps=args.eps, eps_space=args.eps_space, steps=args.steps, n_t=args.n_t,
                              step_size=step_size, batch_size=args.batch_size, topk=args.topk,
                              zero_relevance=args.zero_relevance)
    manifest = None
    if args.manifest is not None:
        manifest = load_manifest(args.manifest, len(setup.dataset.query), len(setup.dataset.database))
    common = dict(num_queries=args.queries, seed=args.seed, cache_dir=args.cache_dir, device=args.device,
                  progress=progress, figure=not args.no_figure, force=args.force)
    started = time.perf_counter()
    if args.preset == "single":
        record = ve.run_video(setup, args.bits, settings, args.out, manifest=manifest, **common)
        table = record["table"]
    elif args.preset == "bits":
        table, _ = ve.bits_preset(setup, settings, args.out, manifest=manifest, **common)
    else:
        table, _ = ve.eps_preset(setup, settings, args.out, eps_list, bits=args.bits, manifest=manifest, **common)
    print()
    print(table, end="")
    print(f"\n{setup.dataset.name}, {setup.architecture}, eps {settings.eps} ({settings.eps_space}), {settings.steps} steps "
          f"of size {settings.step_size:g}; "
          f"{time.perf_counter() - started:.0f} s")
    print(f"run folder: {args.out}")
    return 0
