"""The quota guard: make room on a disk near its 256 manual snapshots before creating one.

The executor calls ``before_create(disk_id)`` just before CreateSnapshot. When the policy has a
retention (with ``prune_at_quota``), the guard reads the disk's manual snapshots (one
DescribeSnapshots call for up to 100 of them) and, at ``quota_threshold`` or more, deletes the
oldest snapshots of the policy's own delete-set (the same plan ``prune`` makes, so the same
protections hold) until the disk is back below the threshold. That is at most
``257 - quota_threshold`` deletions per disk, too few for the mass-deletion breaker to matter,
and the first-run dry run does not apply: a backup is waiting.

If the disk is still full, CreateSnapshot is not sent: the guard answers a ``QuotaExceed.Snapshot``
error whose message says how many manual snapshots are snapstack's (and this policy's), how many
are foreign, and why none of the policy's could go. When ECS itself refuses with that code (a
policy without retention, or a race), ``explain`` gives the same counts.

The guard never stops a backup on its own: if it cannot read the disk's snapshots, it lets the
create go ahead (and ECS decides). Its "now" (for ``max_age_days``) is the real clock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from snapstack.ecs.errors import EcsError
from snapstack.observability import log_fields
from snapstack.retention.delete import Deleter, Deletion
from snapstack.retention.inventory import QUOTA, DiskSnapshots, Owner, disk_snapshots
from snapstack.retention.plan import DiskPlan, plan_disk

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.policy.model import Policy

QUOTA_CODE = "QuotaExceed.Snapshot"


class QuotaGuard:
    """One invocation's guard for one policy. Thread-safe (the executor's workers share it)."""

    def __init__(
        self,
        ecs: EcsClient,
        region: str,
        policy: Policy,
        logger: Logger,
        *,
        stack: str,
        pace: Callable[[], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.ecs = ecs
        self.region = region
        self.policy = policy
        self.owner = Owner(policy.name, stack)
        self.logger = logger
        self.pace = pace
        self.now = now
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def before_create(self, disk_id: str) -> EcsError | None:
        """None to go ahead with CreateSnapshot, or the ``QuotaExceed.Snapshot`` error that ends the disk."""
        retention = self.policy.retention
        if retention is None or not retention.prune_at_quota:
            return None
        disk = self._read(disk_id)
        if disk is None or disk.manual < retention.quota_threshold:
            return None
        plan = plan_disk(disk, self.policy, exists=True, now=self.now())
        chosen = plan.deletions[: disk.manual - (retention.quota_threshold - 1)]
        deleter = Deleter(
            self.ecs, self.logger, {"policy": self.policy.name, "by": "quota-guard"}, self.pace, 1
        )
        results = deleter.run(chosen)
        ends = Counter(r.outcome for r in results)
        freed = ends[Deletion.DELETED] + ends[Deletion.GONE]
        self._count("QuotaPruned", ends[Deletion.DELETED])
        self._count("QuotaPruneFailed", ends[Deletion.FAILED])
        left = disk.manual - freed
        if left < QUOTA:
            return None
        failed = sorted({r.error_code or "" for r in results if r.outcome is Deletion.FAILED})
        return self._refusal(disk, plan, left, failed)

    def explain(self, disk_id: str, error: EcsError) -> EcsError:
        """``error`` (ECS's own ``QuotaExceed.Snapshot``) with the disk's counts in its message."""
        disk = self._read(disk_id)
        if disk is None:
            self._count("QuotaBlocked", 1)
            return error
        plan = None
        if self.policy.retention is not None:
            plan = plan_disk(disk, self.policy, exists=True, now=self.now())
        refusal = self._refusal(disk, plan, disk.manual, [])
        refusal.attempts = error.attempts
        return refusal

    def metrics(self) -> dict[str, float]:
        """Counts for the invocation's metrics: snapshots the guard deleted, disks it refused."""
        with self._lock:
            return {
                name: float(self._counts[name])
                for name in ("QuotaPruned", "QuotaPruneFailed", "QuotaBlocked")
            }

    def _read(self, disk_id: str) -> DiskSnapshots | None:
        retention = self.policy.retention
        pin_tag = retention.pin_tag if retention is not None else ""
        try:
            return disk_snapshots(
                self.ecs, self.region, disk_id, owner=self.owner, pin_tag=pin_tag, pace=self.pace
            )
        except EcsError as exc:
            self.logger.warning(
                "quota guard could not read the disk's snapshots; creating anyway",
                extra=log_fields(
                    disk_id=disk_id, policy=self.policy.name, error_code=exc.code, error=exc.message
                ),
            )
            return None

    def _refusal(self, disk: DiskSnapshots, plan: DiskPlan | None, left: int, failed: list[str]) -> EcsError:
        self._count("QuotaBlocked", 1)
        ours = len(disk.ours)
        mine = f"{ours} of policy {self.policy.name!r}"
        if plan is None:
            why = f"policy {self.policy.name!r} has no retention, so none of its snapshots may be deleted"
        elif failed:
            why = f"deleting the policy's oldest deletable snapshots failed ({', '.join(failed)})"
        else:
            held = Counter(d.rule for d in plan.kept)
            why = (
                "its retention keeps all of the policy's snapshots ("
                + (", ".join(f"{rule}: {n}" for rule, n in sorted(held.items())) or "none on this disk")
                + ")"
            )
        message = (
            f"{disk.disk_id} holds {left} manual snapshots, the quota is {QUOTA}: "
            f"{ours + disk.other_policies} are snapstack's ({mine}), {disk.foreign} are foreign; {why}"
        )
        return EcsError(QUOTA_CODE, message)

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n
