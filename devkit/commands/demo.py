"""``snapstack demo``: the scheduled backup on the sample fleet, twice — created, then deduplicated."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from devkit.local.output import counts_line, legend, table
from devkit.local.runner import invoke, read_event
from devkit.local.session import target_from

EVENT = Path("events/timer.json")


def register(subparsers: Any) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser("demo", help="run scheduled_backup twice on the sample fleet")
    parser.add_argument("--event", type=Path, default=EVENT)
    parser.add_argument("--verbose", action="store_true", help="show the structured log lines too")
    parser.add_argument(
        "--rpo", action="store_true", help="then an RPO breach and its repair (the reconciler)"
    )
    parser.set_defaults(func=run_demo, template=Path("template.yml"), endpoint=None, fleet=None)


def run_demo(args: argparse.Namespace) -> int:
    """Two invocations of the same timer event against a fresh emulator and token table."""
    if not args.verbose:
        os.environ["SNAPSTACK_LOG_LEVEL"] = "CRITICAL"
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    event = read_event(args.event)
    with tempfile.TemporaryDirectory() as tmp, target_from(args) as (template, target, emulator):
        tokens = f"sqlite:///{tmp}/tokens.db"
        print(f"ECS emulator on {target.endpoint} with the sample fleet; token table {tokens}")
        print(f"event: {args.event} {json.dumps(json.loads(event), separators=(',', ':'))}\n")
        for run in (1, 2):
            before = emulator.calls("CreateSnapshot") if emulator else 0
            result = invoke(template, "scheduled_backup", event, target, token_table=tokens)
            if result.error or result.summary is None:
                print(result.error)
                return 2
            calls = (emulator.calls("CreateSnapshot") if emulator else 0) - before
            print(f"run {run}: {counts_line(result.summary)}  (CreateSnapshot calls: {calls})")
            print(table(result.summary))
            print(legend(result.summary) + "\n")
        if args.rpo and emulator is not None:
            from devkit.local import rpo_demo

            rpo_demo.run(template, target, emulator, tokens)
    return 0
