"""The RPO check: every disk a policy selects has an accomplished snapshot of ours newer than its RPO.

For each policy: the disks its selector covers (DescribeDisks/DescribeInstances, as a backup run
resolves them), then each disk's newest snapshot of ours and newest *accomplished* one
(``inventory.latest``). A disk's age is ``now`` minus that accomplished snapshot's
``CreationTime`` (the moment its data is from). It breaches when the age exceeds the policy's RPO
(``Policy.rpo_delta``: ``rpo``, else the period plus a grace).

- A disk with no accomplished snapshot of the policy is measured from its own creation, so a disk
  just added gets one RPO to receive its first snapshot.
- A disk whose instance has never been started is not checked: ECS refuses to snapshot it and a
  backup run skips it (nothing to back up yet).
- A policy whose disks cannot be read is reported with the error and checks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from snapstack.ecs.errors import EcsError
from snapstack.reconcile import inventory
from snapstack.targets import resolve

if TYPE_CHECKING:
    from snapstack.ecs.client import EcsClient
    from snapstack.policy.model import Policy
    from snapstack.reconcile.inventory import SnapshotInfo
    from snapstack.targets import Disk

OK = "ok"
BREACH = "breach"
NOT_CHECKED = "not-checked"


@dataclass(frozen=True)
class DiskHealth:
    """One disk of one policy: its newest snapshots of ours, age (seconds) and verdict."""

    policy: str
    disk_id: str
    instance_id: str | None
    rpo_seconds: float
    verdict: str  # ok | breach | not-checked
    reason: str
    last: SnapshotInfo | None = None
    accomplished: SnapshotInfo | None = None
    #: How long the disk has gone without an accomplished snapshot of the policy: since the newest
    #: one, else since the disk was created (None when neither is known).
    age_seconds: float | None = None

    @property
    def breach(self) -> bool:
        """True when the disk breaches its policy's RPO."""
        return self.verdict == BREACH


@dataclass
class PolicyHealth:
    """One policy's disks, or the error that kept them from being read."""

    policy: str
    rpo_seconds: float
    disks: list[DiskHealth] = field(default_factory=list)
    error: str | None = None

    @property
    def breaches(self) -> list[DiskHealth]:
        """The disks that breach the RPO."""
        return [d for d in self.disks if d.breach]


def check(
    ecs: EcsClient, region: str, policies: list[Policy], now: float, *, stack: str
) -> list[PolicyHealth]:
    """Each policy's health at ``now`` (epoch seconds); see the module docstring. Only the
    snapshots the stack whose FC service is ``stack`` made count (``inventory.latest``)."""
    selected: dict[str, list[Disk]] = {}
    health = {p.name: PolicyHealth(p.name, p.rpo_delta.total_seconds()) for p in policies}
    for policy in policies:
        try:
            selected[policy.name] = resolve(ecs, region, policy.selector)
        except EcsError as exc:
            health[policy.name].error = f"{exc.code}: {exc.message}"
    disk_ids = {d.disk_id for disks in selected.values() for d in disks}
    try:
        newest = inventory.latest(ecs, region, disk_ids, selected, stack=stack)
    except EcsError as exc:
        for name in selected:
            health[name].error = f"{exc.code}: {exc.message}"
        return list(health.values())
    for name, disks in selected.items():
        rpo = health[name].rpo_seconds
        for disk in disks:
            found = newest.get((name, disk.disk_id), inventory.Latest())
            health[name].disks.append(_judge(name, disk, found, rpo, now))
    return list(health.values())


def _judge(policy: str, disk: Disk, found: inventory.Latest, rpo: float, now: float) -> DiskHealth:
    verdict, reason, age = _verdict(disk, found, rpo, now)
    return DiskHealth(
        policy=policy,
        disk_id=disk.disk_id,
        instance_id=disk.instance_id,
        rpo_seconds=rpo,
        verdict=verdict,
        reason=reason,
        last=found.last,
        accomplished=found.accomplished,
        age_seconds=age,
    )


def _verdict(disk: Disk, found: inventory.Latest, rpo: float, now: float) -> tuple[str, str, float | None]:
    """(verdict, reason, age in seconds) of one disk."""
    if disk.instance is not None and not disk.instance.ever_started:
        reason = f"instance {disk.instance.instance_id} has never been started: nothing to back up yet"
        return NOT_CHECKED, reason, None
    good = found.accomplished
    if good is not None:
        age: float | None = now - good.created
        reason = f"newest accomplished snapshot {good.snapshot_id} is {duration(now - good.created)} old"
    else:
        born = inventory.parse_time(disk.creation_time) if disk.creation_time else None
        age = None if born is None else now - born
        since = "" if age is None else f"; the disk is {duration(age)} old"
        reason = f"no accomplished snapshot of this policy{since}"
    verdict = OK if age is not None and age <= rpo else BREACH
    return verdict, f"{reason} (RPO {duration(rpo)})", age


def duration(seconds: float) -> str:
    """``2d6h``, ``5h0m``, ``42m7s``, ``30s``: the largest unit and the next, rounded down (one word,
    so a report's columns split on blanks)."""
    left = max(0, int(seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    first = next((n for n, (_, size) in enumerate(units) if left >= size), len(units) - 1)
    parts = []
    for name, size in units[first : first + 2]:
        parts.append(f"{left // size}{name}")
        left %= size
    return "".join(parts)
