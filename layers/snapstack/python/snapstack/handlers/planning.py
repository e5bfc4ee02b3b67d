"""From disks to intents: slot keys, tokens, rendered requests; the allow-list check; and the one
target lookup a whole alarm batch shares."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

from snapstack.ecs.errors import InvalidRequest
from snapstack.execute import DiskResult, Hold, Intent, Outcome
from snapstack.handlers.runtime import current_invocation
from snapstack.policy import naming
from snapstack.reconcile.deadlines import slot_deadline
from snapstack.targets import IDS_PER_CALL, Disk, describe_disks, describe_instance_ids, matches
from snapstack.tokens.slots import client_token, slot_key

if TYPE_CHECKING:
    from snapstack.handlers.runtime import Runtime
    from snapstack.policy.model import Policy, Selector


def compact(moment: date, *, with_time: bool = True) -> str:
    """A slot, event time or date as it appears in snapshot names (no characters names refuse)."""
    return moment.strftime("%Y%m%dT%H%M" if with_time else "%Y%m%d")


def build_intents(
    policy: Policy,
    disks: Iterable[Disk],
    *,
    trigger: str,
    slot_parts: dict[str, str],
    slot: str,
    reason: str = "",
    day: date | None = None,
    slot_end: datetime | None = None,
) -> tuple[list[Intent], list[DiskResult]]:
    """One intent per disk; a disk whose request breaks a rule fails here, with no ECS call.

    Each disk's slot key is ``slot_parts`` plus ``disk`` (what the snapshot is for) plus the
    namespace (decision D3): the FC service, the function and the policy, as ``ns_stack``,
    ``ns_function`` and ``ns_policy``, so two stacks or two policies never share a ClientToken.
    ``reason`` and ``slot`` may come from an event: they are cleaned here, for every trigger
    (``naming.clean_text``, ``naming.name_part``).

    ``{date}`` (``YYYYMMDD``) is ``day``: the slot's date where the slot is a time (a timer's slot,
    an alarm's window), so every delivery of the slot renders the same request. Without one (a
    deploy slot is a release, not a time) it is the invocation's date in the policy's time zone;
    a redelivery after local midnight then renders another name under the same ClientToken, which
    the executor resolves to the snapshot that exists (``IdempotentParameterMismatch``).

    A disk whose instance was never started is ``skipped`` (ECS refuses it until the instance has
    run once: nothing to back up yet); one whose instance is starting or stopping gets a ``Hold``
    (the executor defers it without an ECS call, within the delivery bound).

    Every intent carries the slot's deadline for the reconciler: ``slot_end`` + grace for a
    schedule slot, now + FC's event max age otherwise (``reconcile/deadlines.py``).
    """
    reason, slot = naming.clean_text(reason), naming.name_part(slot)
    intents: list[Intent] = []
    refused: list[DiskResult] = []
    namespace = _namespace(policy.name)
    shown_day = compact(datetime.now(policy.zone) if day is None else day, with_time=False)
    deadline = slot_deadline(trigger, end=slot_end)
    for disk in disks:
        token = client_token(key := slot_key(trigger, **slot_parts, disk=disk.disk_id, **namespace))
        blocked, hold = _instance_check(disk, token)
        if blocked is not None:
            refused.append(blocked)
            continue
        values = {
            "policy": policy.name,
            "trigger": trigger,
            "disk_id": disk.disk_id,
            "instance_id": disk.instance_id or "none",
            "slot": slot,
            "date": shown_day,
            "reason": reason,
        }
        provenance = {
            "policy": policy.name,
            "trigger": trigger,
            "slot": token,
            "stack": namespace["ns_stack"],
        }
        try:
            request = policy.request_for(values, provenance, client_token=token, disk_tags=disk.tags)
        except InvalidRequest as exc:
            refused.append(
                DiskResult(
                    disk_id=disk.disk_id,
                    outcome=Outcome.FAILED,
                    token=token,
                    error_code=exc.code,
                    message=str(exc),
                )
            )
            continue
        labels = {"policy": policy.name, "trigger": trigger, "slot": slot}
        intents.append(
            Intent(
                disk_id=disk.disk_id,
                instance_id=disk.instance_id,
                slot_key=key,
                token=token,
                request=request,
                labels=labels,
                hold=hold,
                deadline=deadline,
            )
        )
    return intents, refused


#: Instance states ECS snapshots in (CreateSnapshot: "not in the Stopped or Running state").
SNAPSHOTTABLE_INSTANCE_STATES = frozenset({"Running", "Stopped"})


def _namespace(policy: str) -> dict[str, str]:
    invocation = current_invocation()
    return {
        "ns_stack": invocation.service_name if invocation else "",
        "ns_function": invocation.function_name if invocation else "",
        "ns_policy": policy,
    }


def _instance_check(disk: Disk, token: str) -> tuple[DiskResult | None, Hold | None]:
    """A skip for a disk ECS can never snapshot yet, or a hold for one it cannot right now."""
    instance = disk.instance
    if instance is None:
        return None, None
    if not instance.ever_started:
        skip = DiskResult(
            disk_id=disk.disk_id,
            outcome=Outcome.SKIPPED,
            token=token,
            error_code="IncorrectInstanceStatus",
            message=f"instance {instance.instance_id} has never been started: ECS refuses snapshots "
            "of its disks until it has run once (no ECS call made)",
        )
        return skip, None
    if instance.status not in SNAPSHOTTABLE_INSTANCE_STATES:
        return None, Hold(
            code="IncorrectInstanceStatus",
            message=f"instance {instance.instance_id} is {instance.status}, not Running or Stopped",
        )
    return None, None


def split_allowed(
    runtime: Runtime, disks: list[Disk], allow: Selector
) -> tuple[list[Disk], list[DiskResult]]:
    """Disks the allow-list covers, and one ``denied`` result (``NotAllowed``) for each one it
    does not (``skipped`` means nothing to back up; this is a refusal). An instance-tag
    allow-list costs one DescribeInstances lookup."""
    instances = set(allow.instance_ids) if allow.instance_ids else None
    if allow.instance_tags:
        tagged = describe_instance_ids(runtime.ecs, runtime.region, dict(allow.instance_tags))
        instances = tagged if instances is None else instances & tagged
    kept, denied = [], []
    for disk in disks:
        if matches(disk, allow, instances):
            kept.append(disk)
        else:
            denied.append(
                DiskResult(
                    disk_id=disk.disk_id,
                    outcome=Outcome.DENIED,
                    token="",
                    error_code="NotAllowed",
                    message="outside this function's allow-list (policy selector)",
                )
            )
    return kept, denied


def resolve_targets(runtime: Runtime, instance_ids: Iterable[str], disk_ids: Iterable[str]) -> list[Disk]:
    """Every disk of ``instance_ids`` and every disk in ``disk_ids``, sorted by id, each once.

    One paged DescribeDisks for the whole set, whatever the number of alarms that named it: by
    ``DiskIds`` when only disks are named (100 ids per call), by ``InstanceId`` when one
    instance is, else one region-wide scan filtered here. Ids that match nothing are simply
    absent from the answer.
    """
    instances, disks = set(instance_ids), set(disk_ids)
    ecs, region = runtime.ecs, runtime.region
    if not instances:
        ids = sorted(disks)
        chunks = (json.dumps(ids[i : i + IDS_PER_CALL]) for i in range(0, len(ids), IDS_PER_CALL))
        found = [d for chunk in chunks for d in describe_disks(ecs, region, disk_ids=chunk)]
    elif len(instances) == 1 and not disks:
        found = list(describe_disks(ecs, region, instance_id=next(iter(instances))))
    else:
        found = [d for d in describe_disks(ecs, region) if d.disk_id in disks or d.instance_id in instances]
    return sorted({d.disk_id: d for d in found}.values(), key=lambda d: d.disk_id)
