"""scheduled_backup: a timer fires; the policy it names snapshots its disks once per slot.

The timer's ``payload`` (a string, FACTS.md §1a) gives the policy: by name from the function's
configuration (``{"policy": "daily"}`` or the bare name ``daily``), nothing when the
configuration holds exactly one, or a whole policy inline (``{"policy": {...}}``) — only when
the configuration opts in with ``inline_policies``, and then within its limits (see
``config.InlinePolicies``): anyone allowed to invoke the function can send a payload. A JSON
payload takes the one key ``policy``; any other key is an error, never silently ignored.

The slot is the trigger time's wall-clock slot in the policy's time zone
(``policy.schedule``), so every fire for one scheduled time shares each disk's ClientToken.
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
from snapstack.handlers.planning import AllowList, compact, stream_intents
from snapstack.handlers.runtime import BadInput, Plan, Runtime, invoke
from snapstack.policy.model import Policy
from snapstack.policy.schedule import DAY, floor_to_slot
from snapstack.reconcile.deadlines import slot_end
from snapstack.targets import Disk, disk_pages

TRIGGER = "timer"
_SOURCE = "timer payload"


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
        raise BadInput(_SOURCE, "policy", f"not usable JSON ({exc})") from None
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"policy"})
        if unknown:
            raise BadInput(_SOURCE, unknown[0], 'unknown key: a timer payload takes only "policy"')
    value = data.get("policy") if isinstance(data, dict) else data
    if isinstance(value, dict) or (isinstance(value, str) and value):
        return value
    raise BadInput(_SOURCE, "policy", 'must name a policy, e.g. {"policy": "daily"}, or hold one')


def choose_policy(requested: str | dict[str, Any] | None, config: ScheduledConfig) -> Policy:
    """The named policy from the configuration, or the inline one within the configured limits."""
    if isinstance(requested, dict):
        return _inline(requested, config)
    if requested is None:
        if len(config.policies) == 1:
            return config.policies[0]
        raise BadInput(_SOURCE, "policy", "empty, and the configuration does not hold exactly one policy")
    policy = config.named(requested)
    if policy is None:
        known = ", ".join(p.name for p in config.policies) or "none"
        raise BadInput(_SOURCE, "policy", f"no policy named {requested!r} (configured: {known})")
    return policy


def _inline(raw: dict[str, Any], config: ScheduledConfig) -> Policy:
    limits = config.inline_policies
    if limits is None:
        raise BadInput(
            _SOURCE,
            "policy",
            "inline policies are off: name a configured policy (inline_policies enables them)",
        )
    broken = limits.set_elsewhere(raw)
    if broken is None:
        try:
            policy = Policy.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise BadInput(
                _SOURCE, ".".join(["policy", *(str(p) for p in first["loc"])]), first["msg"]
            ) from None
        broken = limits.violation(policy)
        if broken is None and config.named(policy.name) is None:
            return policy
        broken = broken or (
            "name",
            f"{policy.name!r} is a configured policy's name; an inline one needs its own",
        )
    raise BadInput(_SOURCE, f"policy.{broken[0]}", broken[1])


def plan(event: Any, runtime: Runtime) -> Plan:
    """Decode the timer event, pick the policy and slot, resolve the disks."""
    timer = decode_event(event, expect="timer")
    if not isinstance(timer, TimerEvent):  # expect= guarantees it; this narrows the type
        raise TypeError(type(timer).__name__)
    requested = requested_policy(timer.payload)
    config = load_config(ScheduledConfig, runtime.function_dir)
    policy = choose_policy(requested, config)
    slot = floor_to_slot(timer.trigger_time, policy.period_delta, policy.zone)
    plan_ = Plan(policy, labels={"policy": policy.name, "slot": slot.label})
    allow = None
    if isinstance(requested, dict) and config.inline_policies is not None:
        allow = AllowList(runtime, config.inline_policies.allow)
    pages = _noting_empty(disk_pages(runtime.ecs, runtime.region, policy.selector), plan_, policy, runtime)
    plan_.pages = stream_intents(
        runtime,
        policy,
        pages,
        trigger=TRIGGER,
        slot_parts={"policy": policy.name, "slot": slot.label},
        slot=compact(slot.start, with_time=policy.period_delta < DAY),
        day=slot.start.date(),
        slot_end=slot_end(slot.start, policy.period_delta, policy.zone),
        allow=allow,
    )
    return plan_


def _noting_empty(
    pages: Iterator[list[Disk]], plan_: Plan, policy: Policy, runtime: Runtime
) -> Iterator[list[Disk]]:
    """``pages``, with a note on ``plan_`` when the listing selected no disk at all."""
    empty = True
    for page in pages:
        empty = False
        yield page
    if empty:
        plan_.notes.append(f"policy {policy.name!r} selected no disks in region {runtime.region}")
