"""The keep-set and the delete-set of a policy's snapshots, with the rule behind each decision.

For one disk (``plan_disk``), each of the policy's own snapshots (see ``inventory``) is kept or
deleted. Protections come first and cannot be overridden by any rule:

| rule | kept because |
|---|---|
| ``progressing`` | still being created |
| ``pinned`` | carries the retention's ``pin_tag`` |
| ``in-use:image`` | a custom image was made from it (DeleteSnapshot refuses, even with Force) |
| ``in-use:disk`` | a disk was made from it, and the retention does not allow ``Force`` |
| ``newest`` | the disk's newest accomplished snapshot of the policy |
| ``orphan-keep`` / ``orphan-grace`` | its disk is released and the orphan rule keeps it |

then the keep rules (``keep-last``, ``max-age``, ``hourly``... see ``tiers``). What no rule keeps
is deleted, as ``failed`` (a failed snapshot holds no data) or ``beyond-retention``; a snapshot
a disk was made from is deleted with ``Force`` only when ``force_delete_used_by_disks`` allows
it, the one case the DeleteSnapshot reference documents ``Force`` for
(https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-deletesnapshot).

For a whole run (``PrunePlan``), the mass-deletion breaker compares the delete-set with the
policy's snapshots: above ``max_fraction`` of them, or above ``max_count``, nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from snapstack.retention.tiers import Point, keep_reasons

if TYPE_CHECKING:
    from snapstack.policy.model import Policy
    from snapstack.policy.retention import Retention
    from snapstack.retention.inventory import DiskSnapshots, Snapshot


@dataclass(frozen=True)
class Decision:
    """Keep or delete one snapshot, and every rule that says so (the first is the deciding one)."""

    snapshot: Snapshot
    delete: bool
    rules: tuple[str, ...]
    force: bool = False  # DeleteSnapshot with Force=true (a disk was made from it, and that is allowed)

    @property
    def rule(self) -> str:
        """The deciding rule."""
        return self.rules[0]


@dataclass(frozen=True)
class DiskPlan:
    """One disk's decisions, newest snapshot first, and the snapshots on it that are not the policy's.

    ``snapshots`` counts the policy's snapshots on the disk; ``decisions`` holds one decision for
    each, or only the deletions once ``compact``.
    """

    disk_id: str
    exists: bool
    decisions: tuple[Decision, ...]
    snapshots: int
    other_policies: int = 0
    foreign: int = 0

    def compact(self) -> DiskPlan:
        """The same plan without the keep decisions (a large run holds only what it deletes)."""
        return replace(self, decisions=tuple(d for d in self.decisions if d.delete))

    @property
    def deletions(self) -> list[Decision]:
        """The delete-set, oldest first (the order the quota guard deletes in)."""
        return sorted((d for d in self.decisions if d.delete), key=lambda d: d.snapshot.created)

    @property
    def kept(self) -> list[Decision]:
        """The keep-set."""
        return [d for d in self.decisions if not d.delete]


def _protections(snap: Snapshot, retention: Retention) -> list[str]:
    rules = []
    if snap.status == "progressing":
        rules.append("progressing")
    if snap.pinned:
        rules.append("pinned")
    if snap.usage in ("image", "image_disk"):
        rules.append("in-use:image")
    elif snap.usage == "disk" and not retention.force_delete_used_by_disks:
        rules.append("in-use:disk")
    return rules


def plan_disk(disk: DiskSnapshots, policy: Policy, *, exists: bool, now: datetime) -> DiskPlan:
    """Decide every one of the policy's snapshots on ``disk`` (see the module docstring).

    ``exists``: False when the disk has been released (the orphan rule applies). ``now``
    (aware) dates ``max_age_days`` and the orphan grace period. Raises ``ValueError`` when the
    policy has no retention.
    """
    retention = policy.retention
    if retention is None:
        raise ValueError(f"policy {policy.name!r} has no retention")
    done = [s for s in disk.ours if s.status == "accomplished"]
    newest = max(done, key=lambda s: (s.created, s.snapshot_id), default=None)
    held: dict[str, list[str]] = {}
    if not exists and retention.orphans.action == "keep":
        held = {s.snapshot_id: ["orphan-keep"] for s in disk.ours}
    elif not exists and _in_grace(disk, retention, now):
        held = {s.snapshot_id: ["orphan-grace"] for s in disk.ours}
    else:
        held = keep_reasons([Point(s.snapshot_id, s.created) for s in done], retention, policy.zone, now)
    decisions = []
    for snap in sorted(disk.ours, key=lambda s: (s.created, s.snapshot_id), reverse=True):
        rules = _protections(snap, retention)
        if snap is newest:
            rules.append("newest")
        rules += held.get(snap.snapshot_id, [])
        if rules:
            decisions.append(Decision(snap, delete=False, rules=tuple(rules)))
        else:
            why = "failed" if snap.status == "failed" else "beyond-retention"
            decisions.append(Decision(snap, delete=True, rules=(why,), force=snap.usage == "disk"))
    return DiskPlan(disk.disk_id, exists, tuple(decisions), len(decisions), disk.other_policies, disk.foreign)


def _in_grace(disk: DiskSnapshots, retention: Retention, now: datetime) -> bool:
    if not disk.ours:
        return False
    last = max(s.created for s in disk.ours)
    # Elapsed time in UTC (see tiers.keep_reasons: local wall-clock arithmetic is off across DST).
    return now.astimezone(timezone.utc) - last < timedelta(days=retention.orphans.grace_days)


@dataclass
class PrunePlan:
    """A policy's decisions over every disk, and the breaker's verdict on them."""

    policy: Policy
    disks: list[DiskPlan] = field(default_factory=list)

    @property
    def deletions(self) -> list[Decision]:
        """The whole delete-set."""
        return [d for disk in self.disks for d in disk.deletions]

    @property
    def total(self) -> int:
        """How many of the policy's snapshots were looked at."""
        return sum(disk.snapshots for disk in self.disks)

    def breaker_reason(self) -> str | None:
        """Why the breaker trips for this plan, or None when it holds."""
        if self.policy.retention is None:
            return None
        limits = self.policy.retention.breaker
        count, total = len(self.deletions), self.total
        if count > limits.max_count:
            return f"{count} deletions planned, more than max_count {limits.max_count}"
        if total and count > limits.max_fraction * total:
            return (
                f"{count} of the policy's {total} snapshots ({count / total:.0%}) would be deleted, "
                f"more than max_fraction {limits.max_fraction:g}"
            )
        return None
