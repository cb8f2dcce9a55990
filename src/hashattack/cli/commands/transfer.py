"""`hashattack transfer`: craft on surrogate models, score t-MAP on victim models (the surrogate x victim matrix)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hashattack.cli.config import keep_resolved_config
from hashattack.cli.options import add_attack_options, add_data_options, add_model_options, add_run_options, \
    spec_from_args
from hashattack.errors import InputError
from hashattack.protocol.transfer import run_transfer
from hashattack.protocol.transfer_spec import TransferSpec, model_from_text, models_from_text
from hashattack.reporting.transfer import transfer_summary
from hashattack.run_format import FIGURE_DIR, REPORT_HTML, TABLE_FILE, TRANSFER_FILE


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "transfer", help="craft on surrogate models, score t-MAP on victim models the attacker does not have",
        description="Attack the same queries toward the same targets (one manifest) on each surrogate, with "
                    "anchors voted from the surrogate's own database codes, then score each victim's t-MAP on "
                    "those adversarial queries with the victim's own database codes: a surrogate x victim matrix "
                    "(table.md, figures/transfer.png, report.html, transfer.json). A surrogate joined by '+' is an "
                    "ensemble whose DHTA loss sums its members' losses. A MODEL is ARCH[:KEY=VALUE,...] trained "
                    "here through the cache (keys bits, seed, epochs, lr, batch, loss; e.g. small-cnn:seed=1, "
                    "lenet:bits=16) or a checkpoint FILE.pt of `hashattack train`; --bits, --epochs, ... set "
                    "every trained model's defaults.",
        epilog="examples:\n"
               "  hashattack transfer --victims small-cnn small-cnn:seed=1 small-cnn:seed=2 lenet \\\n"
               "      --surrogates small-cnn small-cnn:seed=1 small-cnn:seed=2 lenet small-cnn:bits=16 \\\n"
               "      --leave-one-out --out runs/transfer\n"
               "  hashattack transfer --surrogates models/a.pt models/a.pt+models/b.pt --victims models/c.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_argument_group("transfer")
    group.add_argument("--victims", nargs="+", metavar="MODEL", help="models scored (default: the surrogates)")
    group.add_argument("--surrogates", nargs="+", metavar="MODEL[+MODEL...]",
                       help="models crafted on, '+' joins an ensemble (default: the victims)")
    group.add_argument("--leave-one-out", action="store_true", default=None,
                       help="add, per victim, the ensemble of every other victim (all the models but the one attacked)")
    add_data_options(parser)
    add_model_options(parser, sweep=False)
    add_attack_options(parser)
    add_run_options(parser)
    parser.set_defaults(run=run, dataset="fashion-mnist", out=Path("runs/transfer"), methods=["DHTA"])


def transfer_spec(args: argparse.Namespace) -> TransferSpec:
    """The TransferSpec of the options (the attack settings as every attacking command reads them)."""
    if not args.victims and not args.surrogates:
        raise InputError("give --victims and/or --surrogates (models: ARCH[:KEY=VALUE,...] or FILE.pt)")
    if len(args.methods) != 1:
        raise InputError(f"transfer crafts with one method, got {' '.join(args.methods)}")
    args.bits = [args.bits] if args.bits else None
    for name in ("eps", "steps", "n_t"):
        if len(getattr(args, name) or ()) > 1:
            raise InputError(f"transfer takes one --{name.replace('_', '-')} value (a sweep is not a transfer matrix)")
    base = spec_from_args(args)
    if base.index is not None:
        raise InputError("transfer scores every victim by exact ranking: --index is for run, audit, experiment, "
                         "video and robustness")
    if base.database_codes is not None:
        raise InputError("transfer scores every victim with its own database codes and crafts with each surrogate's: "
                         "it encodes the dataset's database for each model (--database-codes is for one model)")
    victims = tuple(model_from_text(v, base.model, base.data) for v in (args.victims or []))
    surrogates = tuple(models_from_text(s, base.model, base.data) for s in (args.surrogates or []))
    return TransferSpec(data=base.data, surrogates=surrogates or tuple((v,) for v in victims),
                        victims=victims or tuple(m for row in surrogates for m in row if len(row) == 1),
                        leave_one_out=bool(args.leave_one_out), method=base.methods[0], attack=base.attack,
                        queries=base.queries, seed=base.seed, manifest=base.manifest, controls=base.controls)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    started = time.perf_counter()
    spec = transfer_spec(args)
    result = run_transfer(spec)
    keep_resolved_config(args, parser)
    text = (Path(spec.controls.out) / TABLE_FILE).read_text()
    summary = "\n".join(f"  {name}: {value} % ({count} cells)" for name, value, count in transfer_summary(result)
                        if value)
    print(f"{text}\nmean t-MAP:\n{summary}\n({time.perf_counter() - started:.0f} s) run folder: {spec.controls.out}: "
          f"{TABLE_FILE}, {TRANSFER_FILE}, {FIGURE_DIR}/transfer.png, {REPORT_HTML}")
    return 0


__all__ = ["add_parser", "run", "transfer_spec"]
