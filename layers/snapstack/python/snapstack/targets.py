"""Which disks a selector means, read from ECS with DescribeDisks/DescribeInstances paging.

The most selective server-side query is chosen (explicit disk ids, a few instances, or the
disk tag filter), then *every* criterion is applied again here, so the AND semantics of a
selector never depend on which query ran. Instance tags need DescribeInstances first.

``resolve`` also reads the state of every instance the chosen disks are attached to
(DescribeInstances by id, paged, ``MaxResults`` 100, its documented maximum), so planning can
skip a disk ECS would refuse ("the instance has never been started"; "not Stopped or Running",
from the CreateSnapshot reference) without a CreateSnapshot call. An instance that has never
been started has an empty ``StartTime`` ("the time when the instance was last started",
DescribeInstances, https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-describeinstances).

``find_slot_snapshots`` is the second record of a slot: every snapshot snapstack makes carries
its slot token in the ``snapstack:slot`` tag, so DescribeSnapshots filtered by that tag finds the
slot's snapshot whatever ClientToken generation made it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from snapstack.policy.model import Selector

if TYPE_CHECKING:
    from snapstack.ecs.client import EcsClient

PAGE_SIZE = 100  # DescribeDisks MaxResults may go to 500; 100 keeps each answer small
INSTANCE_PAGE_SIZE = 100  # DescribeInstances MaxResults: "Maximum value: 100" (SDK model docs)
SNAPSHOT_PAGE_SIZE = 100  # DescribeSnapshots MaxResults: at most 100
IDS_PER_CALL = 100  # DiskIds / InstanceIds take at most 100 ids per call
PER_INSTANCE_LIMIT = 20  # above this many instances one region scan is cheaper than a call each
SLOT_TAG = "snapstack:slot"


class Disk(BaseModel):
    """A disk as the planner needs it."""

    model_config = ConfigDict(frozen=True)

    disk_id: str
    instance_id: str | None = None
    type: str = ""  # system | data
    category: str = ""
    status: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    instance: InstanceState | None = None  # the attached instance, when resolve could read it


class InstanceState(BaseModel):
    """What CreateSnapshot's instance rules depend on."""

    model_config = ConfigDict(frozen=True)

    instance_id: str
    status: str  # Pending | Starting | Running | Stopping | Stopped
    ever_started: bool
    lock_reasons: tuple[str, ...] = ()


class SlotSnapshot(BaseModel):
    """A snapshot found by its ``snapstack:slot`` tag."""

    model_config = ConfigDict(frozen=True)

    snapshot_id: str
    status: str
    name: str = ""
    description: str = ""
    retention_days: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


def _tags(raw: Any) -> dict[str, str]:
    items = getattr(raw, "tag", None) or []
    return {t.tag_key: t.tag_value or "" for t in items if t.tag_key}


def _pages(
    ecs: EcsClient, operation: str, make: Any, items: Any, pace: Callable[[], None] | None = None
) -> Iterator[Any]:
    token: str | None = None
    while True:
        body = ecs.call(operation, make(next_token=token), pace=pace)
        yield from items(body)
        token = body.next_token
        if not token:
            return


def describe_disks(ecs: EcsClient, region: str, **filters: Any) -> Iterator[Disk]:
    """Every disk matching the server-side filters, across pages."""
    from alibabacloud_ecs20140526 import models

    tags = filters.pop("tags", None) or {}

    def make(next_token: str | None) -> Any:
        return models.DescribeDisksRequest(
            region_id=region,
            max_results=PAGE_SIZE,
            next_token=next_token,
            tag=[models.DescribeDisksRequestTag(key=k, value=v) for k, v in tags.items()] or None,
            **filters,
        )

    def items(body: Any) -> Iterator[Disk]:
        for d in getattr(body.disks, "disk", None) or []:
            yield Disk(
                disk_id=d.disk_id,
                instance_id=d.instance_id or None,
                type=d.type or "",
                category=d.category or "",
                status=d.status or "",
                tags=_tags(d.tags),
            )

    return _pages(ecs, "describe_disks", make, items)


def describe_instance_ids(ecs: EcsClient, region: str, tags: dict[str, str]) -> set[str]:
    """Ids of the instances carrying every tag in ``tags``."""
    from alibabacloud_ecs20140526 import models

    def make(next_token: str | None) -> Any:
        return models.DescribeInstancesRequest(
            region_id=region,
            max_results=PAGE_SIZE,
            next_token=next_token,
            tag=[models.DescribeInstancesRequestTag(key=k, value=v) for k, v in tags.items()],
        )

    def items(body: Any) -> Iterator[str]:
        for inst in getattr(body.instances, "instance", None) or []:
            yield inst.instance_id

    return set(_pages(ecs, "describe_instances", make, items))


def describe_instance_states(ecs: EcsClient, region: str, ids: set[str]) -> dict[str, InstanceState]:
    """The state of each instance in ``ids`` that exists (by id, 100 per call, paged)."""
    from alibabacloud_ecs20140526 import models

    wanted = sorted(ids)
    found: dict[str, InstanceState] = {}
    for i in range(0, len(wanted), IDS_PER_CALL):
        chunk = json.dumps(wanted[i : i + IDS_PER_CALL])

        def make(next_token: str | None, chunk: str = chunk) -> Any:
            return models.DescribeInstancesRequest(
                region_id=region, instance_ids=chunk, max_results=INSTANCE_PAGE_SIZE, next_token=next_token
            )

        def items(body: Any) -> Iterator[InstanceState]:
            for inst in getattr(body.instances, "instance", None) or []:
                locks = getattr(getattr(inst, "operation_locks", None), "lock_reason", None) or []
                yield InstanceState(
                    instance_id=inst.instance_id,
                    status=inst.status or "",
                    ever_started=bool(inst.start_time),
                    lock_reasons=tuple(lock.lock_reason for lock in locks if lock.lock_reason),
                )

        for state in _pages(ecs, "describe_instances", make, items):
            found[state.instance_id] = state
    return found


def find_slot_snapshots(ecs: EcsClient, region: str, disk_id: str, slot_token: str) -> list[SlotSnapshot]:
    """Every snapshot of ``disk_id`` tagged ``snapstack:slot=slot_token``, oldest first."""
    from alibabacloud_ecs20140526 import models

    def make(next_token: str | None) -> Any:
        return models.DescribeSnapshotsRequest(
            region_id=region,
            disk_id=disk_id,
            tag=[models.DescribeSnapshotsRequestTag(key=SLOT_TAG, value=slot_token)],
            max_results=SNAPSHOT_PAGE_SIZE,
            next_token=next_token,
        )

    def items(body: Any) -> Iterator[SlotSnapshot]:
        for snap in getattr(body.snapshots, "snapshot", None) or []:
            yield SlotSnapshot(
                snapshot_id=snap.snapshot_id,
                status=snap.status or "",
                name=snap.snapshot_name or "",
                description=snap.description or "",
                retention_days=snap.retention_days,
                tags=_tags(snap.tags),
            )

    found = list(_pages(ecs, "describe_snapshots", make, items))
    return list(reversed(found))  # DescribeSnapshots answers newest first


def matches(disk: Disk, selector: Selector, instances: set[str] | None) -> bool:
    """True when ``disk`` meets every criterion of ``selector`` and no exclusion."""
    if selector.disk_ids and disk.disk_id not in selector.disk_ids:
        return False
    if instances is not None and disk.instance_id not in instances:
        return False
    if any(disk.tags.get(k) != v for k, v in selector.disk_tags.items()):
        return False
    if selector.disk_type not in ("all", disk.type):
        return False
    if disk.disk_id in selector.exclude_disk_ids:
        return False
    return not any(disk.tags.get(k) == v for k, v in selector.exclude_disk_tags.items())


def resolve(ecs: EcsClient, region: str, selector: Selector) -> list[Disk]:
    """The disks ``selector`` covers, sorted by id, each once."""
    instances: set[str] | None = None
    if selector.instance_ids:
        instances = set(selector.instance_ids)
    if selector.instance_tags:
        tagged = describe_instance_ids(ecs, region, dict(selector.instance_tags))
        instances = tagged if instances is None else instances & tagged
    server: dict[str, Any] = {}
    if selector.disk_type != "all":
        server["disk_type"] = selector.disk_type
    if selector.disk_tags:
        server["tags"] = dict(selector.disk_tags)
    found: dict[str, Disk] = {}
    if selector.disk_ids:
        ids = sorted(set(selector.disk_ids))
        for i in range(0, len(ids), IDS_PER_CALL):
            for disk in describe_disks(ecs, region, disk_ids=json.dumps(ids[i : i + IDS_PER_CALL]), **server):
                found[disk.disk_id] = disk
    elif instances is not None and len(instances) <= PER_INSTANCE_LIMIT:
        for instance_id in sorted(instances):
            for disk in describe_disks(ecs, region, instance_id=instance_id, **server):
                found[disk.disk_id] = disk
    else:
        for disk in describe_disks(ecs, region, **server):
            found[disk.disk_id] = disk
    chosen = [d for _, d in sorted(found.items()) if matches(d, selector, instances)]
    attached = {d.instance_id for d in chosen if d.instance_id}
    if not attached:
        return chosen
    states = describe_instance_states(ecs, region, attached)
    return [
        d.model_copy(update={"instance": states.get(d.instance_id)}) if d.instance_id else d for d in chosen
    ]
