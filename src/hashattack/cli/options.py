"""The options every attacking command shares, and the `RunSpec` they describe.

Every option defaults to None on the parser and the spec is given only what the user set, so the
library fills in the rest (the dataclasses' defaults, and the dataset's from its registry entry
when the engine resolves the spec) and a preset or a config can tell what the user set. `--bits`,
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
from hashattack.data.registry import available_datasets, dataset_entry
from hashattack.models.acceleration import enable_tf32
from hashattack.protocol.model_sources import TrainedModel
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec
from hashattack.protocol.targets import TARGET_PROTOCOLS
from hashattack.retrieval.metrics import ZERO_RELEVANCE
from hashattack.validation import EPS_SPACES, MAX_BATCH, MAX_CLIP_FRAMES, MAX_IMAGE_SIDE, MAX_N_T, MAX_QUERIES, MAX_STEPS


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=available_datasets(),
                       help=", ".join(dataset_entry(name).summary for name in available_datasets()))
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


def by_dataset(fact) -> str:
    """A help text's default: `fact(entry)` of every registered dataset, datasets sharing a value grouped."""
    groups: dict[str, list[str]] = {}
    for name in available_datasets():
        groups.setdefault(fact(dataset_entry(name)), []).append(name)
    return "; ".join(f"{value} on {' / '.join(names)}" for value, names in groups.items())


_eps = lambda entry: f"{entry.eps:.4g} {entry.eps_space}"
_eps_sweep = lambda entry: " ".join(f"{e:.4g}" for e in entry.eps_sweep) + f" {entry.eps_space}"
_step_size = lambda entry: ("2000/steps (the paper's path length)" if entry.step_size is None
                            else f"{entry.step_size:g} (official)")
def add_attack_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("attack and evaluation")
    group.add_argument("--methods", nargs="+", choices=METHOD_ORDER,
                       help=f"methods run on the same queries and targets (default {' '.join(PAPER_METHODS)})")
    group.add_argument("--eps", type=positive_float, nargs="+",
                       help=f"perturbation bound in --eps-space units (default: {by_dataset(_eps)}); several "
                            "values: one sub-run each")
    group.add_argument("--eps-sweep", action="store_true", default=None,
                       help=f"sweep eps over the dataset's appendix Table 2 values ({by_dataset(_eps_sweep)}; "
                            "--eps given replaces it)")
    group.add_argument("--eps-space", choices=EPS_SPACES,
                       help="pixel: |x'-x| <= eps on [0,1] pixels; normalized: after the model's mean/std (official code)")
    group.add_argument("--steps", type=at_most(MAX_STEPS), nargs="+",
                       help=f"attack iterations (default: {by_dataset(lambda e: str(e.steps))})")
    group.add_argument("--step-size", type=positive_float,
                       help="l2 length of a step before the input-size scaling sqrt(D/150528) (default: "
                            f"{by_dataset(_step_size)})")
    group.add_argument("--n-t", type=at_most(MAX_N_T), nargs="+", help="objects voted into DHTA's anchor (default 9)")
    group.add_argument("--batch-size", type=at_most(MAX_BATCH), help="queries attacked per forward/backward (default 100)")
    group.add_argument("--topk", type=positive_int,
                       help=f"R of MAP@R / t-MAP@R (default: {by_dataset(lambda e: str(e.topk_for(DataSpec())))})")
    group.add_argument("--zero-relevance", choices=ZERO_RELEVANCE,
                       help="main convention of the tables (the other is shown beside it): queries with no relevant "
                            "item in the top R count as 0 (zero) or are dropped (drop, the official code's) "
                            f"(default: {by_dataset(lambda e: e.zero_relevance)})")
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


DATA_OPTIONS = ("root", "train_list", "database_list", "query_list", "lists", "train_per_class", "frames",
                "query_data", "query_split", "size", "channels", "seen_classes", "mosaics")


def given(args: argparse.Namespace, names) -> dict:
    """The options among `names` the user gave (not None), for keyword construction of a spec."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def data_spec(args: argparse.Namespace) -> DataSpec:
    """The DataSpec of the data options given (paths as text, classes as a tuple); the others keep its defaults."""
    options = {name: str(value) if isinstance(value, Path) else value
               for name, value in given(args, DATA_OPTIONS).items()}
    if "seen_classes" in options:
        options["seen_classes"] = tuple(options["seen_classes"]) or None
    return DataSpec(dataset=args.dataset, **options)


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The RunSpec of an attacking command's options: only what the user gave; the library fills in the rest
    (the engine resolves the dataset's defaults, `RunSpec.resolved`). Several values of an axis: a sweep."""
    data = data_spec(args)
    given_model = getattr(args, "checkpoint", None) is not None or getattr(args, "model", None) is not None
    bits = args.bits or [None if given_model else TrainedModel.bits]   # a given model has its own code length
    eps = args.eps or (list(data.entry.eps_sweep_in(args.eps_space)) if getattr(args, "eps_sweep", None) else [None])
    n_t, steps = args.n_t or [None], args.steps or [None]
    if args.tf32:
        enable_tf32()
    flags = {name: True for name in ("early_stop", "channels_last", "compile", "tf32", "quantize")
             if getattr(args, name, None)}
    attack = AttackSettings(**{name: value for name, value in (("eps", eps[0]), ("steps", steps[0]), ("n_t", n_t[0]))
                               if value is not None},
                            **given(args, ("eps_space", "step_size", "batch_size", "topk", "zero_relevance",
                                           "precision")), **flags)
    axes = tuple((axis, tuple(values)) for axis, values in (("bits", bits), ("eps", eps), ("n_t", n_t), ("steps", steps))
                 if len(values) > 1)
    options = given(args, ("queries", "seed", "database_codes", "database_labels", "target_protocol", "index",
                           "manifest"))
    options.update({name: str(options[name]) for name in ("manifest", "database_codes", "database_labels")
                    if name in options})
    return RunSpec(data=data, model=model_spec(args, data, bits[0]), attack=attack, axes=axes,
                   **({"methods": tuple(args.methods)} if args.methods else {}), **options,
                   controls=controls_from_args(args))


def controls_from_args(args: argparse.Namespace) -> RunControls:
    """Where and how the run runs: --out, --device, --quiet, --force, --no-figures, --export."""
    flags = {"progress": False if getattr(args, "quiet", None) else None,
             "force": True if getattr(args, "force", None) else None,
             "figures": False if getattr(args, "no_figures", None) else None,
             "export": True if getattr(args, "export", None) else None,
             "out": None if getattr(args, "out", None) is None else str(args.out),
             "device": getattr(args, "device", None)}
    return RunControls(**{name: value for name, value in flags.items() if value is not None})


__all__ = ["positive_int", "positive_float", "add_data_options", "add_model_options", "add_attack_options",
           "add_run_options", "add_spec_options", "spec_from_args", "controls_from_args", "data_spec", "given", "model_spec", "adversarial_settings", "parse_value",
           "parse_pairs"]
