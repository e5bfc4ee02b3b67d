"""From disks to intents: slot keys, tokens, rendered requests; and the allow-list check."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from snapstack.ecs.errors import InvalidRequest
from snapstack.execute import DiskResult, Intent, Outcome
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

    Each disk's slot key is ``slot_parts`` plus ``disk``: what the snapshot is for. ``reason``
    and ``slot`` may come from an event: they are cleaned here, for every trigger
    (``naming.clean_text``, ``naming.name_part``).
    """
    reason, slot = naming.clean_text(reason), naming.name_part(slot)
    intents: list[Intent] = []
    refused: list[DiskResult] = []
    for disk in disks:
        token = client_token(key := slot_key(trigger, **slot_parts, disk=disk.disk_id))
        values = {
            "policy": policy.name,
            "trigger": trigger,
            "disk_id": disk.disk_id,
            "instance_id": disk.instance_id or "none",
            "slot": slot,
            "date": slot[:8],
            "reason": reason,
        }
        provenance = {"policy": policy.name, "trigger": trigger, "slot": token}
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
            )
        )
    return intents, refused


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
