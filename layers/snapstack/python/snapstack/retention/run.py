"""One policy's prune run: read, plan, check the breaker, then delete (or only say what it would).

Reading depends on the orphan rule:

- ``orphans.action: keep`` (default): the disks the policy's selector covers (DescribeDisks),
  then each disk's snapshots, disks in parallel under the run's rate limiter: one
  DescribeSnapshots call per disk with up to 100 manual snapshots. Snapshots of released disks,
  and of disks that left the selector, are not read and so never deleted.
- ``orphans.action: prune``: every manual snapshot of the region, page by page (one call per
  100 snapshots, one after another: NextToken paging cannot be split), then DescribeDisks on the
  disks the policy's snapshots name, to tell released disks from living ones. Every disk with
  the policy's snapshots is planned then, whether the selector still covers it or not.

Each disk is planned as soon as it is read; unless ``detail`` is asked for, its plan keeps only
its deletions, so memory follows the delete-set, not the fleet.

A run is a dry run unless ``apply``; a dry run and a run the breaker stops delete nothing and
report each planned deletion as such. ``first_run`` tells whether a policy has run in this
stack before (the first run is a dry run unless ``retention.first_run`` says ``apply``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from snapstack.ratelimit import RateLimiter
from snapstack.retention.delete import Deleter, DeleteResult, Deletion, tally
from snapstack.retention.inventory import (
    DiskSnapshots,
    Owner,
    disk_snapshots,
    existing_disks,
    region_snapshots,
)
from snapstack.retention.plan import DiskPlan, PrunePlan, plan_disk
from snapstack.targets import resolve
from snapstack.tokens.base import ClaimOutcome
from snapstack.tokens.slots import client_token, slot_key

T = TypeVar("T")

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.policy.model import Policy
    from snapstack.tokens.base import TokenTable


@dataclass
class PruneReport:
    """What one policy's run decided and did."""

    plan: PrunePlan
    results: list[DeleteResult] = field(default_factory=list)
    dry_run: str | None = None  # why nothing was deleted on purpose (None: applied)
    breaker: str | None = None  # why the breaker tripped

    def counts(self) -> dict[str, int]:
        """Snapshots looked at and kept, and deletions by outcome."""
        ends = tally(self.results)
        return {
            "disks": len(self.plan.disks),
            "snapshots": self.plan.total,
            "kept": self.plan.total - len(self.results),
            **{d.value: ends.get(d, 0) for d in Deletion},
        }


def prune_policy(
    ecs: EcsClient,
    region: str,
    policy: Policy,
    *,
    stack: str,
    now: datetime,
    logger: Logger,
    dry_run: str | None,
    labels: dict[str, str] | None = None,
    detail: bool = False,
) -> PruneReport:
    """Run ``policy``'s retention once; ``dry_run`` says why not to delete (None: delete).

    Only snapshots this policy of the stack whose FC service is ``stack`` made are candidates
    (``inventory.Owner``).
    ``now`` (aware) dates ``max_age_days`` and the orphan grace. ``detail`` keeps every keep
    decision in the report (for printing); without it a disk's plan keeps only its deletions,
    so a run over many disks holds little more than what it deletes. Raises ``EcsError`` when
    reading fails (nothing has been deleted then); failed deletions are reported, not raised.
    """
    retention = policy.retention
    if retention is None:
        raise ValueError(f"policy {policy.name!r} has no retention")
    labels = {"policy": policy.name, **(labels or {})}
    describe = RateLimiter(policy.rate_limit).acquire
    owner = Owner(policy.name, stack)

    def planned(inv: DiskSnapshots, exists: bool) -> DiskPlan:
        plan = plan_disk(inv, policy, exists=exists, now=now)
        return plan if detail else plan.compact()

    if retention.orphans.action == "prune":
        found = region_snapshots(ecs, region, owner=owner, pin_tag=retention.pin_tag, pace=describe)
        ours = {d: inv for d, inv in found.items() if inv.ours}
        alive = existing_disks(ecs, region, ours)
        disks = [planned(inv, d in alive) for d, inv in ours.items()]
    else:

        def read(disk_id: str) -> DiskPlan | None:
            inv = disk_snapshots(ecs, region, disk_id, owner=owner, pin_tag=retention.pin_tag, pace=describe)
            return planned(inv, exists=True) if inv.ours else None

        disk_ids = [d.disk_id for d in resolve(ecs, region, policy.selector)]
        disks = [p for p in _parallel(read, disk_ids, policy.concurrency) if p is not None]
    plan = PrunePlan(policy, sorted(disks, key=lambda p: p.disk_id))
    report = PruneReport(plan, dry_run=dry_run, breaker=plan.breaker_reason())
    deleter = Deleter(ecs, logger, labels, RateLimiter(policy.rate_limit).acquire, policy.concurrency)
    deletions = plan.deletions
    if dry_run is not None:
        report.results = deleter.skip(deletions, Deletion.DRY_RUN, dry_run)
    elif report.breaker is not None:
        logger.error(
            "mass-deletion breaker tripped: nothing deleted", extra={**labels, "reason": report.breaker}
        )
        report.results = deleter.skip(deletions, Deletion.BREAKER, report.breaker)
    else:
        report.results = deleter.run(deletions)
    return report


def _parallel(work: Callable[[str], T], items: list[str], concurrency: int) -> list[T]:
    with ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(items))), thread_name_prefix="snapstack-read"
    ) as pool:
        return list(pool.map(work, items))


#: The first-run marker must outlive any pause between runs (token records expire by default).
MARKER_TTL_SECONDS = 100 * 365 * 86400.0
#: What the marker records in place of a snapshot id once the first (dry) run was reported.
FIRST_RUN_DONE = "prune-first-run-reported"


def first_run(table: TokenTable, *, stack: str, policy: str, owner: str) -> Callable[[], None] | None:
    """Whether this is ``policy``'s first prune run in ``stack``: a callable that records the
    first run as done (call it once the dry run has been reported), or None when it ran before.

    The marker is a token-table record (``table`` opened with ``MARKER_TTL_SECONDS``). A run
    that finds another one holding the marker right now is treated as a first run too.
    """
    token = client_token(slot_key("prune-first-run", stack=stack, policy=policy))
    claim = table.claim(token, owner, meta={"kind": "prune-first-run", "stack": stack, "policy": policy})
    if claim.outcome is ClaimOutcome.DONE:
        return None
    if not claim.owned:
        return lambda: None  # another run holds the marker: it records the first run, not us

    def reported() -> None:
        table.complete(token, owner, FIRST_RUN_DONE)

    return reported
