"""The options every attacking command shares, and the `RunSpec` they describe.

Every option defaults to None on the parser, so the spec fills in what depends on the dataset
(`protocol.sources.defaults_for`) and a preset or a config can tell what the user set. `--bits`,
`--eps`, `--n-t` and `--steps` take several values: a sweep over them, one sub-run per value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.attacks.dhta import PRECISIONS
from hashattack.attacks.registry import METHOD_ORDER, PAPER_METHODS
from hashattack.cli.model_options import add_model_options, adversarial_settings, model_spec
from hashattack.cli.values import (at_most, device_name, parse_pairs, parse_value, path_value, positive_float, positive_int,
                                   seed_value)
from hashattack.data.image_files import CHANNELS
from hashattack.data.mosaic import DATABASE as MOSAICS
from hashattack.models.acceleration import enable_tf32
from hashattack.models.user import OUTPUTS
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.sources import EMBEDDED_EPS, PAPER_EPS, PAPER_EPS_SWEEP, defaults_for, eps_sweep_for, path_length_step_size
from hashattack.protocol.spec import DATASETS, DataSpec, RunSpec
from hashattack.protocol.targets import TARGET_PROTOCOLS
from hashattack.retrieval.metrics import ZERO_RELEVANCE
from hashattack.validation import EPS_SPACES, MAX_BATCH, MAX_CLIP_FRAMES, MAX_IMAGE_SIDE, MAX_N_T, MAX_QUERIES, MAX_STEPS


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=DATASETS,
                       help="fashion-mnist (embedded default), mosaic-fashion (its multi-label mosaics), imagenet100 / "
                            "nus-wide (list files), moving-fashion "
                            "(embedded clips), jhmdb / ucf101 (videos), images (your folder or list file)")
    group.add_argument("--data", "--root", dest="root", type=Path,
                       help="the dataset's folder: Fashion-MNIST IDX files (also mosaic-fashion's), the list files' image "
                            "root, the videos, or (images) a class-per-subfolder folder or a list file 'path 0 1 0 ...'")
    group.add_argument("--train-list", type=Path, help="imagenet100 / nus-wide: training list (default ROOT/train.txt)")
    group.add_argument("--database-list", type=Path, help="imagenet100 / nus-wide: database list (default ROOT/database.txt)")
    group.add_argument("--query-list", type=Path, help="imagenet100 / nus-wide: query list (default ROOT/test.txt)")
    group.add_argument("--lists", type=Path, help="jhmdb / ucf101: folder of train/database/query.txt (default ROOT/lists)")
    group.add_argument("--train-per-class", type=at_most(MAX_QUERIES), help="fashion-mnist: training images per class (default 2000)")
    group.add_argument("--frames", type=at_most(MAX_CLIP_FRAMES), help="moving-fashion: frames per clip (default 16)")
    group.add_argument("--mosaics", type=positive_int,
                       help="mosaic-fashion: database mosaics (default 60000; R and the training sample follow in "
                            "NUS-WIDE's proportion)")
    group.add_argument("--query-data", type=Path, help="images: folder or list file of the queries "
                                                       "(default: --query-split objects drawn from --data)")
    group.add_argument("--query-split", type=positive_int, help="images: objects set aside as queries (default 10%%)")
    group.add_argument("--size", type=at_most(MAX_IMAGE_SIDE), help="images: resize to SIZE x SIZE (default: as stored)")
    group.add_argument("--channels", type=int, choices=CHANNELS, help="images: 1 = grey, 3 = RGB (default 3)")
    group.add_argument("--seen-classes", type=int, nargs="+",
                       help="open set: the model trains on these classes only and every target is another class")
    group.add_argument("--database-codes", type=Path, metavar="CODES.npy",
                       help="search a stored database instead of encoding the dataset's: its codes (N, K), +-1 or 0/1 "
                            "(needs --database-labels; queries still come from the dataset)")
    group.add_argument("--database-labels", type=Path, metavar="LABELS.npy",
                       help="the stored database's labels: (N,) class indices or (N, C) 0/1 vectors")


def add_attack_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("attack and evaluation")
    group.add_argument("--methods", nargs="+", choices=METHOD_ORDER,
                       help=f"methods run on the same queries and targets (default {' '.join(PAPER_METHODS)})")
    group.add_argument("--eps", type=positive_float, nargs="+",
                       help=f"perturbation bound in --eps-space units (default {EMBEDDED_EPS} pixel on the embedded "
                            f"images, 0.1 pixel on the embedded clips, {PAPER_EPS} normalized on paper datasets, "
                            f"8/255 pixel on your images); several values: one sub-run each")
    group.add_argument("--eps-sweep", action="store_true", default=None,
                       help="sweep eps over the dataset's appendix Table 2 values: "
                            f"{' '.join(f'{e:g}' for e in PAPER_EPS_SWEEP)} normalized on paper datasets, "
                            "0.02 0.05 0.1 0.15 0.2 pixel on the embedded images and clips, 1 2 4 8 16 /255 pixel "
                            "on your images (--eps given replaces it)")
    group.add_argument("--eps-space", choices=EPS_SPACES,
                       help="pixel: |x'-x| <= eps on [0,1] pixels; normalized: after the model's mean/std (official code)")
    group.add_argument("--steps", type=at_most(MAX_STEPS), nargs="+",
                       help="attack iterations (default 2000 as the paper; 200 on the embedded clips)")
    group.add_argument("--step-size", type=positive_float,
                       help="l2 length of a step before the input-size scaling sqrt(D/150528) (default 1.0, official; "
                            "2000/steps on the embedded clips: the paper's path length)")
    group.add_argument("--n-t", type=at_most(MAX_N_T), nargs="+", help="objects voted into DHTA's anchor (default 9)")
    group.add_argument("--batch-size", type=at_most(MAX_BATCH), help="queries attacked per forward/backward (default 100)")
    group.add_argument("--topk", type=positive_int,
                       help="R of MAP@R / t-MAP@R (default 5000 on nus-wide, 1549 on mosaic-fashion, 1000 otherwise)")
    group.add_argument("--zero-relevance", choices=ZERO_RELEVANCE,
                       help="main convention of the tables (the other is shown beside it): queries with no relevant "
                            "item in the top R count as 0 (default on the embedded data) or are dropped (the "
                            "official code's; default on paper datasets)")
    group.add_argument("--target-protocol", choices=TARGET_PROTOCOLS,
                       help="paired (default): one target per query for every n_t, drawn among label vectors with "
                            "more than the largest n_t items, so methods compare on identical targets; official: "
                            "each n_t draws among label vectors with more than its own n_t items (docs/conventions.md)")
    group.add_argument("--index", metavar="KIND[:OPTIONS]",
                       help="score t-MAP / MAP on what this search engine returns instead of exact ranking: exact, "
                            "faiss, faiss-ivf:nlist=256,nprobe=8, hnsw:M=32,ef=64, faiss-mih, usearch, sqlite-vec, "
                            "lancedb, pgvector (docs/engines.md)")
    group.add_argument("--quantize", action="store_true", default=None,
                       help="end every attack on the 8-bit pixel grid inside the eps ball (what a PNG stores)")
    speed = parser.add_argument_group("speed (same method, faster; see docs/speed.md)")
    speed.add_argument("--early-stop", action="store_true", default=None,
                       help="stop attacking a query once its code equals its anchor")
    speed.add_argument("--precision", choices=PRECISIONS, help="bf16: forward/backward under bfloat16 autocast")
    speed.add_argument("--channels-last", action="store_true", default=None, help="channels-last memory format")
    speed.add_argument("--compile", action="store_true", default=None, help="run the model through torch.compile")
    speed.add_argument("--tf32", action="store_true", default=None, help="TF32 matmuls and convolutions (Ampere+ GPUs)")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--queries", type=at_most(MAX_QUERIES), help="queries drawn from the query set (default 100)")
    group.add_argument("--seed", type=seed_value,
                       help="seed of queries, targets, anchors, noise and splits, 0 .. 2**32-1 (default 0)")
    group.add_argument("--manifest", type=Path, help="re-run exactly the queries/targets/anchors of a manifest.json")
    group.add_argument("--out", type=path_value, help="run folder")
    group.add_argument("--device", type=device_name, help="torch device: cpu, cuda, cuda:N or mps (default cpu)")
    group.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    group.add_argument("--force", action="store_true", default=None,
                       help="start the run folder over; without it a killed run resumes after its last finished batch, "
                            "and a folder holding a run with other settings is refused")
    group.add_argument("--no-figures", action="store_true", default=None, help="skip curves, examples and figures")
    group.add_argument("--export", action="store_true", default=None,
                       help="write every adversarial query as a lossless 8-bit PNG (and its amplified perturbation) "
                            "under OUT/export/METHOD/, named after its source file, and score the PNGs read back")


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """Every option of an attacking command."""
    add_data_options(parser)
    add_model_options(parser)
    add_attack_options(parser)
    add_run_options(parser)


def data_spec(args: argparse.Namespace) -> DataSpec:
    text = lambda value: None if value is None else str(value)
    return DataSpec(args.dataset, text(args.root), text(args.train_list), text(args.database_list),
                    text(args.query_list), text(getattr(args, "lists", None)), args.train_per_class or 2000,
                    getattr(args, "frames", None) or 16, text(getattr(args, "query_data", None)),
                    getattr(args, "query_split", None), getattr(args, "size", None), getattr(args, "channels", None) or 3,
                    tuple(args.seen_classes) if getattr(args, "seen_classes", None) else None,
                    getattr(args, "mosaics", None) or MOSAICS)


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The RunSpec of an attacking command's options, with the dataset's defaults filled in."""
    data = data_spec(args)
    defaults = defaults_for(data.dataset, data.mosaics)
    eps_space = args.eps_space or defaults["eps_space"]
    default_eps = defaults["eps"] if eps_space == defaults["eps_space"] else (
        PAPER_EPS if eps_space == "normalized" else 8 / 255)
    given_model = getattr(args, "checkpoint", None) is not None or getattr(args, "model", None) is not None
    bits = args.bits or [None if given_model else 32]   # a given model has its own code length
    eps = args.eps or (list(eps_sweep_for(data.dataset, eps_space)) if getattr(args, "eps_sweep", None)
                       else [default_eps])
    n_t = args.n_t or [9]
    steps = args.steps or [defaults["steps"]]
    step_size = args.step_size or (path_length_step_size(steps[0]) if data.dataset == "moving-fashion" else 1.0)
    if args.tf32:
        enable_tf32()
    attack = AttackSettings(eps=eps[0], eps_space=eps_space, steps=steps[0], n_t=n_t[0], step_size=step_size,
                            batch_size=args.batch_size or 100, topk=args.topk or defaults["topk"],
                            zero_relevance=args.zero_relevance or defaults["zero_relevance"],
                            early_stop=bool(args.early_stop),
                            precision=args.precision or "fp32", channels_last=bool(args.channels_last),
                            compile=bool(args.compile), tf32=bool(args.tf32), quantize=bool(getattr(args, "quantize", None)))
    axes = tuple((axis, tuple(values)) for axis, values in (("bits", bits), ("eps", eps), ("n_t", n_t), ("steps", steps))
                 if len(values) > 1)
    return RunSpec(data=data, model=model_spec(args, data, bits[0]), methods=tuple(args.methods or PAPER_METHODS),
                   attack=attack, queries=args.queries or 100, seed=args.seed if args.seed is not None else 0,
                   manifest=None if args.manifest is None else str(args.manifest), out=str(args.out), axes=axes,
                   device=args.device or "cpu", progress=not args.quiet, force=bool(args.force),
                   figures=not args.no_figures, export=bool(getattr(args, "export", None)),
                   database_codes=_text(getattr(args, "database_codes", None)),
                   database_labels=_text(getattr(args, "database_labels", None)),
                   target_protocol=getattr(args, "target_protocol", None) or "paired",
                   index=getattr(args, "index", None))


def _text(value) -> str | None:
    return None if value is None else str(value)


__all__ = ["positive_int", "positive_float", "add_data_options", "add_model_options", "add_attack_options",
           "add_run_options", "add_spec_options", "spec_from_args", "data_spec", "model_spec", "adversarial_settings", "parse_value",
           "parse_pairs"]
