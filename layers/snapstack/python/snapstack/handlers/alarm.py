"""alarm_snapshot: a CloudMonitor alarm or an ECS event; snapshot the disks it names.

Only signals whose state is in ``alert_states`` (default ``ALERT``) act. Instance ids and disk
ids come from the alarm's dimensions or the event's content; only disks the policy's selector
covers are touched (the allow-list). The slot is rule + disk + cooldown window (the policy's
``period``, floored in its time zone), so an alarm that keeps firing snapshots a disk at most
once per window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snapstack.config import AlarmConfig, load_config
from snapstack.events.alarms import alarm_signals
from snapstack.events.decode import decode_event
from snapstack.execute import Intent
from snapstack.handlers.planning import build_intents, compact, split_allowed
from snapstack.handlers.runtime import Plan, Runtime, invoke
from snapstack.policy.model import Selector
from snapstack.policy.schedule import floor_to_slot
from snapstack.targets import resolve

TRIGGER = "alarm"


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for alarm_snapshot."""
    return invoke(event, context, trigger=TRIGGER, function_dir=function_dir, planner=plan)


def plan(event: Any, runtime: Runtime) -> Plan:
    """Decode the alarm(s), keep the alerting ones, resolve and allow-list their disks."""
    signals = alarm_signals(decode_event(event, expect="alarm"))
    config = load_config(AlarmConfig, runtime.function_dir)
    policy = config.policy
    plan_ = Plan(policy, labels={"policy": policy.name})
    seen: set[str] = set()
    for signal in signals:
        if signal.state not in config.alert_states:
            plan_.notes.append(f"{signal.rule}: state {signal.state} does not act")
            continue
        if not (signal.instance_ids or signal.disk_ids):
            plan_.notes.append(f"{signal.rule}: names no instance or disk")
            continue
        window = floor_to_slot(signal.occurred_at, policy.period_delta, policy.zone)
        asked = Selector(instance_ids=signal.instance_ids, disk_ids=signal.disk_ids)
        disks, denied = split_allowed(runtime, resolve(runtime.ecs, runtime.region, asked), policy.selector)
        intents, refused = build_intents(
            policy,
            disks,
            trigger=TRIGGER,
            slot_parts={"rule": signal.rule, "window": window.label},
            slot=compact(window.start),
            reason=f"{signal.source} {signal.rule}"[:100],
        )
        # One snapshot per disk per invocation: a second rule naming the same disk would only
        # collide with the first snapshot (IncorrectDiskStatus.CreatingSnapshot).
        fresh: list[Intent] = [i for i in intents if i.disk_id not in seen]
        seen.update(i.disk_id for i in fresh)
        plan_.intents += fresh
        plan_.results += denied + refused
    plan_.labels["slot"] = ",".join(sorted({i.labels["slot"] for i in plan_.intents}))
    return plan_
