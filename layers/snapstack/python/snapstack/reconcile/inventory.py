"""What the reconciler and the RPO check read from ECS: DescribeSnapshots, with its documented
filters and page size (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-describesnapshots).

- ``latest``: each (policy, disk)'s newest snapshot of ours and newest *accomplished* one. Ours =
  a manual (``SnapshotType=user``) snapshot whose ``snapstack:policy`` tag names the policy and
  whose ``snapstack:stack`` tag names this stack (another stack's ``daily`` is not this one's). No
  server-side tag filter: a tag-filtered query may match at most 1,000 resources (the SDK's
  ``DescribeSnapshotsRequest.tag`` docstring), and a policy's snapshots across a region exceed
  that. Few disks: one query per disk (``DiskId``); many: one region-wide listing shared by every
  policy, ``MaxResults=100`` (the maximum) either way. Newest is decided by ``CreationTime``,
  whatever order the pages come in.
- ``progressing``: a disk's snapshot in progress (``Status=progressing``), any type: while one is,
  ECS refuses a new one (``IncorrectDiskStatus.CreatingSnapshot``).
- ``failed_snapshots``: snapstack's snapshots that ended ``failed`` (``Status=failed``,
  ``SnapshotType=user``, region-wide), each with its slot token (``snapstack:slot``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from snapstack.policy.naming import POLICY_TAG, STACK_TAG
from snapstack.targets import SLOT_TAG, _pages, _tags

if TYPE_CHECKING:
    from snapstack.ecs.client import EcsClient

PAGE_SIZE = 100  # DescribeSnapshots MaxResults: "Maximum value: 100"
#: Above this many disks one region-wide listing is cheaper than a query per disk.
PER_DISK_LIMIT = 20


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot as the report and the RPO check show it. ``created``: epoch seconds."""

    snapshot_id: str
    disk_id: str
    created: float
    status: str  # progressing | accomplished | failed
    progress: str = ""
    slot_token: str = ""


@dataclass(frozen=True)
class Latest:
    """A (policy, disk)'s newest snapshot of ours, and its newest accomplished one."""

    last: SnapshotInfo | None = None
    accomplished: SnapshotInfo | None = None


def parse_time(text: str) -> float:
    """An ECS time (``2024-06-01T00:00:00Z``) as epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _info(raw: Any) -> SnapshotInfo:
    return SnapshotInfo(
        snapshot_id=raw.snapshot_id,
        disk_id=raw.source_disk_id or "",
        created=parse_time(raw.creation_time),
        status=raw.status or "",
        progress=raw.progress or "",
        slot_token=_tags(raw.tags).get(SLOT_TAG, ""),
    )


def _describe(ecs: EcsClient, region: str, **filters: Any) -> Iterator[Any]:
    from alibabacloud_ecs20140526 import models

    def make(next_token: str | None) -> Any:
        return models.DescribeSnapshotsRequest(
            region_id=region, max_results=PAGE_SIZE, next_token=next_token, **filters
        )

    def items(body: Any) -> Iterable[Any]:
        return getattr(body.snapshots, "snapshot", None) or []

    return _pages(ecs, "describe_snapshots", make, items)


def latest(
    ecs: EcsClient, region: str, disk_ids: Iterable[str], policies: Iterable[str], *, stack: str
) -> dict[tuple[str, str], Latest]:
    """``(policy, disk_id) -> Latest`` for every pair that has a snapshot of ours: of one of
    ``policies``, made by the stack whose FC service is ``stack``."""
    disks, wanted = set(disk_ids), set(policies)
    if not disks or not wanted:
        return {}
    if len(disks) <= PER_DISK_LIMIT:
        listing: Iterable[Any] = (
            raw
            for disk in sorted(disks)
            for raw in _describe(ecs, region, disk_id=disk, snapshot_type="user")
        )
    else:
        listing = _describe(ecs, region, snapshot_type="user")
    found: dict[tuple[str, str], Latest] = {}
    for raw in listing:
        tags = _tags(raw.tags)
        policy = tags.get(POLICY_TAG)
        if policy not in wanted or tags.get(STACK_TAG) != stack or raw.source_disk_id not in disks:
            continue
        snap = _info(raw)
        key = (policy, snap.disk_id)
        seen = found.get(key, Latest())
        last = snap if seen.last is None or snap.created > seen.last.created else seen.last
        good = seen.accomplished
        if snap.status == "accomplished" and (good is None or snap.created > good.created):
            good = snap
        found[key] = Latest(last, good)
    return found


def progressing(ecs: EcsClient, region: str, disk_id: str) -> SnapshotInfo | None:
    """A snapshot of ``disk_id`` in progress (of any type, ours or not), or None."""
    for raw in _describe(ecs, region, disk_id=disk_id, status="progressing"):
        return _info(raw)
    return None


def failed_snapshots(ecs: EcsClient, region: str) -> list[SnapshotInfo]:
    """Snapshots snapstack made (they carry a slot token) that ended ``failed``, region-wide."""
    found = (_info(raw) for raw in _describe(ecs, region, status="failed", snapshot_type="user"))
    return [s for s in found if s.slot_token]
