"""From disks to intents: slot keys, tokens, rendered requests; and the allow-list check."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from snapstack.ecs.errors import InvalidRequest
from snapstack.execute import DiskResult, Hold, Intent, Outcome
from snapstack.handlers.runtime import current_invocation
from snapstack.policy import naming
from snapstack.targets import Disk, describe_instance_ids, matches
from snapstack.tokens.slots import client_token, slot_key

if TYPE_CHECKING:
    from snapstack.handlers.runtime import Runtime
    from snapstack.policy.model import Policy, Selector


def compact(moment: datetime, *, with_time: bool = True) -> str:
    """A slot or event time as it appears in snapshot names (no characters names refuse)."""
    return moment.strftime("%Y%m%dT%H%M" if with_time else "%Y%m%d")


def build_intents(
    policy: Policy,
    disks: Iterable[Disk],
    *,
    trigger: str,
    slot_parts: dict[str, str],
    slot: str,
    reason: str = "",
) -> tuple[list[Intent], list[DiskResult]]:
    """One intent per disk; a disk whose request breaks a rule fails here, with no ECS call.

    Each disk's slot key is ``slot_parts`` plus ``disk`` (what the snapshot is for) plus the
    namespace (decision D3): the FC service, the function and the policy, as ``ns_stack``,
    ``ns_function`` and ``ns_policy``, so two stacks or two policies never share a ClientToken.
    ``reason`` and ``slot`` may come from an event: they are cleaned here, for every trigger
    (``naming.clean_text``, ``naming.name_part``).

    A disk whose instance was never started is ``skipped`` (ECS refuses it until the instance has
    run once: nothing to back up yet); one whose instance is starting or stopping gets a ``Hold``
    (the executor defers it without an ECS call, within the delivery bound).
    """
    reason, slot = naming.clean_text(reason), naming.name_part(slot)
    intents: list[Intent] = []
    refused: list[DiskResult] = []
    namespace = _namespace(policy.name)
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
            "date": slot[:8],
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
    """Disks the allow-list covers, and a ``skipped`` result for each one it does not."""
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
                    outcome=Outcome.SKIPPED,
                    token="",
                    error_code="NotAllowed",
                    message="outside this function's allow-list (policy selector)",
                )
            )
    return kept, denied
