"""``snapstack demo``: the scheduled backup on the sample fleet, twice — created, then deduplicated.

It exits 0 when both runs completed, whatever their disks' outcomes (the sample fleet's locked
instance fails on purpose); usage, bad-input and tool errors exit as every command does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from devkit import exitcodes
from devkit.local.errors import failure
from devkit.local.output import bad_input_line, counts_line, function_output, legend, table
from devkit.local.runner import invoke, read_event
from devkit.local.session import LocalOptions, add_template_argument, event_json, load_stack, local_run

EVENT = Path("events/timer.json")
FUNCTION = "scheduled_backup"


def register(subparsers: Any) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser("demo", help="run scheduled_backup twice on the sample fleet")
    parser.add_argument("--event", type=Path, default=EVENT, help=f"timer event (default: {EVENT})")
    parser.add_argument("--verbose", action="store_true", help="show the structured log lines (stderr)")
    parser.add_argument(
        "--rpo", action="store_true", help="then an RPO breach and its repair (the reconciler)"
    )
    add_template_argument(parser)
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Two invocations of the same timer event against a fresh emulator and token table."""
    template = load_stack(args.template)
    event = read_event(args.event)
    shown = event_json(event, args.event, f"the demo runs {FUNCTION}: give a timer event such as {EVENT}")
    with tempfile.TemporaryDirectory() as tmp:
        options = LocalOptions(
            template=args.template, token_table=f"sqlite:///{tmp}/tokens.db", quiet=not args.verbose
        )
        with local_run(options, template, FUNCTION) as run:
            emulator = run.emulator
            assert emulator is not None, "the demo always starts its own emulator"
            print(
                f"ECS emulator on {run.target.endpoint} with the sample fleet; token table {run.token_table}"
            )
            print(f"event: {args.event} {json.dumps(shown, separators=(',', ':'))}\n")
            for number in (1, 2):
                before = emulator.calls("CreateSnapshot")
                with function_output(run.threshold):
                    result = invoke(
                        run.template, FUNCTION, event, run.target, token_table=run.token_table, env=run.env
                    )
                if result.summary is None:
                    raise failure(result, ecs_endpoint=run.target.endpoint)
                if not result.summary.get("ok"):
                    print(f"{FUNCTION}: {bad_input_line(result.summary)}")
                    return exitcodes.BAD_INPUT
                calls = emulator.calls("CreateSnapshot") - before
                print(f"run {number}: {counts_line(result.summary)}  (CreateSnapshot calls: {calls})")
                print(table(result.summary))
                print(legend(result.summary) + "\n")
            if args.rpo:
                from devkit.local import rpo_demo

                rpo_demo.run(run, emulator)
    return exitcodes.OK
