"""`hashattack audit`: attack one's own hashing model on one's own images, at several ε, and report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hashattack.cli.main import positive_float, positive_int

DEFAULT_AUDIT_EPS = (2 / 255, 4 / 255, 8 / 255, 16 / 255)


def add_parser(commands) -> None:
    audit = commands.add_parser(
        "audit", help="attack your own hashing model on your own images at several eps and write the report",
        description="Load any torch.nn.Module that returns K real values per image (tanh or not) from "
                    "PACKAGE.MODULE:FACTORY and a state_dict file, encode your images (a class-per-subfolder "
                    "folder or a list file 'path 0 1 0 ...'), and run Original, Noise, P2P and DHTA on the same "
                    "queries and targets at each eps: <out>/eps-<eps>/ per run, then <out>/report.html.",
        epilog="example (a model in ./mymodel.py, build() returning the network; photos/<class>/*.jpg):\n"
               "  hashattack audit --model mymodel:build --weights weights.pt --data photos --size 64 \\\n"
               "      --eps 0.01 0.03 0.06 --steps 500 --out runs/audit\n"
               "with list files and an ImageNet-normalised model:\n"
               "  hashattack audit --model mypkg.nets:vgg_hash --model-arg bits=48 --weights vgg.pt \\\n"
               "      --data database.txt --query-data test.txt --root /data/imgs --size 224 \\\n"
               "      --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 --eps-space normalized --eps 0.032",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    model = audit.add_argument_group("model")
    model.add_argument("--model", required=True, metavar="MODULE:FACTORY",
                       help="importable factory returning the nn.Module, e.g. mymodels.hash:build")
    model.add_argument("--weights", type=Path, help="state_dict file (loaded with weights_only=True)")
    model.add_argument("--model-path", type=Path, action="append", default=[], metavar="DIR",
                       help="folder to import the model's module from (repeatable; the current folder is tried too)")
    model.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument of the factory (repeatable); VALUE read as TOML (48, 0.5, true, \"x\")")
    model.add_argument("--mean", type=float, nargs="+", help="per-channel mean the model's input is normalised with")
    model.add_argument("--std", type=float, nargs="+", help="per-channel std the model's input is normalised with")
    model.add_argument("--output", choices=("raw", "tanh"), default="raw",
                       help="raw: attack the outputs as they are (default); tanh: the model ends with tanh, undo it")
    data = audit.add_argument_group("images")
    data.add_argument("--data", type=Path, required=True,
                      help="class-per-subfolder image folder, or list file 'relative/path 0 1 0 ...' (the database)")
    data.add_argument("--query-data", type=Path,
                      help="folder or list file of the query set (default: --query-split objects drawn from --data)")
    data.add_argument("--query-split", type=positive_int,
                      help="objects of --data set aside as queries when --query-data is absent (default 10%%)")
    data.add_argument("--root", type=Path, help="folder the list files' paths are relative to (default: the list's folder)")
    data.add_argument("--size", type=positive_int, help="resize every image to SIZE x SIZE (default: keep; sizes must match)")
    data.add_argument("--channels", type=int, choices=(1, 3), default=3, help="1 = grey, 3 = RGB (default 3)")
    attack = audit.add_argument_group("attack and evaluation")
    attack.add_argument("--eps", type=positive_float, nargs="+", default=list(DEFAULT_AUDIT_EPS),
                        help="bounds to audit (default 2/255 4/255 8/255 16/255, in --eps-space units)")
    attack.add_argument("--eps-space", choices=("pixel", "normalized"), default="pixel",
                        help="pixel: |x'-x| <= eps on [0,1] pixels (default); normalized: after --mean/--std")
    attack.add_argument("--steps", type=positive_int, default=2000, help="attack iterations (default 2000)")
    attack.add_argument("--n-t", type=positive_int, default=9, help="objects voted into DHTA's anchor (default 9)")
    attack.add_argument("--batch-size", type=positive_int, default=100, help="queries per forward/backward (default 100)")
    attack.add_argument("--topk", type=positive_int, default=1000, help="R of MAP@R / t-MAP@R (default 1000)")
    attack.add_argument("--zero-relevance", choices=("zero", "drop"), default="zero",
                        help="queries with no relevant item in the top R: count as 0 (default) or drop")
    attack.add_argument("--queries", type=positive_int, default=100, help="queries attacked (default 100, at most the query set)")
    attack.add_argument("--seed", type=int, default=0, help="seed of the query split, targets, anchors and noise (default 0)")
    audit.add_argument("--out", type=Path, default=Path("runs/audit"), help="run folder (default runs/audit)")
    audit.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    audit.add_argument("--force", action="store_true", help="start over in run folders that hold another run")
    audit.add_argument("--quiet", action="store_true", help="no progress bars")
    audit.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hashattack.protocol.audit import load_user_model, run_audit
    from hashattack.cli.config import parse_override
    from hashattack.data.base import RetrievalDataset
    from hashattack.data.image_files import load_images, split_queries
    from hashattack.errors import InputError
    from hashattack.protocol.engine import AttackSettings
    from hashattack.reporting.summary import run_summary

    kwargs = dict(parse_override(text) for text in args.model_arg)
    model = load_user_model(args.model, args.weights, kwargs, [*args.model_path, Path.cwd()],
                            args.mean, args.std, args.output)
    data, classes = load_images(args.data, args.root, args.size, args.channels)
    if args.query_data is not None:
        database = data
        query, query_classes = load_images(args.query_data, args.root, args.size, args.channels)
        if query.labels.shape[1] != database.labels.shape[1] or (args.data.is_dir() and query_classes != classes):
            raise InputError(f"{args.query_data}: its classes differ from those of {args.data}")
        split = f"queries: {args.query_data}"
    else:
        count = args.query_split or max(1, len(data) // 10)
        database, query = split_queries(data, count, args.seed)
        split = f"{count} objects of {args.data} drawn with seed {args.seed}"
    if query.images.shape[1:] != database.images.shape[1:]:
        raise InputError(f"query images {tuple(query.images.shape[1:])} and database images "
                         f"{tuple(database.images.shape[1:])} differ in shape; give --size")
    dataset = RetrievalDataset(f"audit:{args.data.name}", database, database, query, classes,
                               {"database": f"{args.data} ({len(database)} objects)",
                                "query": f"{split} ({len(query)} objects)",
                                "images": f"{args.channels} channel(s), size {args.size or 'as stored'}"})
    settings = AttackSettings(eps=args.eps[0], eps_space=args.eps_space, steps=args.steps, n_t=args.n_t,
                              batch_size=args.batch_size, topk=args.topk, zero_relevance=args.zero_relevance)
    meta = {"source": f"user model {args.model}", "weights": str(args.weights) if args.weights else "(factory's own)",
            "factory_kwargs": kwargs, "output": args.output}
    if args.weights is not None:
        from hashattack.training.checkpoints import sha256_of

        meta["sha256"] = sha256_of(args.weights)  # a resumed audit refuses other weights
    started = time.perf_counter()
    records = run_audit(model, dataset, args.eps, args.out, settings, args.queries, args.seed, meta,
                        args.device, progress=not args.quiet, force=args.force)
    lines = [f"eps {r['settings']['eps']:<8g} " + "  ".join(f"{m} t-MAP {100 * r['methods'][m]['t_map']:.2f}"
                                                       for m in ("Original", "P2P", "DHTA") if m in r["methods"])
             for r in records]
    print(run_summary(args.out, "\n".join(lines), time.perf_counter() - started,
                      f"audited {args.model} ({records[0]['bits']} bits) on {records[0]['num_queries']} queries, "
                      f"benign MAP {100 * records[0]['methods']['Original']['map']:.2f}"), end="")
    return 0
