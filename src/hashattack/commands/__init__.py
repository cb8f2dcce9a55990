"""One module per `hashattack` subcommand; each offers `add_parser(subparsers)` setting `run`."""

from hashattack.commands import audit, demo, report, run, video

COMMAND_MODULES = [demo, run, audit, report, video]
