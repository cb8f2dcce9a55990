"""One module per `hashattack` subcommand; each offers `add_parser(subparsers)` setting `run`."""

from hashattack.commands import demo, report, run

COMMAND_MODULES = [demo, run, report]
