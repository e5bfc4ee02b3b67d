"""``snapstack local invoke FUNCTION --event FILE``: run a function of template.yml locally.

stdout holds only the result (a table, or the function's JSON summary with ``--json``); the
function's log lines and metrics go to stderr (``devkit/local/output.py``). The exit code says
how the run ended (``devkit/exitcodes.py``; README, "Local tools").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devkit.local.errors import failure
from devkit.local.output import (
    bad_input_line,
    counts_line,
    exit_code,
    function_output,
    legend,
    policies,
    policy_line,
    print_json,
    table,
)
from devkit.local.runner import invoke, read_event
from devkit.local.session import (
    LocalOptions,
    add_oss_arguments,
    add_output_arguments,
    add_target_arguments,
    load_stack,
    local_run,
)

# What the progress line counts: disks decided, or (prune) snapshot deletions.
_UNITS = {"prune": " snapshot"}


def register(subparsers: Any) -> None:
    """Add ``local invoke``."""
    local = subparsers.add_parser("local", help="run the stack's functions locally")
    verbs = local.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("invoke", help="invoke one function with an event file, as FC would")
    run.add_argument("function", help="function name in template.yml (e.g. scheduled_backup)")
    run.add_argument("--event", type=Path, required=True, help="event file; its bytes are the event")
    add_output_arguments(run)
    add_target_arguments(run)
    add_oss_arguments(run)
    run.set_defaults(func=run_invoke)
    from devkit.fc.cli import add_start_fc

    add_start_fc(verbs)


def run_invoke(args: argparse.Namespace) -> int:
    """Invoke; the function's log on stderr, the result on stdout; the exit code from the outcome."""
    options = LocalOptions.from_args(args)
    template = load_stack(options.template)
    event = read_event(args.event)
    with (
        local_run(options, template, args.function) as run,
        function_output(run.threshold, progress=args.function, unit=_UNITS.get(run.spec.trigger, " disk")),
    ):
        result = invoke(
            run.template, args.function, event, run.target, token_table=run.token_table, env=run.env
        )
    # A run the function stopped (InvocationFailed) still says what it did with each disk.
    summary = result.summary if result.summary is not None else getattr(result.exception, "summary", None)
    if summary is None:
        raise failure(result, ecs_endpoint=run.target.endpoint)
    if args.json:
        print_json(summary)
    elif summary.get("ok") and policies(summary):
        print(f"{args.function}:")
        for policy in policies(summary):
            print(f"  {policy_line(policy)}")
    elif summary.get("ok"):
        print(f"{args.function}: {counts_line(summary)}")
        if summary.get("disks"):
            print(table(summary))
        if notes := legend(summary):
            print(notes)
        for note in summary.get("notes") or []:
            print(f"note: {note}")
    else:
        print(f"{args.function}: {bad_input_line(summary)}")
    if result.incomplete and not args.quiet:
        pending = summary.get("deferred", 0) + summary.get("in_progress", 0)
        print(
            f"{pending} disk(s) not finished: FC would deliver this event again; run the command again",
            file=sys.stderr,
        )
    if result.exception is not None:
        raise failure(result, ecs_endpoint=run.target.endpoint)
    return exit_code(summary)
