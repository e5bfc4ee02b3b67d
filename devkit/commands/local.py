"""``snapstack local invoke FUNCTION --event FILE``: run a function of template.yml locally."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devkit.local.output import counts_line, table
from devkit.local.runner import invoke, read_event
from devkit.local.session import add_target_arguments, target_from


def register(subparsers: Any) -> None:
    """Add ``local invoke``."""
    local = subparsers.add_parser("local", help="run the stack's functions locally")
    verbs = local.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("invoke", help="invoke one function with an event file, as FC would")
    run.add_argument("function", help="function name in template.yml (e.g. scheduled_backup)")
    run.add_argument("--event", type=Path, required=True, help="event file; its bytes are the event")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_target_arguments(run)
    run.set_defaults(func=run_invoke)
    from devkit.fc.cli import add_start_fc

    add_start_fc(verbs)


def run_invoke(args: argparse.Namespace) -> int:
    """Invoke, print the logs (as the handler writes them) and the summary."""
    event = read_event(args.event)
    with target_from(args) as (template, target, _):
        result = invoke(template, args.function, event, target, token_table=args.token_table)
    if result.error:
        print(result.error, file=sys.stderr)
        return 2
    summary = result.summary or {}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"\n{args.function}: {counts_line(summary) if summary.get('ok') else 'bad input'}")
        if summary.get("ok"):
            print(table(summary))
        else:
            print(json.dumps(summary.get("error"), indent=2))
    if result.incomplete:
        print("some disks are not finished: FC would deliver this event again", file=sys.stderr)
        return 3
    return 0 if summary.get("ok") else 1
