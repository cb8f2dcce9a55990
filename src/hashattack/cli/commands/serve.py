"""`hashattack serve`: a search service over a model and an index, on a loopback address."""

from __future__ import annotations

import argparse

from hashattack.cli.options import add_data_options, add_model_options, data_spec, model_spec
from hashattack.cli.values import device_name, positive_int
from hashattack.protocol.service import MAX_UPLOAD, check_loopback, check_packages, open_service, serve
from hashattack.protocol.settings import AttackSettings
from hashattack.retrieval.engines import parse_index


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "serve", help="run a search service (POST /search an image -> top-k ids and labels) on 127.0.0.1",
        description="Hold a hashing model and an index over its database codes and answer POST /search (one "
                    "PNG or JPEG image, Content-Type image/png or image/jpeg) with JSON {ids, labels}: the top "
                    "--topk database items. Bad images, oversized uploads and other content types get a 4xx "
                    "answer with one line. Listens on a loopback address only.",
        epilog="example: hashattack serve --checkpoint models/fmnist-32.pt --dataset fashion-mnist "
               "--index faiss-hnsw:M=32 --port 8750\n"
               "then:    hashattack audit --service http://127.0.0.1:8750 --surrogate small-cnn "
               "--dataset fashion-mnist --out runs/blackbox",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser)
    add_model_options(parser)
    group = parser.add_argument_group("service")
    group.add_argument("--index", default="exact", metavar="KIND[:OPTIONS]",
                       help="the search engine (default exact; docs/engines.md)")
    group.add_argument("--topk", type=positive_int, help="items per answer (default: the dataset's R, 1000)")
    group.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    group.add_argument("--port", type=positive_int, default=8750, help="port (default 8750)")
    group.add_argument("--max-upload", type=positive_int, default=MAX_UPLOAD,
                       help=f"largest image upload in bytes (default {MAX_UPLOAD})")
    group.add_argument("--device", type=device_name, help="torch device of the model (default cpu)")
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run, dataset="fashion-mnist")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    host = check_loopback(args.host)
    check_packages()
    index = parse_index(args.index).text
    data = data_spec(args)
    given = getattr(args, "checkpoint", None) is not None or getattr(args, "model", None) is not None
    bits = args.bits[0] if args.bits else (None if given else 32)
    service = open_service(data, model_spec(args, data, bits), index,
                           AttackSettings(topk=args.topk).resolved(data).topk, args.max_upload,
                           args.device or "cpu", _text(args.database_codes), _text(args.database_labels),
                           progress=not args.quiet)
    print(f"hashattack serve: {index} over {service.index.size} codes; POST http://{host}:{args.port}/search",
          flush=True)
    try:
        serve(service, host, args.port)
    finally:
        service.index.close()
    return 0


def _text(value) -> str | None:
    return None if value is None else str(value)


__all__ = ["add_parser", "run"]
