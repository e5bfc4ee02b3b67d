"""``snapstack plan --event FILE``: per disk, what the next invocation would do; no CreateSnapshot.

The function decodes and plans the event exactly as ``local invoke`` would (DescribeDisks and
DescribeInstances only), then each planned disk's token is read from the token table
(``TokenTable.get``) to tell what the next run would do with it:

- ``create``: no record, a retryable failure, or a claim (or a sent request) whose lease has
  expired; when a request may already have reached ECS, the next run looks the slot up first;
- ``already done``: a snapshot is recorded for the slot;
- ``in progress``: another invocation holds the slot's lease (claimed, or its request sent);
- ``failed earlier``: a failure that is not retried is recorded;
- ``denied``, ``will fail``, ``skip``: decided by the plan itself (allow-list, request rules);
- ``recorded``: a record in a state this tool does not know; the next run decides.
"""

from __future__ import annotations

import argparse
import datetime
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit import exitcodes
from devkit.local.errors import ToolError, explain
from devkit.local.output import aligned, bad_input_line, function_output, print_json, with_progress
from devkit.local.runner import local_env, make_context, overlay_env, read_event
from devkit.local.session import (
    LocalOptions,
    add_oss_arguments,
    add_output_arguments,
    add_target_arguments,
    handler_module,
    load_stack,
    local_run,
)

if TYPE_CHECKING:
    from snapstack.execute import DiskResult, Intent
    from snapstack.handlers.runtime import Plan
    from snapstack.tokens import TokenRecord

CREATE, DONE, IN_PROGRESS, FAILED_EARLIER = "create", "already_done", "in_progress", "failed_earlier"
DENIED, WILL_FAIL, SKIP, RECORDED = "denied", "will_fail", "skip", "recorded"
# Token states in which an owner holds a lease, and how the plan words them.
LEASED = {"claimed": ("claimed", "claim"), "sent": ("sent to ECS", "sent request")}
ACTIONS = (CREATE, DONE, IN_PROGRESS, FAILED_EARLIER, DENIED, WILL_FAIL, SKIP, RECORDED)


def register(subparsers: Any) -> None:
    """Add ``plan``."""
    parser = subparsers.add_parser(
        "plan", help="show per disk what the next invocation would do (reads the token table)"
    )
    parser.add_argument("--event", type=Path, required=True, help="event file; its bytes are the event")
    parser.add_argument("--function", default="scheduled_backup", help="function in template.yml")
    add_output_arguments(parser)
    add_target_arguments(parser)
    add_oss_arguments(parser)
    parser.set_defaults(func=run_plan)


@dataclass(frozen=True)
class NextRun:
    """One disk's line of the plan."""

    disk_id: str
    instance_id: str | None
    next: str  # one of the actions above
    detail: str  # the snapshot name to create, the snapshot id made, the error code...
    token: str | None = None  # the slot's ClientToken (``snapstack tokens show TOKEN``)
    state: str | None = None  # the token record's state, when there is one


def run_plan(args: argparse.Namespace) -> int:
    """Plan the event as the function would, then read each disk's token; print the result."""
    from snapstack.handlers.runtime import prepare

    options = LocalOptions.from_args(args)
    template = load_stack(options.template)
    event = read_event(args.event)
    with local_run(options, template, args.function) as run:
        module = handler_module(run.spec)
        env = local_env(run.spec, run.target, run.token_table, run.env)
        with function_output(run.threshold), overlay_env(env):
            try:
                _, plan = prepare(
                    event,
                    make_context(run.template, run.spec, run.target),
                    trigger=module.TRIGGER,
                    function_dir=run.spec.source,
                    planner=module.plan,
                )
            except Exception as exc:
                explained = explain(exc, ecs_endpoint=run.target.endpoint)
                if explained is None:
                    raise
                raise explained from None
    if isinstance(plan, dict):
        if args.json:
            print_json({"ok": False, "function": args.function, "error": plan["error"]})
        else:
            print(f"{args.function}: {bad_input_line(plan)}")
        return exitcodes.BAD_INPUT
    lines = next_runs(plan, run.token_table)
    counts = {a: n for a in ACTIONS if (n := sum(1 for line in lines if line.next == a))}
    if args.json:
        print_json(
            {
                "ok": True,
                "function": args.function,
                **plan.labels,
                "token_table": run.token_table,
                "counts": counts,
                "disks": [asdict(line) for line in lines],
                "notes": plan.notes,
            }
        )
        return exitcodes.OK
    labels = ", ".join(f"{k} {v}" for k, v in plan.labels.items())
    summary = ", ".join(f"{_label(k)} {n}" for k, n in counts.items()) or "nothing to do"
    print(f"{args.function} ({labels}): {len(lines)} disk(s): {summary}")
    if lines:
        rows = [("disk", "instance", "next run", "detail")]
        rows += [(x.disk_id, x.instance_id or "-", _label(x.next), x.detail) for x in lines]
        print(aligned(rows))
    for note in plan.notes:
        print(f"note: {note}")
    print(f"token table: {run.token_table}")
    return exitcodes.OK


def next_runs(plan: Plan, token_table: str) -> list[NextRun]:
    """What the next run would do with each disk of ``plan``, by reading ``token_table``; sorted by disk."""
    from snapstack.tokens import TokenTableError, open_table

    table = open_table(token_table)
    try:
        now = time.time()
        lines = [
            next_run(intent, table.get(intent.token), now) for intent in with_progress(plan.intents, "plan")
        ]
    except TokenTableError as exc:
        raise ToolError(
            f"the token table {token_table} is unavailable ({exc}): check --token-table"
        ) from None
    finally:
        table.close()
    lines += [decided_run(result) for result in plan.results]
    return sorted(lines, key=lambda line: line.disk_id)


def next_run(intent: Intent, record: TokenRecord | None, now: float) -> NextRun:
    """What the next run does with ``intent``, given its token's record (None: none) at ``now``.

    Reads only the record's ``state`` and its public fields; a state added to the token table
    after this was written maps to ``recorded`` rather than failing.
    """
    if record is None:
        return NextRun(
            intent.disk_id, intent.instance_id, CREATE, intent.request.snapshot_name or "", intent.token
        )
    state = str(getattr(record.state, "value", record.state))
    owner = getattr(record, "owner", "?")
    lease_until = float(getattr(record, "lease_until", 0.0) or 0.0)
    code = getattr(record, "error_code", None) or "an error"
    if state == "created":
        action, detail = DONE, getattr(record, "snapshot_id", None) or ""
    elif state in LEASED and now < lease_until:
        action, detail = IN_PROGRESS, f"{LEASED[state][0]} by {owner} until {_iso(lease_until)}"
    elif state in LEASED:
        action, detail = CREATE, f"takes over {owner}'s {LEASED[state][1]}, expired {_iso(lease_until)}"
    elif state == "failed" and getattr(record, "retryable", False):
        action, detail = CREATE, f"retries after {code}"
    elif state == "failed":
        action, detail = FAILED_EARLIER, f"{code} (not retried)"
    else:  # a state added after this tool was written
        action, detail = RECORDED, f"recorded as {state!r}; the next run decides"
    if action == CREATE and getattr(record, "in_doubt", False):
        detail += "; looks the slot up at ECS first (a request may have reached it)"
    return NextRun(intent.disk_id, intent.instance_id, action, detail, intent.token, state)


def decided_run(result: DiskResult) -> NextRun:
    """A disk the plan itself decided (outside the allow-list, refused by the request rules)."""
    outcome = str(getattr(result.outcome, "value", result.outcome))
    if outcome == "denied" or result.error_code == "NotAllowed":
        action = DENIED
    else:
        action = WILL_FAIL if outcome == "failed" else SKIP
    detail = ": ".join(x for x in (result.error_code, result.message) if x)
    return NextRun(
        disk_id=result.disk_id, instance_id=None, next=action, detail=detail, token=result.token or None
    )


def _label(action: str) -> str:
    return action.replace("_", " ")


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
