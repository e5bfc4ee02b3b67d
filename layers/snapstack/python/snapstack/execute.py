"""Turn snapshot intents into snapshots: claim the token, create, record — once per slot.

For each intent: claim its ClientToken in the token table; only the owner calls
CreateSnapshot, with that same token, so ECS-side idempotence backs the table up; then the
record is completed or failed. Every ECS error ends where the taxonomy says: retryable ones
(after the client's own retries) are *deferred* and stay claimable, skips are *skipped*,
the rest *failed*. A token table that cannot be reached means no ECS call at all (never a
snapshot without a record) and a *deferred* disk, so FC's retry finishes it. Once the table
has failed to answer, the rest of the invocation's disks are deferred without asking it again:
a hung backend costs one timeout per disk in flight, not one per disk. Work runs on a bounded
thread pool behind one shared rate limiter.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from snapstack.ecs.errors import Disposition, EcsError, classify
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.observability import log_fields
from snapstack.tokens.base import ClaimOutcome, TokenTableError, TokenTableUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.ecs.retry import Deadline
    from snapstack.ratelimit import RateLimiter
    from snapstack.retention.quota import QuotaGuard
    from snapstack.tokens.base import TokenTable

#: Stop starting new disks when less than this is left of the invocation.
START_MARGIN_SECONDS = 5.0


class Outcome(str, enum.Enum):
    """What happened to one disk in this invocation."""

    CREATED = "created"
    DEDUPLICATED = "deduplicated"  # a snapshot for this slot already exists
    IN_PROGRESS = "in_progress"  # another invocation holds the slot's lease right now
    DEFERRED = "deferred"  # a retryable condition outlasted this invocation's budget
    SKIPPED = "skipped"  # nothing to snapshot (the taxonomy's SKIP)
    FAILED = "failed"


class Intent(BaseModel):
    """One snapshot to take: the disk, its slot and the complete request."""

    model_config = ConfigDict(frozen=True)

    disk_id: str
    instance_id: str | None
    slot_key: str
    token: str
    request: CreateSnapshotRequest
    labels: dict[str, str]  # policy, trigger, slot: carried into logs and the record's meta


class DiskResult(BaseModel):
    """The outcome for one disk."""

    model_config = ConfigDict(frozen=True)

    disk_id: str
    outcome: Outcome
    token: str
    snapshot_id: str | None = None
    error_code: str | None = None
    message: str | None = None
    attempts: int = 0
    latency_ms: float | None = None


@dataclass
class RunStats:
    """Counters the workers share (lock-guarded)."""

    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw_error(self, error: EcsError) -> None:
        """Every failed ECS attempt, including those a retry later fixed."""
        with self.lock:
            self.errors[error.code] += 1

    def saw_latency(self, ms: float) -> None:
        """One CreateSnapshot call's wall time, retries included."""
        with self.lock:
            self.latencies_ms.append(ms)


@dataclass
class Executor:
    """Runs intents against ECS and the token table."""

    ecs: EcsClient
    table: TokenTable
    owner: str
    limiter: RateLimiter
    deadline: Deadline
    logger: Logger
    stats: RunStats
    lease_seconds: float | None = None
    #: Set when the token table failed to answer in this invocation (see the module docstring).
    table_down: threading.Event = field(default_factory=threading.Event)
    #: Makes room on a disk near its 256 manual snapshots before CreateSnapshot (retention/quota.py).
    quota_guard: QuotaGuard | None = None

    def run(self, intents: Sequence[Intent], concurrency: int) -> list[DiskResult]:
        """Every intent's result, in the order given."""
        if not intents:
            return []
        workers = max(1, min(concurrency, len(intents)))
        if workers == 1:
            return [self._one(i) for i in intents]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapstack") as pool:
            return list(pool.map(self._one, intents))

    def _one(self, intent: Intent) -> DiskResult:
        result = self._decide(intent)
        log = self.logger.error if result.outcome is Outcome.FAILED else self.logger.info
        log(
            "snapshot decision",
            extra=log_fields(
                disk_id=intent.disk_id,
                instance_id=intent.instance_id,
                slot_token=intent.token,
                outcome=result.outcome.value,
                snapshot_id=result.snapshot_id,
                error_code=result.error_code,
                error=result.message,
                attempt=result.attempts or None,
                latency_ms=result.latency_ms,
                **intent.labels,
            ),
        )
        return result

    def _decide(self, intent: Intent) -> DiskResult:
        base: dict[str, Any] = {"disk_id": intent.disk_id, "token": intent.token}
        if self.deadline.remaining() < START_MARGIN_SECONDS:
            return DiskResult(
                **base,
                outcome=Outcome.DEFERRED,
                error_code="Invocation.TimeUp",
                message="too little time left in this invocation to start",
            )
        if self.table_down.is_set():
            return DiskResult(
                **base,
                outcome=Outcome.DEFERRED,
                error_code="TokenTable.Unavailable",
                message="the token table did not answer earlier in this invocation (no ECS call made)",
            )
        try:
            claim = self.table.claim(
                intent.token,
                self.owner,
                lease_seconds=self.lease_seconds,
                meta={"disk_id": intent.disk_id, **intent.labels},
            )
        except TokenTableUnavailable as exc:
            # Deferred, not failed: FC's retry of this event finishes the disk once the table is back.
            self.table_down.set()
            return DiskResult(
                **base,
                outcome=Outcome.DEFERRED,
                error_code="TokenTable.Unavailable",
                message=f"{exc} (no ECS call made)",
            )
        except TokenTableError as exc:
            return DiskResult(
                **base,
                outcome=Outcome.FAILED,
                error_code="TokenTable.Error",
                message=f"{exc} (no ECS call made)",
            )
        record = claim.record
        if claim.outcome is ClaimOutcome.DONE:
            return DiskResult(**base, outcome=Outcome.DEDUPLICATED, snapshot_id=record.snapshot_id)
        if claim.outcome is ClaimOutcome.BUSY:
            return DiskResult(
                **base,
                outcome=Outcome.IN_PROGRESS,
                message=f"claimed by {record.owner} until {record.lease_until:.0f}",
            )
        if claim.outcome is ClaimOutcome.FAILED:
            code = record.error_code or "Unknown"
            skipped = classify(code).disposition is Disposition.SKIP
            return DiskResult(
                **base,
                outcome=Outcome.SKIPPED if skipped else Outcome.FAILED,
                error_code=code,
                message="recorded by an earlier run; not retried",
            )
        return self._create(intent, base)

    def _create(self, intent: Intent, base: dict[str, Any]) -> DiskResult:
        if self.quota_guard is not None:
            refused = self.quota_guard.before_create(intent.disk_id)
            if refused is not None:
                return self._record_failure(intent, base, refused, 0.0)
        started = time.perf_counter()
        try:
            created = self.ecs.create_snapshot(intent.request, pace=self.limiter.acquire)
        except EcsError as exc:
            latency = (time.perf_counter() - started) * 1000
            self.stats.saw_latency(latency)
            if exc.code == "QuotaExceed.Snapshot" and self.quota_guard is not None:
                exc = self.quota_guard.explain(intent.disk_id, exc)
            return self._record_failure(intent, base, exc, latency)
        latency = (time.perf_counter() - started) * 1000
        self.stats.saw_latency(latency)
        message = None
        try:
            self.table.complete(intent.token, self.owner, created.snapshot_id)
        except TokenTableError as exc:
            # The snapshot exists; the claim will expire and the next run completes the record
            # through the same ClientToken (ECS answers with this SnapshotId again).
            self._saw_table_error(exc)
            message = f"snapshot created but not recorded: {exc}"
        return DiskResult(
            **base,
            outcome=Outcome.CREATED,
            snapshot_id=created.snapshot_id,
            attempts=created.attempts,
            latency_ms=round(latency, 1),
            message=message,
        )

    def _saw_table_error(self, exc: TokenTableError) -> None:
        if isinstance(exc, TokenTableUnavailable):
            self.table_down.set()

    def _record_failure(
        self, intent: Intent, base: dict[str, Any], exc: EcsError, latency: float
    ) -> DiskResult:
        outcome = {
            Disposition.RETRY: Outcome.DEFERRED,
            Disposition.SKIP: Outcome.SKIPPED,
            Disposition.FAIL: Outcome.FAILED,
        }[exc.disposition]
        message = exc.message
        try:
            self.table.fail(intent.token, self.owner, exc.code, retryable=exc.retryable)
        except TokenTableError as table_exc:
            self._saw_table_error(table_exc)
            message = f"{message}; failure not recorded: {table_exc}"
        return DiskResult(
            **base,
            outcome=outcome,
            error_code=exc.code,
            message=message,
            attempts=exc.attempts,
            latency_ms=round(latency, 1),
        )
