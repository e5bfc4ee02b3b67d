"""``snapstack destroy``: delete the stack through ROS and wait (events on stderr, as deploy).

Exit codes: 0 deleted (or there was no such stack), 1 the deletion failed, 2 usage, 5 ROS could
not be reached.
"""

from __future__ import annotations

import argparse
from typing import Any

from devkit import exitcodes
from devkit.commands.deploy import deployer_for, exit_code_of, print_event, report


def register(subparsers: Any) -> None:
    """Add ``destroy``."""
    parser = subparsers.add_parser("destroy", help="delete the stack (ROS) and wait")
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--region", default=None, help="default: $ALIBABA_CLOUD_REGION_ID")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Delete, wait, report."""
    from devkit.ros.client import DeployError

    deployer = deployer_for(args.region, "destroy")
    if deployer is None:
        return exitcodes.USAGE
    try:
        result = deployer.destroy(args.stack_name, print_event)
    except (DeployError, OSError) as exc:
        return exit_code_of(exc, "destroy")
    if result is None:
        print(f"stack {args.stack_name}: no such stack")
        return exitcodes.OK
    return report(result, f"stack {args.stack_name}")
