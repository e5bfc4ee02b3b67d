"""One reconciler run: bring every open slot the sources name to an end, or to its deadline.

1. **Verify.** Snapshots of ours that ECS reports ``failed`` reopen their slot (CREATED ->
   FAILED retryable, next ClientToken generation: ``TokenTable.reopen``), so step 3 retries them
   in the same run. One region-wide DescribeSnapshots (``Status=failed``), usually one page.
2. **Collect** the sources' work, merged by token (``reconcile/work.py``).
3. **Decide** per slot:
   - its deadline passed -> *abandoned*: the slot is taken through the claim protocol, looked up
     by its ``snapstack:slot`` tag when in doubt (a snapshot found completes it instead), and
     recorded FAILED for good (``Reconcile.DeadlinePassed``) with one ERROR line
     (``alert: SlotAbandoned``) giving disk, policy, slot and age;
   - a final failure kept only for its doubt -> looked up the same way, then left failed;
   - no request stored -> *unreadable* (closed at its deadline);
   - otherwise it is due. At most one due slot per disk per run (earliest deadline first): a disk
     takes one snapshot at a time, so a second policy's slot waits for the first one's snapshot
     instead of meeting ``IncorrectDiskStatus.CreatingSnapshot`` on every try. A disk with a
     snapshot in progress (DescribeSnapshots ``Status=progressing``) waits too, without a claim
     and without spending an attempt — unless that snapshot is the slot's own (it is adopted).
4. **Re-drive** the due slots with the executor (``execute.py``): the same claim, tag lookup,
   mark-sent and generation rules as every delivery, so a run racing a normal delivery can never
   make a second snapshot for a slot. Its bound is the slot's deadline, not a delivery count: a
   slot the executor gave up on after its deliveries is re-armed first.
5. **Settle**: each source gets the results of its own work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeVar

from snapstack.ecs.errors import EcsError
from snapstack.execute import (
    START_MARGIN_SECONDS,
    DiskResult,
    Executor,
    Intent,
    InvocationAbort,
    Outcome,
    table_call,
)
from snapstack.observability import log_fields
from snapstack.reconcile import inventory
from snapstack.reconcile.deadlines import DEFAULT_EVENT_MAX_AGE_SECONDS
from snapstack.reconcile.meta import LABELS
from snapstack.reconcile.sources import gave_up
from snapstack.reconcile.work import SlotResult, SourceContext, SourceUnavailable, Verdict, Work
from snapstack.targets import find_slot_snapshots
from snapstack.tokens.base import (
    ClaimOutcome,
    ClaimResult,
    RearmRefused,
    TokenRecord,
    TokenState,
    TokenTableError,
)

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.ecs.retry import Deadline
    from snapstack.execute import RunStats
    from snapstack.ratelimit import RateLimiter
    from snapstack.reconcile.inventory import SnapshotInfo
    from snapstack.reconcile.work import WorkSource
    from snapstack.tokens.base import TokenTable

T = TypeVar("T")

#: The error code of a slot closed because its deadline passed.
ABANDON_CODE = "Reconcile.DeadlinePassed"
#: The reconciler's executor is bounded by deadlines, never by a delivery count.
NO_DELIVERY_BOUND = 2**31
_BUSY = "IncorrectDiskStatus.CreatingSnapshot"
_VERDICTS = {
    Outcome.CREATED: Verdict.REPAIRED,
    Outcome.DEDUPLICATED: Verdict.DONE,
    Outcome.IN_PROGRESS: Verdict.OPEN,
    Outcome.DEFERRED: Verdict.OPEN,
    Outcome.SKIPPED: Verdict.SKIPPED,
    Outcome.FAILED: Verdict.FAILED,
}


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601, UTC, second precision."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunReport:
    """What one run did: a result per slot, the reopened snapshots, and what it could not do."""

    results: list[SlotResult] = field(default_factory=list)
    reopened: list[SnapshotInfo] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a source or a step that could not run
    fatal: InvocationAbort | None = None  # the executor stopped (table refused us, account-level)


@dataclass
class Reconciler:
    """Runs the steps of the module docstring. ``now``: the run's clock for deadlines (epoch)."""

    ecs: EcsClient
    table: TokenTable
    owner: str
    logger: Logger
    stats: RunStats
    deadline: Deadline
    now: float
    limiter: RateLimiter
    concurrency: int = 4
    lease_seconds: float | None = None
    event_max_age: float = DEFAULT_EVENT_MAX_AGE_SECONDS
    sleep: Callable[[float], None] = time.sleep
    _rng: random.Random = field(default_factory=random.Random)

    @property
    def region(self) -> str:
        """The region the run works in (the ECS client's)."""
        return self.ecs.config.region_id

    def run(self, sources: Sequence[WorkSource]) -> RunReport:
        """Steps 1-5 of the module docstring."""
        report = RunReport()
        report.reopened = self._verify(report)
        context = SourceContext(self.table, self.ecs, self.region, self.now, self.logger)
        work, origins = self._collect(sources, context, report)
        due: list[Work] = []
        for item in work.values():
            result = self._decide(item)
            if result is None:
                due.append(item)
            else:
                report.results.append(result)
        go, queued = _one_per_disk(due, self._deadline_of)
        report.results += [self._queued(item, first) for item, first in queued]
        waiting, ready = self._busy(go)
        report.results += waiting
        redriven, fatal = self._redrive(ready)
        report.results += redriven
        report.fatal = fatal
        self._settle(sources, origins, report)
        return report

    # -- 1. verify -----------------------------------------------------------------------------------

    def _verify(self, report: RunReport) -> list[SnapshotInfo]:
        try:
            failed = inventory.failed_snapshots(self.ecs, self.region)
            records = self._table(lambda: self.table.get_many(s.slot_token for s in failed)) if failed else {}
        except (EcsError, TokenTableError) as exc:
            report.errors.append(f"could not check created snapshots: {exc}")
            self.logger.error("could not check created snapshots", extra=log_fields(error=str(exc)))
            return []
        reopened = []
        for snap in failed:
            record = records.get(snap.slot_token)
            if (
                record is None
                or record.state is not TokenState.CREATED
                or record.snapshot_id != snap.snapshot_id
            ):
                continue  # not ours to reopen, or reopened (and retried) already
            if not self._reopen(record, snap, report):
                continue
            self.logger.warning(
                "snapshot failed at ECS: its slot gets a new attempt",
                extra=log_fields(
                    alert="SnapshotFailedAtEcs",
                    snapshot_id=snap.snapshot_id,
                    disk_id=snap.disk_id,
                    slot_token=record.token,
                    **_labels(record),
                ),
            )
            reopened.append(snap)
        return reopened

    def _reopen(self, record: TokenRecord, snap: SnapshotInfo, report: RunReport) -> bool:
        detail = f"snapshot {snap.snapshot_id} ended failed at ECS; the slot gets a new attempt"
        try:
            self._table(lambda: self.table.reopen(record.token, snap.snapshot_id, detail=detail))
        except (RearmRefused, LookupError):
            return False  # another run got there first
        except TokenTableError as exc:
            report.errors.append(f"could not reopen {record.token}: {exc}")
            return False
        return True

    # -- 2. collect ----------------------------------------------------------------------------------

    def _collect(
        self, sources: Sequence[WorkSource], context: SourceContext, report: RunReport
    ) -> tuple[dict[str, Work], dict[str, set[str]]]:
        """The work by token (the item that carries a record, when one does) and who named it."""
        work: dict[str, Work] = {}
        origins: dict[str, set[str]] = {}
        for source in sources:
            try:
                for item in source.collect(context):
                    origins.setdefault(item.token, set()).add(source.name)
                    known = work.get(item.token)
                    if known is None or (known.record is None and item.record is not None):
                        work[item.token] = item
            except (EcsError, TokenTableError, SourceUnavailable) as exc:
                report.errors.append(f"source {source.name}: {exc}")
                self.logger.error(
                    "a reconciler source could not be read",
                    extra=log_fields(source=source.name, error=str(exc)),
                )
        bare = [t for t, w in work.items() if w.record is None]
        if bare:  # a source that knows a slot otherwise: what its record says decides the path
            try:
                found = self._table(lambda: self.table.get_many(bare))
            except TokenTableError as exc:
                report.errors.append(f"could not read the records of {len(bare)} slot(s): {exc}")
                found = {}
            for token, record in found.items():
                work[token] = dataclasses.replace(work[token], record=record)
        return work, origins

    # -- 3. decide -----------------------------------------------------------------------------------

    def _deadline_of(self, item: Work) -> float:
        if item.slot.deadline is not None:
            return item.slot.deadline
        start = item.record.created_at if item.record is not None else self.now
        return start + self.event_max_age

    def _decide(self, item: Work) -> SlotResult | None:
        """The result for a slot settled without the executor, or None when it is due."""
        record = item.record
        deadline = self._deadline_of(item)
        if self.now >= deadline:
            attempts = record.attempts if record is not None else 0
            last = (
                f"{record.error_code}: {record.detail}" if record is not None and record.error_code else None
            )
            why = f"slot deadline {iso(deadline)} passed after {attempts} attempt(s)" + (
                f"; last: {last}" if last else ""
            )
            return self._close(item, ABANDON_CODE, why, abandon=True)
        final = record is not None and record.state is TokenState.FAILED and not record.retryable
        if final and record is not None and not gave_up(record):  # kept for its doubt: look, leave it failed
            return self._close(item, record.error_code or "Unknown", record.detail or "", abandon=False)
        if item.slot.request is None:
            self.logger.warning(
                "open slot holds no request to re-drive it with; closed at its deadline",
                extra=log_fields(disk_id=item.slot.disk_id, slot_token=item.token, deadline=iso(deadline)),
            )
            return self._result(item, Verdict.UNREADABLE, Outcome.DEFERRED, message="no request stored")
        return None

    def _close(self, item: Work, code: str, detail: str, *, abandon: bool) -> SlotResult:
        """Take the slot, look it up by tag if in doubt, and record it failed for good."""
        token, disk = item.token, item.slot.disk_id
        if self.deadline.remaining() < START_MARGIN_SECONDS:
            return self._result(
                item, Verdict.OPEN, Outcome.DEFERRED, "Invocation.TimeUp", "too little time left"
            )
        try:
            claim = self._take(token)
        except TokenTableError as exc:
            return self._result(item, Verdict.OPEN, Outcome.DEFERRED, "TokenTable.Unavailable", str(exc))
        if claim is None:
            return self._result(item, Verdict.OPEN, Outcome.DEFERRED, message="its record expired meanwhile")
        if claim.outcome is ClaimOutcome.DONE:
            done = claim.record.snapshot_id
            return self._result(item, Verdict.DONE, Outcome.DEDUPLICATED, snapshot_id=done)
        if claim.outcome is ClaimOutcome.BUSY:
            return self._result(item, Verdict.OPEN, Outcome.IN_PROGRESS, message="held by a live delivery")
        if not claim.owned:  # a final failure another run recorded meanwhile
            failed = claim.record
            return self._result(item, Verdict.FAILED, Outcome.FAILED, failed.error_code, failed.detail)
        try:
            if claim.record.in_doubt:
                found = [
                    s for s in find_slot_snapshots(self.ecs, self.region, disk, token) if s.status != "failed"
                ]
                if found:
                    made = found[0].snapshot_id
                    self._table(lambda: self.table.complete(token, self.owner, made))
                    return self._result(
                        item,
                        Verdict.DONE,
                        Outcome.DEDUPLICATED,
                        snapshot_id=made,
                        message="found by its slot tag",
                    )
            self._table(
                lambda: self.table.fail(
                    token, self.owner, code, retryable=False, in_doubt=False, detail=detail[:240]
                )
            )
        except EcsError as exc:
            self._release(token, exc.code, f"could not look the slot up: {exc.message}")
            return self._result(item, Verdict.OPEN, Outcome.DEFERRED, exc.code, exc.message)
        except TokenTableError as exc:
            return self._result(item, Verdict.OPEN, Outcome.DEFERRED, "TokenTable.Unavailable", str(exc))
        if not abandon:
            return self._result(
                item, Verdict.FAILED, Outcome.FAILED, code, f"{detail} (looked up: no snapshot)"
            )
        record = item.record
        self.logger.error(
            "slot abandoned: its deadline passed",
            extra=log_fields(
                alert="SlotAbandoned",
                disk_id=disk,
                slot_token=token,
                error_code=record.error_code if record is not None else None,
                error=detail,
                # Since the slot's first claim, on the table's clock (the one its records keep).
                age_seconds=round(self.table.clock() - record.created_at) if record is not None else None,
                attempts=record.attempts if record is not None else None,
                deadline=iso(self._deadline_of(item)),
                **item.slot.labels,
            ),
        )
        return self._result(item, Verdict.ABANDONED, Outcome.FAILED, ABANDON_CODE, detail)

    def _take(self, token: str) -> ClaimResult | None:
        """Claim ``token`` for this run, re-arming a final failure first; None: no live record."""
        current = self._table(lambda: self.table.get(token))
        if current is None:
            return None
        if current.state is TokenState.FAILED and not current.retryable:
            self._rearm(token)
        return self._table(lambda: self.table.claim(token, self.owner, lease_seconds=self.lease_seconds))

    def _rearm(self, token: str) -> None:
        """Make a final failure claimable again; a record that moved on is left to the claim."""
        with contextlib.suppress(RearmRefused, LookupError):
            self._table(lambda: self.table.rearm(token, by="the reconciler"))

    def _release(self, token: str, code: str, detail: str) -> None:
        with contextlib.suppress(TokenTableError):  # else the lease runs out on its own
            self._table(lambda: self.table.fail(token, self.owner, code, retryable=True, detail=detail[:240]))

    def _queued(self, item: Work, first: Work) -> SlotResult:
        return self._result(
            item,
            Verdict.WAITING,
            Outcome.DEFERRED,
            _BUSY,
            f"another slot of this disk goes first ({first.token}); one snapshot at a time",
        )

    def _busy(self, items: list[Work]) -> tuple[list[SlotResult], list[Work]]:
        """Split ``items`` into those whose disk has a snapshot in progress (waiting) and the rest."""
        waiting, ready = [], []
        for item in items:
            try:
                running = inventory.progressing(self.ecs, self.region, item.slot.disk_id)
            except EcsError as exc:
                self.logger.warning(
                    "could not tell whether the disk is busy; re-driving anyway",
                    extra=log_fields(disk_id=item.slot.disk_id, error_code=exc.code, error=exc.message),
                )
                running = None
            if running is None or running.slot_token == item.token:
                ready.append(item)
                continue
            why = f"waiting for {running.snapshot_id} ({running.progress or 'progressing'}) to finish"
            self.logger.info(
                "slot waits: its disk has a snapshot in progress",
                extra=log_fields(
                    disk_id=item.slot.disk_id,
                    slot_token=item.token,
                    snapshot_id=running.snapshot_id,
                    **item.slot.labels,
                ),
            )
            waiting.append(self._result(item, Verdict.WAITING, Outcome.DEFERRED, _BUSY, why))
        return waiting, ready

    # -- 4. re-drive ---------------------------------------------------------------------------------

    def _redrive(self, items: list[Work]) -> tuple[list[SlotResult], InvocationAbort | None]:
        if not items:
            return [], None
        for item in items:
            if item.record is not None and gave_up(item.record):
                with contextlib.suppress(TokenTableError):  # the executor's claim meets it, and defers
                    self._rearm(item.token)
        executor = Executor(
            ecs=self.ecs,
            table=self.table,
            owner=self.owner,
            limiter=self.limiter,
            deadline=self.deadline,
            logger=self.logger,
            stats=self.stats,
            lease_seconds=self.lease_seconds,
            max_deliveries=NO_DELIVERY_BOUND,
            sleep=self.sleep,
        )
        intents = [_intent(item) for item in items]
        done = executor.run(intents, self.concurrency)
        return [self._from_disk(item, r) for item, r in zip(items, done, strict=True)], executor.fatal

    def _from_disk(self, item: Work, result: DiskResult) -> SlotResult:
        verdict = _VERDICTS[result.outcome]
        if result.outcome is Outcome.DEFERRED and result.error_code == _BUSY:
            verdict = Verdict.WAITING
        return self._result(
            item, verdict, result.outcome, result.error_code, result.message, snapshot_id=result.snapshot_id
        )

    # -- 5. settle -----------------------------------------------------------------------------------

    def _settle(self, sources: Sequence[WorkSource], origins: dict[str, set[str]], report: RunReport) -> None:
        by_token = {r.token: r for r in report.results}
        for source in sources:
            mine = {t: by_token[t] for t, names in origins.items() if source.name in names and t in by_token}
            try:
                source.settle(mine)
            except (EcsError, TokenTableError, SourceUnavailable) as exc:
                report.errors.append(f"source {source.name}: {exc}")

    # -- helpers -------------------------------------------------------------------------------------

    def _table(self, call: Callable[[], T]) -> T:
        """A token-table call, retried while the table answers "not now"."""
        return table_call(call, deadline=self.deadline, rng=self._rng, sleep=self.sleep)

    @staticmethod
    def _result(
        item: Work,
        verdict: Verdict,
        outcome: Outcome,
        error_code: str | None = None,
        message: str | None = None,
        *,
        snapshot_id: str | None = None,
    ) -> SlotResult:
        return SlotResult(
            token=item.token,
            disk_id=item.slot.disk_id,
            verdict=verdict,
            outcome=outcome,
            policy=item.slot.labels.get("policy", ""),
            slot=item.slot.labels.get("slot", ""),
            snapshot_id=snapshot_id,
            error_code=error_code,
            message=message,
            origin=item.origin,
        )


def _one_per_disk(
    items: list[Work], deadline_of: Callable[[Work], float]
) -> tuple[list[Work], list[tuple[Work, Work]]]:
    """The earliest-deadline slot of each disk, and the others with the slot that goes first."""
    first: dict[str, Work] = {}
    for item in sorted(items, key=lambda w: (deadline_of(w), w.token)):
        first.setdefault(item.slot.disk_id, item)
    chosen = list(first.values())
    queued = [(w, first[w.slot.disk_id]) for w in items if first[w.slot.disk_id] is not w]
    return chosen, queued


def _intent(item: Work) -> Intent:
    slot = item.slot
    if slot.request is None:  # _decide sends these elsewhere
        raise ValueError(f"slot {item.token} has no request")
    return Intent(
        disk_id=slot.disk_id,
        instance_id=slot.instance_id,
        slot_key=item.token,  # the key itself is not stored; the token is what identifies the slot
        token=item.token,
        request=slot.request,
        labels=slot.labels,
        deadline=slot.deadline,
    )


def _labels(record: TokenRecord) -> dict[str, str]:
    return {k: record.meta[k] for k in LABELS if k in record.meta}
