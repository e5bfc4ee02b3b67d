"""scheduled_backup: a timer fires; the policy it names snapshots its disks once per slot.

The timer's ``payload`` (a string, FACTS.md §1a) picks the policy: ``{"policy": "daily"}``,
the bare name ``daily``, or nothing when the configuration holds exactly one policy. The
slot is the trigger time floored to the policy's period in its time zone, so every fire in
one slot shares each disk's ClientToken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snapstack.config import ScheduledConfig, load_config
from snapstack.events.decode import decode_event
from snapstack.events.timer import TimerEvent
from snapstack.handlers.planning import build_intents, compact
from snapstack.handlers.runtime import BadInput, Plan, Runtime, invoke
from snapstack.policy.model import Policy
from snapstack.policy.schedule import DAY, floor_to_slot
from snapstack.targets import resolve

TRIGGER = "timer"


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for scheduled_backup."""
    return invoke(event, context, trigger=TRIGGER, function_dir=function_dir, planner=plan)


def choose_policy(payload: str | None, config: ScheduledConfig) -> Policy:
    """The policy the timer payload names (see the module docstring)."""
    name: Any = None
    text = (payload or "").strip()
    if text:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = text
        name = data.get("policy") if isinstance(data, dict) else data
        if not isinstance(name, str) or not name:
            raise BadInput("timer payload", "policy", 'must be a policy name, e.g. {"policy": "daily"}')
    elif len(config.policies) == 1:
        return config.policies[0]
    else:
        raise BadInput("timer payload", "policy", "empty, and the configuration has several policies")
    policy = config.named(name)
    if policy is None:
        known = ", ".join(p.name for p in config.policies)
        raise BadInput("timer payload", "policy", f"no policy named {name!r} (configured: {known})")
    return policy


def plan(event: Any, runtime: Runtime) -> Plan:
    """Decode the timer event, pick the policy and slot, resolve the disks."""
    timer = decode_event(event, expect="timer")
    if not isinstance(timer, TimerEvent):  # expect= guarantees it; this narrows the type
        raise TypeError(type(timer).__name__)
    config = load_config(ScheduledConfig, runtime.function_dir)
    policy = choose_policy(timer.payload, config)
    slot = floor_to_slot(timer.trigger_time, policy.period_delta, policy.zone)
    label = compact(slot.start, with_time=policy.period_delta < DAY)
    disks = resolve(runtime.ecs, runtime.region, policy.selector)
    intents, refused = build_intents(
        policy,
        disks,
        trigger=TRIGGER,
        slot_parts={"policy": policy.name, "slot": slot.label},
        slot=label,
    )
    notes = [] if disks else [f"policy {policy.name!r} selected no disks"]
    return Plan(policy, intents, refused, {"policy": policy.name, "slot": slot.label}, notes)
