"""One module per `hashattack` subcommand; each offers `add_parser(subparsers)` setting `run`."""

from hashattack.cli.commands import audit, demo, experiment, lists, report, robustness, run, serve, train, transfer, \
    video

COMMAND_MODULES = [demo, run, audit, report, experiment, train, lists, video, robustness, transfer, serve]
