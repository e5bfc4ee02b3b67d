"""``snapstack deploy``: create or update the stack through ROS, with its events as they arrive.

Progress (each stack event) goes to stderr; the result (status and the stack's Outputs) to stdout.
Exit codes (``devkit/exitcodes.py``): 0 done (or nothing to change), 1 the stack failed or rolled
back (the failing resources and ROS's reasons are printed), 2 usage (arguments, credentials, no
template), 4 ROS refused the template or its parameters, 5 ROS could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devkit import exitcodes

#: ROS's codes for a template or parameters it refuses before starting.
BAD_TEMPLATE = frozenset({"InvalidTemplate", "StackValidationFailed", "InvalidParameter", "MissingParameter"})


def register(subparsers: Any) -> None:
    """Add ``deploy``."""
    parser = subparsers.add_parser("deploy", help="create or update the stack (ROS), wait, print its outputs")
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--template", type=Path, default=Path("packaged-template.yml"))
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter (repeatable)",
    )
    parser.add_argument("--region", default=None, help="default: $ALIBABA_CLOUD_REGION_ID")
    parser.add_argument("--no-rollback", action="store_true", help="keep what a failed create made")
    parser.set_defaults(func=run)


def print_event(event: Any) -> None:
    """One stack event, on stderr."""
    reason = f"  {event.reason}" if event.reason else ""
    print(
        f"{event.time}  {event.status:28} {event.logical_id} ({event.resource_type}){reason}", file=sys.stderr
    )


def report(result: Any, verb: str) -> int:
    """Print how the operation ended; the exit code it means."""
    if not result.changed:
        print(f"{verb}: no changes (the stack already matches)")
    elif result.ok:
        print(f"{verb}: {result.status}")
    else:
        print(f"{verb} failed: {result.status}  {result.reason}".rstrip())
        for failure in result.failures:
            print(f"  {failure.logical_id} ({failure.resource_type}): {failure.status}  {failure.reason}")
        return exitcodes.FAILED
    if result.status != "DELETE_COMPLETE":
        for key, value in result.outputs.items():
            print(f"  {key:16} {value}")
    return exitcodes.OK


def deployer_for(region: str | None, command: str) -> Any:
    """A ``Deployer`` for the environment's account; prints and returns None when it cannot."""
    from devkit.ros.client import Account, Deployer, DeployError, ros_client

    try:
        account = Account.from_env(region)
    except DeployError as exc:
        print(f"snapstack {command}: {exc.message}", file=sys.stderr)
        return None
    return Deployer(ros_client(account), account.region)


def exit_code_of(exc: Any, command: str) -> int:
    """Print a ``DeployError`` (or a transport failure) and map it to an exit code."""
    print(f"snapstack {command}: {exc}", file=sys.stderr)
    return exitcodes.BAD_INPUT if getattr(exc, "code", "") in BAD_TEMPLATE else exitcodes.TOOL_ERROR


def run(args: argparse.Namespace) -> int:
    """Create or update, wait, report."""
    from devkit.ros.client import DeployError

    parameters = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"snapstack deploy: --parameter {item!r} is not KEY=VALUE", file=sys.stderr)
            return exitcodes.USAGE
        parameters[key] = value
    if not args.template.is_file():
        print(
            f"snapstack deploy: no template at {args.template} (run `snapstack package` first)",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    deployer = deployer_for(args.region, "deploy")
    if deployer is None:
        return exitcodes.USAGE
    try:
        result = deployer.deploy(
            args.stack_name,
            args.template.read_text(encoding="utf-8"),
            parameters,
            print_event,
            disable_rollback=args.no_rollback,
        )
    except DeployError as exc:
        return exit_code_of(exc, "deploy")
    except OSError as exc:  # refused, unreachable
        return exit_code_of(exc, "deploy")
    return report(result, f"stack {args.stack_name}")
