"""`hashattack lists`: write the ImageNet-100 or NUS-WIDE list files from the raw dataset folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from hashattack.cli.values import path_value, positive_int, seed_value
from hashattack.data.list_files import read_names
from hashattack.data.splits import build_imagenet100_lists, build_nus_wide_lists
from hashattack.errors import InputError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "lists", help="write ImageNet-100 / NUS-WIDE list files (train.txt, database.txt, test.txt) from raw folders",
        description="Build the appendix's splits, seeded, as HashNet-format list files (paths relative to ROOT).\n"
                    "  imagenet100: ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG; 100 classes, 100 training\n"
                    "               images per class, val images as queries, train images as the database\n"
                    "  nus-wide:    ROOT holds the images; --image-list (ImageList/Imagelist.txt) and --labels-dir\n"
                    "               (Groundtruth/AllLabels); 20 most frequent concepts, 5,000 queries, 10,000 training",
        epilog="examples:\n"
               "  hashattack lists imagenet100 --root /data/imagenet\n"
               "  hashattack lists nus-wide --root /data/nus-wide/images --image-list /data/nus-wide/ImageList/Imagelist.txt "
               "--labels-dir /data/nus-wide/Groundtruth/AllLabels\n"
               "\nfile names: a name holding whitespace, a quote, a backslash or a non-printable character, or\n"
               "starting with #, is written as a JSON string (\"my photos/a.jpg\" 0 1 0); every reader of\n"
               "list files takes that form, so a list reads back whatever its names hold",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=("imagenet100", "nus-wide"))
    parser.add_argument("--root", type=Path, required=True, help="dataset root (list paths are relative to it)")
    parser.add_argument("--out", type=path_value, help="folder for the list files (default ROOT)")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--classes-file", type=Path, help="imagenet100: one wnid per line (default: 100 drawn with the seed)")
    parser.add_argument("--train-per-class", type=positive_int, default=100, help="imagenet100: training images per class")
    parser.add_argument("--image-list", type=Path, help="nus-wide: ImageList/Imagelist.txt")
    parser.add_argument("--labels-dir", type=Path, help="nus-wide: the folder of Labels_<concept>.txt files")
    parser.add_argument("--queries", type=positive_int, default=5000, help="nus-wide: queries (default 5000)")
    parser.add_argument("--train", type=positive_int, default=10000, help="nus-wide: training images (default 10000)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.dataset == "imagenet100":
        classes = None
        if args.classes_file is not None:
            classes = read_names(args.classes_file, "classes file")
        written = build_imagenet100_lists(args.root, args.out, classes, train_per_class=args.train_per_class,
                                          seed=args.seed)
    else:
        if args.image_list is None or args.labels_dir is None:
            raise InputError("nus-wide needs --image-list and --labels-dir")
        written = build_nus_wide_lists(args.root, args.image_list, args.labels_dir, args.out,
                                       num_queries=args.queries, num_train=args.train, seed=args.seed)
        print(f"{written['dropped']} images dropped (none of the {len(written['concepts'])} concepts, or missing)")
    for split in ("train", "database", "query"):
        print(f"{split:9s} {written[split]['count']:7d}  {written[split]['file']}")
    return 0
