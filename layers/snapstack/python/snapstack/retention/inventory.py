"""What a prune run reads from ECS: each disk's snapshots, sorted by owner, and which disks exist.

Ownership is decided here, once: a snapshot is the policy's when it is a manual (``user``)
snapshot whose ``snapstack:policy`` tag names the policy and whose ``snapstack:stack`` tag names
this stack (the FC service; every snapshot snapstack creates carries its provenance tags), so two
stacks in one account that share a policy name never prune each other. Everything else is only
counted, never handed on: other policies' or stacks' snapshots, foreign manual snapshots (another
tool's, a person's) and automatic ones.

Listing uses ``DescribeSnapshots`` with ``SnapshotType=user`` (automatic snapshots neither count
against the 256 quota nor can be ours) at ``MaxResults=100``, the documented maximum, so a disk
with up to 100 manual snapshots costs one call. No server-side tag filter is used: ECS caps a
tag-filtered query at 1,000 resources (SDK docstring of ``DescribeSnapshotsRequest.tag``,
https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-describesnapshots).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from snapstack.policy.naming import POLICY_TAG, STACK_TAG
from snapstack.targets import IDS_PER_CALL, _pages, describe_disks

if TYPE_CHECKING:
    from snapstack.ecs.client import EcsClient

#: DescribeSnapshots ``MaxResults`` maximum ("Maximum value: 100", API reference above).
PAGE_SIZE = 100
#: Manual snapshots one disk may hold (``QuotaExceed.Snapshot`` in the CreateSnapshot contract).
QUOTA = 256
Pace = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose snapshots a run may prune: policy ``policy`` of the stack whose FC service is ``stack``."""

    policy: str
    stack: str

    def owns(self, tags: dict[str, str]) -> bool:
        """Whether a snapshot with these tags was made by this policy of this stack."""
        return tags.get(POLICY_TAG) == self.policy and tags.get(STACK_TAG) == self.stack


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One of the policy's snapshots, as retention needs it."""

    snapshot_id: str
    disk_id: str
    created: datetime  # aware, UTC
    status: str  # progressing | accomplished | failed
    usage: str  # none | disk | image | image_disk
    pinned: bool


@dataclass
class DiskSnapshots:
    """A disk's manual snapshots: the policy's own, and how many belong to others."""

    disk_id: str
    ours: list[Snapshot] = field(default_factory=list)
    other_policies: int = 0  # made by snapstack for another policy or another stack
    foreign: int = 0  # manual snapshots without a snapstack policy tag

    @property
    def manual(self) -> int:
        """Manual snapshots on the disk: what the 256 quota counts."""
        return len(self.ours) + self.other_policies + self.foreign


def _tags(raw: Any) -> dict[str, str]:
    items = getattr(getattr(raw, "tags", None), "tag", None) or []
    return {t.tag_key: t.tag_value or "" for t in items if t.tag_key}


def parse_time(text: str) -> datetime:
    """An ECS ``CreationTime`` (``2024-06-01T00:00:00Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sort_into(disks: dict[str, DiskSnapshots], raw: Any, owner: Owner, pin_tag: str) -> None:
    """File one DescribeSnapshots item under its disk: the policy's own, or only counted."""
    disk = disks.setdefault(raw.source_disk_id, DiskSnapshots(raw.source_disk_id))
    if (raw.snapshot_type or "user") != "user":
        return  # automatic: never ours, not in the quota (not listed unless ECS ignores the filter)
    tags = _tags(raw)
    if POLICY_TAG not in tags:
        disk.foreign += 1
    elif not owner.owns(tags):
        disk.other_policies += 1
    else:
        disk.ours.append(
            Snapshot(
                snapshot_id=raw.snapshot_id,
                disk_id=raw.source_disk_id,
                created=parse_time(raw.creation_time),
                status=raw.status or "",
                usage=raw.usage or "none",
                pinned=pin_tag in tags,
            )
        )


def _describe(ecs: EcsClient, region: str, pace: Pace | None, **filters: Any) -> Iterable[Any]:
    from alibabacloud_ecs20140526 import models

    def make(next_token: str | None) -> Any:
        return models.DescribeSnapshotsRequest(
            region_id=region, snapshot_type="user", max_results=PAGE_SIZE, next_token=next_token, **filters
        )

    def items(body: Any) -> Iterable[Any]:
        return getattr(body.snapshots, "snapshot", None) or []

    return _pages(ecs, "describe_snapshots", make, items, pace)


def disk_snapshots(
    ecs: EcsClient, region: str, disk_id: str, *, owner: Owner, pin_tag: str, pace: Pace | None = None
) -> DiskSnapshots:
    """One disk's manual snapshots, sorted by owner (one call per 100 snapshots)."""
    found = {disk_id: DiskSnapshots(disk_id)}
    for raw in _describe(ecs, region, pace, disk_id=disk_id):
        sort_into(found, raw, owner, pin_tag)
    return found[disk_id]


def region_snapshots(
    ecs: EcsClient, region: str, *, owner: Owner, pin_tag: str, pace: Pace | None = None
) -> dict[str, DiskSnapshots]:
    """Every manual snapshot of the region, by disk (released disks included): one call per 100."""
    found: dict[str, DiskSnapshots] = {}
    for raw in _describe(ecs, region, pace):
        sort_into(found, raw, owner, pin_tag)
    return found


def existing_disks(ecs: EcsClient, region: str, disk_ids: Iterable[str]) -> set[str]:
    """Which of ``disk_ids`` still exist (DescribeDisks, 100 ids a call)."""
    ids = sorted(set(disk_ids))
    alive: set[str] = set()
    for i in range(0, len(ids), IDS_PER_CALL):
        alive.update(
            d.disk_id for d in describe_disks(ecs, region, disk_ids=json.dumps(ids[i : i + IDS_PER_CALL]))
        )
    return alive
