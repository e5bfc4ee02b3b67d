"""scheduled_backup: a timer fires; the policy it names snapshots its disks once per slot.

The timer's ``payload`` (a string, FACTS.md §1a) gives the policy: by name from the function's
configuration (``{"policy": "daily"}`` or the bare name ``daily``), inline
(``{"policy": {...a whole policy...}}``; the payload is set by whoever owns the trigger, so it
is trusted like the configuration), or nothing when the configuration holds exactly one. The
slot is the trigger time floored to the policy's period in its time zone, so every fire in
one slot shares each disk's ClientToken.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from snapstack.config import ScheduledConfig, load_config
from snapstack.events.decode import decode_event
from snapstack.events.timer import TimerEvent
from snapstack.handlers.planning import compact, stream_intents
from snapstack.handlers.runtime import BadInput, Plan, Runtime, invoke
from snapstack.policy.model import Policy
from snapstack.policy.schedule import DAY, floor_to_slot
from snapstack.targets import Disk, disk_pages

TRIGGER = "timer"


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for scheduled_backup."""
    return invoke(event, context, trigger=TRIGGER, function_dir=function_dir, planner=plan)


def requested_policy(payload: str | None) -> str | dict[str, Any] | None:
    """What the timer payload asks for: a policy name, an inline policy, or nothing."""
    text = (payload or "").strip()
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare policy name
    except (ValueError, RecursionError) as exc:  # nested too deep, or an integer too long for int()
        raise BadInput("timer payload", "policy", f"not usable JSON ({exc})") from None
    value = data.get("policy") if isinstance(data, dict) else data
    if isinstance(value, dict) or (isinstance(value, str) and value):
        return value
    raise BadInput("timer payload", "policy", 'must name a policy, e.g. {"policy": "daily"}, or hold one')


def choose_policy(requested: str | dict[str, Any] | None, function_dir: Path | None) -> Policy:
    """The inline policy, or the named one from the function's configuration."""
    if isinstance(requested, dict):
        try:
            return Policy.model_validate(requested)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(["policy", *(str(p) for p in first["loc"])])
            raise BadInput("timer payload", field, first["msg"]) from None
    config = load_config(ScheduledConfig, function_dir)
    if requested is None:
        if len(config.policies) == 1:
            return config.policies[0]
        raise BadInput("timer payload", "policy", "empty, and the configuration holds several policies")
    policy = config.named(requested)
    if policy is None:
        known = ", ".join(p.name for p in config.policies)
        raise BadInput("timer payload", "policy", f"no policy named {requested!r} (configured: {known})")
    return policy


def plan(event: Any, runtime: Runtime) -> Plan:
    """Decode the timer event, pick the policy and slot, resolve the disks."""
    timer = decode_event(event, expect="timer")
    if not isinstance(timer, TimerEvent):  # expect= guarantees it; this narrows the type
        raise TypeError(type(timer).__name__)
    policy = choose_policy(requested_policy(timer.payload), runtime.function_dir)
    slot = floor_to_slot(timer.trigger_time, policy.period_delta, policy.zone)
    label = compact(slot.start, with_time=policy.period_delta < DAY)
    plan_ = Plan(policy, labels={"policy": policy.name, "slot": slot.label})
    pages = _noting_empty(disk_pages(runtime.ecs, runtime.region, policy.selector), plan_, policy)
    plan_.pages = stream_intents(
        runtime,
        policy,
        pages,
        trigger=TRIGGER,
        slot_parts={"policy": policy.name, "slot": slot.label},
        slot=label,
    )
    return plan_


def _noting_empty(pages: Iterator[list[Disk]], plan_: Plan, policy: Policy) -> Iterator[list[Disk]]:
    """``pages``, with a note on ``plan_`` when the listing selected no disk at all."""
    empty = True
    for page in pages:
        empty = False
        yield page
    if empty:
        plan_.notes.append(f"policy {policy.name!r} selected no disks")
