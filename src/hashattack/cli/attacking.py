"""The body every attacking command shares: options -> spec -> engine -> summary on screen."""

from __future__ import annotations

import argparse
import time

from hashattack.cli.config import keep_resolved_config
from hashattack.cli.options import spec_from_args
from hashattack.protocol import distributed
from hashattack.protocol.engine import run as run_spec
from hashattack.protocol.spec import RunSpec
from hashattack.reporting.report import write_report
from hashattack.reporting.summary import run_summary


def run_attack_command(args: argparse.Namespace, parser: argparse.ArgumentParser, spec: RunSpec | None = None) -> int:
    """Run the spec the options describe (or `spec`), keep config.resolved.toml, print the summary."""
    spec = (spec or spec_from_args(args)).resolved()   # the settings it runs with, shown below
    started = time.perf_counter()
    with distributed.fail_together():   # under torchrun: one rank's failure stops every rank
        result = run_spec(spec)
    main = distributed.is_main()
    distributed.shutdown()
    if not main:   # under torchrun only rank 0 reports
        return 0
    if keep_resolved_config(args, parser) is not None:
        write_report(spec.controls.out, run_reports=False)   # the report lists config.resolved.toml among its files
    settings = spec.attack
    if spec.axes:
        table = result.get("table_text", "")
        note = f"sweep over {', '.join(result['axes'])}: {len(result['runs'])} runs on {result['num_queries']} queries"
    else:
        table = result["table"]
        timing = result["timing"]
        resumed = (f"; resumed: {timing['batches_reused']} finished batches reused, "
                   f"{timing['batches_attacked']} attacked now" if timing["batches_reused"] else "")
        note = (f"{result['num_queries']} queries, eps {settings.eps} ({settings.eps_space}), "
                f"{result['conventions']['map']}, zero-relevance: {settings.zero_relevance}{resumed}")
    if spec.controls.progress:
        print()
    print(run_summary(spec.controls.out, table, time.perf_counter() - started, note), end="")
    return 0


__all__ = ["run_attack_command"]
