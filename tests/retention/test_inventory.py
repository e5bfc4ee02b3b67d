"""Ownership and counting, read through the official SDK: which snapshots are the policy's (this
policy of this stack), how the rest of a disk's 256 are counted, and what listing a disk costs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models

from devkit.emulator.fleet import generate_fleet, snapshot_history
from devkit.emulator.testing import EcsEmulator
from snapstack.retention.inventory import DiskSnapshots, Owner, disk_snapshots, sort_into

from .conftest import FLEET_NOW, STACK, ecs_for

OWNER = Owner("daily", STACK)
#: Tag values on both sides of ours in sort order, so a comparison that is not equality shows.
OTHER_POLICIES = ("aaa", "weekly")
OTHER_STACKS = ("prod", "staging")
#: DescribeSnapshots' MaxResults maximum ("Maximum value: 100", its API reference): what a page holds.
MAX_RESULTS = 100


def provenance(policy: str, stack: str) -> dict[str, str]:
    return {"snapstack:policy": policy, "snapstack:stack": stack, "snapstack:slot": "ss2-x"}


def item(n: int, tags: dict[str, str], snapshot_type: str | None = "user") -> Any:
    """One DescribeSnapshots item, as the SDK parses it from ECS's answer."""
    return models.DescribeSnapshotsResponseBodySnapshotsSnapshot().from_map(
        {
            "SnapshotId": f"s-{n:03d}",
            "SourceDiskId": "d-1",
            "CreationTime": "2024-05-31T18:00:00Z",
            "Status": "accomplished",
            **({"SnapshotType": snapshot_type} if snapshot_type is not None else {}),
            "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]},
        }
    )


def sorted_disk(*items: Any) -> DiskSnapshots:
    disks: dict[str, DiskSnapshots] = {}
    for raw in items:
        sort_into(disks, raw, OWNER, "snapstack:pin")
    return disks["d-1"]


def test_a_snapshot_is_ours_only_with_this_policy_and_this_stack():
    disk = sorted_disk(
        item(0, provenance("daily", STACK)),
        item(1, {**provenance("daily", STACK), "snapstack:pin": "hold"}),
        *(item(2 + n, provenance(p, STACK)) for n, p in enumerate(OTHER_POLICIES)),
        *(item(4 + n, provenance("daily", s)) for n, s in enumerate(OTHER_STACKS)),
        item(6, {"snapstack:policy": "daily"}),  # no stack tag: not provably this stack's
        item(7, {"team": "db"}),
        item(8, {}),
    )
    assert [(s.snapshot_id, s.pinned) for s in disk.ours] == [("s-000", False), ("s-001", True)]
    assert (disk.other_policies, disk.foreign, disk.manual) == (5, 2, 9)


def test_automatic_snapshots_are_neither_ours_nor_in_the_quota():
    # Listed only if ECS ignored the SnapshotType=user filter; an item without a type is manual.
    disk = sorted_disk(item(0, provenance("daily", STACK), "auto"), item(1, provenance("daily", STACK), None))
    assert [s.snapshot_id for s in disk.ours] == ["s-001"]
    assert (disk.other_policies, disk.foreign, disk.manual) == (0, 0, 1)


def test_an_empty_disk_counts_nothing():
    assert DiskSnapshots("d-1").manual == 0


def test_what_ownership_decides_on_cannot_be_changed_after():
    snap = sorted_disk(item(0, provenance("daily", STACK))).ours[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        OWNER.stack = "staging"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.status = "failed"  # type: ignore[misc]
    for value in (OWNER, snap):
        assert not hasattr(value, "__dict__")  # slots: a region's worth of snapshots stays small


@pytest.mark.parametrize(("count", "calls"), [(MAX_RESULTS, 1), (MAX_RESULTS + 1, 2)])
def test_a_disk_costs_one_describe_call_per_hundred_snapshots(count, calls):
    fleet = generate_fleet(1, snapshot_seconds=0, clock_now="2024-06-01T00:00:00Z")
    disk_id = fleet["disks"][0]["disk_id"]
    fleet["snapshots"] = snapshot_history(
        [disk_id], policy="daily", count=count, every_seconds=3600, last=FLEET_NOW.timestamp()
    )
    with EcsEmulator(fleet=fleet) as emu:
        found = disk_snapshots(
            ecs_for(emu), emu.state.region_id, disk_id, owner=OWNER, pin_tag="snapstack:pin"
        )
        assert emu.calls("DescribeSnapshots") == calls
    assert len(found.ours) == count and found.manual == count
