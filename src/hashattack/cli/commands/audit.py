"""`hashattack audit`: attack one's own hashing model on one's own images, at several ε, and report."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.cli.attacking import run_attack_command
from hashattack.cli.options import add_spec_options, spec_from_args
from hashattack.errors import InputError
from hashattack.protocol.black_box import black_box_audit
from hashattack.protocol.transfer_spec import model_from_text
from hashattack.run_format import AUDIT_FILE, MANIFEST_FILE, TABLE_FILE

DEFAULT_AUDIT_EPS = [2 / 255, 4 / 255, 8 / 255, 16 / 255]


def add_parser(commands) -> None:
    audit = commands.add_parser(
        "audit", help="attack your own hashing model on your own images at several eps and write the report",
        description="Load any torch.nn.Module that returns K real values per image (tanh or not) from "
                    "PACKAGE.MODULE:FACTORY and a state_dict file (or a checkpoint of `hashattack train`), encode "
                    "your images (a class-per-subfolder folder or a list file 'path 0 1 0 ...'), and run Original, "
                    "Noise, P2P and DHTA on the same queries and targets at each eps (default 2/255 4/255 8/255 "
                    "16/255): <out>/eps-<eps>/ per run, then <out>/report.html.",
        epilog="example (a model in ./mymodel.py, build() returning the network; photos/<class>/*.jpg):\n"
               "  hashattack audit --model mymodel:build --weights weights.pt --data photos --size 64 \\\n"
               "      --eps 0.01 0.03 0.06 --steps 500 --out runs/audit\n"
               "with list files and an ImageNet-normalised model:\n"
               "  hashattack audit --model mypkg.nets:vgg_hash --model-arg bits=48 --weights vgg.pt \\\n"
               "      --data database.txt --query-data test.txt --size 224 \\\n"
               "      --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 --eps-space normalized --eps 0.032\n"
               "a model trained by `hashattack train`:\n"
               "  hashattack audit --checkpoint models/fmnist-32.pt --dataset fashion-mnist --eps 0.1 0.2\n"
               "black-box, through a search service (`hashattack serve`), crafting on a surrogate you own:\n"
               "  hashattack audit --service http://127.0.0.1:8750 --surrogate small-cnn --dataset fashion-mnist",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_options(audit)
    service = audit.add_argument_group("black-box audit through a search service (hashattack serve)")
    service.add_argument("--service", metavar="URL",
                         help="the service's http://127.0.0.1:PORT (loopback only): DHTA is crafted on --surrogate "
                              "and scored from the service's answers alone")
    service.add_argument("--surrogate", metavar="MODEL",
                         help="the model the attack is crafted on: ARCH[:KEY=VALUE,...] trained here or FILE.pt")
    audit.set_defaults(run=run, dataset="images", out=Path("runs/audit"))


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.service is not None or args.surrogate is not None:
        return run_black_box(args)
    if args.model is None and args.checkpoint is None:
        raise InputError("audit attacks your model: give --model MODULE:FACTORY (with --weights) or --checkpoint FILE")
    if args.eps is None and (args.eps_space in (None, "pixel")):
        args.eps = list(DEFAULT_AUDIT_EPS)
    return run_attack_command(args, parser, spec_from_args(args))


def run_black_box(args: argparse.Namespace) -> int:
    """`audit --service URL --surrogate MODEL`: one eps, DHTA, t-MAP from the service's answers."""
    if args.service is None or args.surrogate is None:
        raise InputError("a black-box audit needs both --service URL and --surrogate MODEL")
    if args.model is not None or args.checkpoint is not None or args.index is not None:
        raise InputError("a black-box audit has only the service: --model / --checkpoint / --index are the "
                         "white-box audit's (give the surrogate with --surrogate)")
    if len(args.eps or ()) > 1 or len(args.steps or ()) > 1 or len(args.n_t or ()) > 1 or len(args.bits or ()) > 1:
        raise InputError("a black-box audit takes one --eps, --steps, --n-t and --bits value")
    if args.out == Path("runs/audit"):
        args.out = Path("runs/audit-service")
    spec = spec_from_args(args)
    record = black_box_audit(spec, model_from_text(args.surrogate, spec.model, spec.data), args.service)
    print(f"{(Path(spec.controls.out) / TABLE_FILE).read_text()}\n{record['queries_sent']} HTTP queries in "
          f"{record['seconds']:.0f} s; run folder: {spec.controls.out}: {AUDIT_FILE}, {MANIFEST_FILE}, {TABLE_FILE}")
    return 0
