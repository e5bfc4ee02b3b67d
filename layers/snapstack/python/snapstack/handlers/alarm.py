"""alarm_snapshot: CloudMonitor alarms and ECS events; snapshot the disks they name, per cooldown.

One invocation may carry one alarm or a batch of them (EventBridge event streams). The plan:

1. read every element on its own: an element that holds no alarm is reported with its index
   and reason (``unusable`` in the summary, one ERROR line each) and costs the others nothing;
2. keep the alarms whose state is in ``alert_states`` (default ``ALERT``); a note names the
   state each other one actually carried;
3. one DescribeDisks lookup for the whole batch (``planning.resolve_targets``): an alarm with
   ``diskId`` names those disks (of its instance, if it names one too), else its instances'
   disks; a target that matches nothing in the region gets a note;
4. merge per disk, then the allow-list (the policy's selector): a disk outside it is ``denied``
   once, with the reason;
5. per disk, the cooldown (``handlers.cooldown``): the alarm joins the disk's live window or
   opens the next one, within the daily cap (else ``denied``), so the slot is the disk's
   window, whatever the rule or carrier, and one alarm is one window across its redeliveries.

Names and descriptions come from the policy; ``{reason}`` is the rule of the alarm that opened
the window and ``{slot}`` the window's opening time, so every delivery of a window renders the
same request.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from snapstack.config import AlarmConfig, load_config
from snapstack.events.alarms import AlarmSignal, alarm_signals
from snapstack.events.decode import decode_event
from snapstack.execute import DiskResult, Outcome
from snapstack.handlers.cooldown import Assignment, Cooldowns
from snapstack.handlers.planning import build_intents, compact, resolve_targets, split_allowed
from snapstack.handlers.runtime import Plan, Runtime, invocation_table, invoke
from snapstack.observability import log_fields
from snapstack.policy.model import Policy
from snapstack.targets import Disk

TRIGGER = "alarm"
#: Alarm times further than this before receipt, or ``_AHEAD`` after it, are named in a note.
_BEHIND = timedelta(hours=1)
_AHEAD = timedelta(minutes=5)


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for alarm_snapshot."""
    return invoke(event, context, trigger=TRIGGER, function_dir=function_dir, planner=plan)


def plan(event: Any, runtime: Runtime) -> Plan:
    """Read the alarms, resolve their disks once, allow-list them and place each in its window."""
    reading = alarm_signals(decode_event(event, expect="alarm"))
    config = load_config(AlarmConfig, runtime.function_dir)
    policy = config.policy
    plan_ = Plan(policy, labels={"policy": policy.name}, unusable=list(reading.unusable))
    for element in reading.unusable:
        runtime.logger.error(
            "unusable element: not acted on",
            extra=log_fields(
                error_code="BadEvent", index=element.index, field=element.field, rule=element.rule
            ),
        )
    notes = SignalNotes()
    acting = [s for s in reading.signals if _acts(s, config, notes)]
    if not acting:
        plan_.notes += notes.lines()
        return plan_
    found = resolve_targets(
        runtime,
        (i for s in acting if not s.disk_ids for i in s.instance_ids),
        (d for s in acting for d in s.disk_ids),
    )
    asked = _merge(acting, found, runtime.region, notes)
    plan_.notes += notes.lines()
    disks, denied = split_allowed(runtime, [d for d, _ in asked.values()], policy.selector)
    plan_.results += denied
    cooldowns = Cooldowns(
        invocation_table(runtime.invocation),
        namespace={
            "service": runtime.invocation.service_name,
            "function": runtime.invocation.function_name,
            "policy": policy.name,
        },
        owner=runtime.invocation.request_id,
        period=policy.period_delta,
        zone=policy.zone,
        cap=config.max_snapshots_per_day,
    )
    windows: dict[tuple[str, float, str], list[Disk]] = defaultdict(list)
    for disk in disks:
        signals = asked[disk.disk_id][1]
        placed = cooldowns.assign(disk.disk_id, [s.dedupe_id for s in signals], _reason(signals))
        if placed.how == "capped":
            plan_.results.append(_capped(disk, placed, config))
            continue
        if placed.how != "opened":
            plan_.notes.append(_joined(placed, policy))
        windows[(placed.window, placed.start, placed.reason)].append(disk)
    for (window, start, reason), members in sorted(windows.items()):
        opened = datetime.fromtimestamp(start, policy.zone)
        intents, refused = build_intents(
            policy,
            members,
            trigger=TRIGGER,
            slot_parts={"window": window},
            slot=compact(opened),
            reason=reason,
            day=opened.date(),
        )
        plan_.intents += intents
        plan_.results += refused
    plan_.labels["slot"] = ",".join(sorted({w for w, _, _ in windows}))
    return plan_


class SignalNotes:
    """Notes about alarms, each said once: the same note for many batch elements names them all."""

    def __init__(self) -> None:
        self._elements: dict[str, list[int]] = {}

    def add(self, signal: AlarmSignal, text: str) -> None:
        """Note ``text`` about ``signal`` (its batch position, if any, is added when rendered)."""
        where = self._elements.setdefault(text, [])
        if signal.index is not None:
            where.append(signal.index)

    def lines(self) -> list[str]:
        """Every note, prefixed with the elements it is about: ``elements 0-2, 7: ...``."""
        return [f"{_ranges(where)}: {text}" if where else text for text, where in self._elements.items()]


def _ranges(indexes: list[int]) -> str:
    spans: list[list[int]] = []
    for index in sorted(set(indexes)):
        if spans and index == spans[-1][1] + 1:
            spans[-1][1] = index
        else:
            spans.append([index, index])
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"element {shown}" if len(indexes) == 1 else f"elements {shown}"


def _acts(signal: AlarmSignal, config: AlarmConfig, notes: SignalNotes) -> bool:
    """Whether the alarm acts; if not, a note says why, naming the state it carried."""
    if signal.state not in config.alert_states:
        acting = ", ".join(config.alert_states)
        notes.add(
            signal,
            f"{signal.rule}: carried {signal.carried}, alarm state {signal.state}, which does not act "
            f"(acting: {acting})",
        )
        return False
    if not (signal.instance_ids or signal.disk_ids):
        notes.add(signal, f"{signal.rule}: names no instance or disk")
        return False
    now = datetime.now(timezone.utc)
    if not now - _BEHIND <= signal.occurred_at <= now + _AHEAD:
        notes.add(
            signal,
            f"{signal.rule}: the alarm's own time is over an hour before its receipt (or ahead of it); "
            "the cooldown counts from receipt, so that time chooses nothing",
        )
    return True


def _merge(
    signals: list[AlarmSignal], found: list[Disk], region: str, notes: SignalNotes
) -> dict[str, tuple[Disk, list[AlarmSignal]]]:
    """Each disk the alarms name, with the alarms that name it; a note for a target found nowhere."""
    by_id = {d.disk_id: d for d in found}
    by_instance: dict[str, list[Disk]] = defaultdict(list)
    for disk in found:
        by_instance[disk.instance_id or ""].append(disk)
    asked: dict[str, tuple[Disk, list[AlarmSignal]]] = {}
    for signal in signals:
        named: list[Disk] = []
        if signal.disk_ids:
            for disk_id in signal.disk_ids:
                hit = by_id.get(disk_id)
                if hit is not None and (not signal.instance_ids or hit.instance_id in signal.instance_ids):
                    named.append(hit)
                else:
                    on = f" on instance {', '.join(signal.instance_ids)}" if signal.instance_ids else ""
                    notes.add(signal, f"{signal.rule}: no disk {disk_id}{on} in region {region}")
        else:
            for instance_id in signal.instance_ids:
                if not by_instance.get(instance_id):
                    notes.add(signal, f"{signal.rule}: instance {instance_id} has no disks in {region}")
                named += by_instance.get(instance_id, [])
        for disk in named:
            asked.setdefault(disk.disk_id, (disk, []))[1].append(signal)
    return dict(sorted(asked.items()))


def _reason(signals: list[AlarmSignal]) -> str:
    first = signals[0]
    more = f" (+{len(signals) - 1} more)" if len(signals) > 1 else ""
    return f"{first.source} {first.rule}"[: 100 - len(more)] + more


def _joined(placed: Assignment, policy: Policy) -> str:
    if placed.how == "event":
        return f"{placed.disk_id}: this alarm already has the window opened at {placed.window}"
    return (
        f"{placed.disk_id}: within the cooldown ({policy.period}) of the window opened at "
        f"{placed.window}: no new snapshot"
    )


def _capped(disk: Disk, placed: Assignment, config: AlarmConfig) -> DiskResult:
    return DiskResult(
        disk_id=disk.disk_id,
        outcome=Outcome.DENIED,
        token="",
        error_code="AlarmCapReached",
        message=(
            f"{config.max_snapshots_per_day} alarm snapshots of this disk already on {placed.day} "
            f"({config.policy.time_zone}): max_snapshots_per_day protects its snapshot quota"
        ),
    )
