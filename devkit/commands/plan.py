"""``snapstack plan --event FILE``: which disks would be snapshotted and why; no CreateSnapshot."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from devkit.local.runner import local_env, make_context, overlay_env, read_event
from devkit.local.session import HANDLER_MODULES, add_target_arguments, target_from


def register(subparsers: Any) -> None:
    """Add ``plan``."""
    parser = subparsers.add_parser("plan", help="show what an event would snapshot, without snapshotting")
    parser.add_argument("--event", type=Path, required=True)
    parser.add_argument("--function", default="scheduled_backup", help="function in template.yml")
    add_target_arguments(parser)
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """Decode, validate and resolve targets (DescribeDisks only), then print the plan."""
    from snapstack.handlers.runtime import prepare

    event = read_event(args.event)
    with target_from(args) as (template, target, _):
        spec = template.function(args.function)
        module = importlib.import_module(HANDLER_MODULES[spec.trigger])
        with overlay_env(local_env(spec, target, args.token_table)):
            _, plan = prepare(
                event,
                make_context(template, spec, target),
                trigger=module.TRIGGER,
                function_dir=spec.source,
                planner=module.plan,
            )
    if isinstance(plan, dict):
        print(json.dumps(plan["error"], indent=2))
        return 1
    print(f"policy {plan.policy.name}: {len(plan.intents)} disk(s) to snapshot " + json.dumps(plan.labels))
    for intent in plan.intents:
        name = intent.request.snapshot_name
        print(f"  {intent.disk_id:<22} {intent.instance_id or '-':<14} {name}  token={intent.token}")
    for result in plan.results:
        print(f"  {result.disk_id:<22} not snapshotted: {result.error_code} {result.message or ''}")
    for note in plan.notes:
        print(f"  note: {note}")
    return 0
