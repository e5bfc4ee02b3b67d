"""Turn snapshot intents into snapshots: claim, look up, send, record — once per slot.

The protocol, per intent (the record's states are in ``tokens/base.py``):

1. **Read in bulk.** Before a batch (one listing page) is worked on, its slots' records are read
   in one bulk call: a slot already CREATED is ``deduplicated`` and one that failed for good is
   reported, with no claim and no ECS call, and the slots an earlier delivery left unfinished
   go first, so a redelivery spends its time on the unfinished disks.
2. **Claim** the slot token. Only the owner goes on; a live claim elsewhere is ``in_progress``.
3. **Hold** a disk planning found not snapshottable *yet* (its instance is starting or
   stopping): recorded as a retryable failure, no ECS call, ``deferred``.
4. **Look up before resending.** When the record is ``in_doubt`` (an earlier request of the slot
   may have reached ECS: a takeover of a SENT claim, a create whose record write failed, an
   ambiguous failure), the slot is looked up at ECS by its ``snapstack:slot`` tag first; a
   snapshot found completes the record (``deduplicated``). Nothing relies on ECS still
   remembering a ClientToken.
5. **Mark sent, then send.** The record becomes SENT with the ClientToken generation about to be
   used, then CreateSnapshot goes out. The token is kept across ambiguous retries (no answer,
   5xx, IdempotentProcessing); after a definitive error answer the next retry first records the
   next generation (and looks the slot up if an earlier attempt was in doubt), so no token whose
   first answer was an error is sent again. ``IdempotentParameterMismatch`` looks the slot up:
   the snapshot that exists is the slot's, with a warning naming what changed.
6. **Record** the outcome: CREATED with the snapshot id; a retryable failure (``deferred``) with
   the generation the next attempt must use; a final one (``skipped``/``failed``). A slot that has
   been worked on by ``max_deliveries`` deliveries and still cannot finish ends ``failed``
   ("gave up after N deliveries") instead of deferring forever.

Streaming (``Executor.stream``): a plan arrives as batches, one per listing page. While the
workers claim and create one page's disks, the calling thread lists and plans the next, so
creating starts after the first page instead of after the whole fleet; at most ``concurrency +
QUEUE_DEPTH`` intents wait or run at once, so memory is bounded by pages and workers in flight,
not by the fleet. Each result goes to a ``sink`` as it is decided (with its log line), never into
a list the size of the fleet. When the invocation is about to run out of time (or was stopped) no
further page is listed (``Executor.halted`` says why): the next delivery lists again and settles
every page the token table already records as done from one bulk read, with no claim.
``run_one`` is the protocol for one intent and ``run`` the same over any iterable of intents,
results in order (for callers whose intents are few).

Leases: before every CreateSnapshot attempt (rate-limiter waits and retry backoffs included) the
owner renews its lease when less than ``read timeout + LEASE_MARGIN_SECONDS`` is left, so a slow
create path never outlives the lease; a renewal that finds the claim taken over stops the owner.

Table trouble: every token-table call is retried with backoff (``ecs/retry.py``, ``TABLE_RETRY``)
before it counts; a call that still fails means the table is down: that disk and the rest of
the invocation's disks are ``deferred`` with no ECS call (never a snapshot without a record), so a
hung backend costs one retry window per disk in flight. A table that refuses our credentials or
does not exist (``TokenTableFatal``) and account- or credential-level ECS errors
(``EcsError.invocation_wide``) stop the invocation: ``Executor.fatal`` is set and the handler
fails the invocation for FC to retry, instead of failing every disk.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict

from snapstack.collector import tuned_collector
from snapstack.ecs.errors import Disposition, EcsError, classify
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.ecs.retry import call_with_retries
from snapstack.observability import Latency, log_fields
from snapstack.reconcile.meta import redrive_meta
from snapstack.tokens.base import (
    ClaimOutcome,
    LeaseLost,
    TokenRecord,
    TokenState,
    TokenTableError,
    TokenTableFatal,
    TokenTableUnavailable,
)
from snapstack.tokens.slots import client_token_at

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.ecs.retry import Deadline
    from snapstack.ratelimit import RateLimiter
    from snapstack.retention.quota import QuotaGuard
    from snapstack.targets import SlotSnapshot
    from snapstack.tokens.base import TokenTable

T = TypeVar("T")

#: Stop starting new disks when less than this is left of the invocation.
START_MARGIN_SECONDS = 5.0
#: Deliveries that may work on one slot before it ends failed (FC's default async policy delivers
#: an event at most 4 times: the first try and 3 retries).
DEFAULT_MAX_DELIVERIES = 4
#: A lease is renewed before an attempt when less than the read timeout plus this is left.
LEASE_MARGIN_SECONDS = 10.0
#: Intents that may wait for a worker beyond those running: about one listing page, so the
#: workers always have work while the next page is listed (``Executor.stream``).
QUEUE_DEPTH = 500
#: ``Executor.run`` reads slot records in bulk this many intents at a time.
RUN_BATCH = 500


class Outcome(str, enum.Enum):
    """What happened to one disk in this invocation."""

    CREATED = "created"
    DEDUPLICATED = "deduplicated"  # a snapshot for this slot already exists
    IN_PROGRESS = "in_progress"  # another invocation holds the slot's lease right now
    DEFERRED = "deferred"  # a retryable condition outlasted this invocation's budget
    SKIPPED = "skipped"  # nothing to snapshot (the taxonomy's SKIP)
    DENIED = "denied"  # outside the allow-list, or refused by policy (e.g. an alarm cap); no ECS call
    FAILED = "failed"


class Hold(BaseModel):
    """Why planning holds a disk back for now (its instance is in a transitional state)."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class Intent(BaseModel):
    """One snapshot to take: the disk, its slot and the complete request.

    ``token`` is the slot token (the record's key and the ``snapstack:slot`` tag); the request's
    ClientToken is the token at the record's generation, set when it is sent. ``deadline``
    (epoch seconds) is when the reconciler stops re-driving the slot (``reconcile/deadlines.py``).
    The first claim stores the request, the instance and the deadline in the record's meta
    (``reconcile/meta.py``), so the reconciler can re-drive the slot from its record alone.
    """

    model_config = ConfigDict(frozen=True)

    disk_id: str
    instance_id: str | None
    slot_key: str
    token: str
    request: CreateSnapshotRequest
    labels: dict[str, str]  # policy, trigger, slot: carried into logs and the record's meta
    hold: Hold | None = None
    deadline: float | None = None


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
    warning: str | None = None


@dataclass
class RunStats:
    """Counters the workers share (lock-guarded); constant size whatever the number of disks."""

    errors: Counter[str] = field(default_factory=Counter)
    latency: Latency = field(default_factory=Latency)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw_error(self, error: EcsError) -> None:
        """Every failed ECS attempt, including those a retry later fixed."""
        with self.lock:
            self.errors[error.code] += 1

    def saw_latency(self, ms: float) -> None:
        """One CreateSnapshot call's wall time, retries included."""
        with self.lock:
            self.latency.add(ms)


@dataclass(frozen=True)
class Batch:
    """One page of a plan, as ``Executor.stream`` takes it.

    ``intents`` to run; ``results`` decided without ECS (denied, refused by a request rule,
    settled from the token table), logged with ``labels``; ``records``: the intents' slot
    records when the planner has read them already (None: the executor reads them in bulk).
    """

    intents: Sequence[Intent] = ()
    results: Sequence[DiskResult] = ()
    records: Mapping[str, TokenRecord] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


#: Where ``Executor.stream`` sends each decided disk: its result, and its intent (None for a
#: result the plan decided). Called from worker threads.
Sink = Callable[[DiskResult, "Intent | None"], None]


class InvocationAbort(Exception):
    """An error that stops the whole invocation (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _Stop(Exception):
    """Raised from inside a create call when the owner must stop (its claim changed hands)."""


@dataclass
class _Attempt:
    """One owner's work on one slot in this invocation."""

    intent: Intent
    request: CreateSnapshotRequest
    generation: int
    doubt: bool  # a request of this slot may have made a snapshot we do not know of
    deliveries: int
    lease_until: float
    found: list[SlotSnapshot] | None = None
    lost: str | None = None  # why the owner had to stop mid-call
    lost_by: TokenTableError | None = None  # the table error that stopped it
    sent: int = 0  # CreateSnapshot requests this owner let out in this call

    @property
    def client_token(self) -> str:
        return client_token_at(self.intent.token, self.generation)


@dataclass
class Executor:
    """Runs intents against ECS and the token table (see the module docstring)."""

    ecs: EcsClient
    table: TokenTable
    owner: str
    limiter: RateLimiter
    deadline: Deadline
    logger: Logger
    stats: RunStats
    lease_seconds: float | None = None
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    sleep: Callable[[float], None] = time.sleep
    #: The clock CreateSnapshot latencies are measured on (seconds; a test passes a controlled one).
    timer: Callable[[], float] = time.perf_counter
    #: Set when the token table failed to answer in this invocation (see the module docstring).
    table_down: threading.Event = field(default_factory=threading.Event)
    #: The first error that stops the whole invocation, if any.
    fatal: InvocationAbort | None = None
    #: Why ``stream`` stopped listing before its batches ran out, if it did.
    halted: str | None = None
    #: Makes room on a disk near its 256 manual snapshots before CreateSnapshot (retention/quota.py).
    quota_guard: QuotaGuard | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=random.Random)

    def run(self, intents: Iterable[Intent], concurrency: int) -> list[DiskResult]:
        """Every intent's result, in the order given (``stream`` over batches of ``RUN_BATCH``).

        Holds every result: for callers whose intents are few. An intent the stream did not reach
        (the invocation stopped) is decided by ``run_one``, which defers it with no call.
        """
        given = list(intents)
        results: dict[int, DiskResult] = {}
        position = {id(intent): n for n, intent in enumerate(given)}

        def keep(result: DiskResult, intent: Intent | None) -> None:
            if intent is not None:
                results[position[id(intent)]] = result

        batches = (Batch(given[i : i + RUN_BATCH]) for i in range(0, len(given), RUN_BATCH))
        self.stream(batches, concurrency, keep)
        return [results[n] if n in results else self.run_one(i) for n, i in enumerate(given)]

    @tuned_collector()
    def stream(
        self, batches: Iterable[Batch], concurrency: int, sink: Sink, *, listed: Batch | None = None
    ) -> None:
        """Work through ``batches`` (see the module docstring); each decided disk goes to ``sink``.

        The next batch is pulled (listed and planned, when ``batches`` is a planner's stream)
        while the workers run the previous one. ``concurrency`` 1 runs every intent on the calling
        thread, in order. Raises what pulling a batch raised (a listing that failed), after the
        intents already started have finished and reached ``sink``. The garbage collector is
        tuned while it runs (``collector.py``: its pauses stop every worker).

        ``listed``: a batch the caller pulled already. It is worked first, also when the
        invocation must stop (each of its intents then defers itself), so no disk that was
        listed goes unreported; the stop only keeps further pages from being listed.
        """
        workers = max(1, concurrency)
        if workers == 1:
            for batch in self._until_halted(batches, listed):
                for intent in self._open(batch, sink):
                    sink(self.run_one(intent), intent)
            return
        room = threading.Semaphore(workers + QUEUE_DEPTH)
        broken: list[BaseException] = []

        def finish(intent: Intent) -> None:
            try:
                sink(self.run_one(intent), intent)
            except BaseException as exc:  # a defect: re-raised on the calling thread below
                broken.append(exc)
            finally:
                room.release()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapstack") as pool:
            for batch in self._until_halted(batches, listed):
                for intent in self._open(batch, sink):
                    room.acquire()
                    if broken:
                        break
                    pool.submit(finish, intent)
                if broken:
                    break
        if broken:
            raise broken[0]

    def run_one(self, intent: Intent) -> DiskResult:
        """The whole protocol for one intent (claim, look up, send, record) and its log line."""
        result = self._decide(intent)
        self._log(intent, result)
        return result

    def read_slots(self, tokens: Iterable[str]) -> dict[str, TokenRecord]:
        """The live records of ``tokens`` in one bulk read; empty when the table does not answer
        (each claim then finds out for itself, and defers if the table is down)."""
        if self.table_down.is_set():
            return {}
        wanted = list(tokens)  # each retry reads them all again: an iterator is spent by the first
        try:
            return self._table(lambda: self.table.get_many(wanted))
        except TokenTableError:
            return {}

    @property
    def stopping(self) -> str | None:
        """Why no further disk may start now, if so: the invocation stopped, or its time is up."""
        if self.fatal is not None:
            return f"the invocation stopped ({self.fatal.code})"
        if self.deadline.remaining() < START_MARGIN_SECONDS:
            return "too little time left in this invocation"
        return None

    # -- the protocol --------------------------------------------------------------------------------

    def _until_halted(self, batches: Iterable[Batch], listed: Batch | None) -> Iterator[Batch]:
        """``listed``, then ``batches`` until the invocation must stop: then no further page is
        listed."""
        source = iter(batches)
        try:
            if listed is not None:
                yield listed
            while True:
                why = self.stopping
                if why is not None:
                    self.halted = why
                    return
                batch = next(source, None)
                if batch is None:
                    return
                yield batch
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a planner's generator: stop it listing

    def _open(self, batch: Batch, sink: Sink) -> list[Intent]:
        """Report the batch's decided disks and its slots already settled; return the rest, to
        work on, the slots an earlier delivery left unfinished first."""
        for result in batch.results:
            log_decision(self.logger, result, batch.labels)
            sink(result, None)
        if not batch.intents:
            return []
        records = batch.records
        if records is None:
            records = self.read_slots(i.token for i in batch.intents)
        pending = []
        for intent in batch.intents:
            done = settled(intent.disk_id, intent.token, records.get(intent.token))
            if done is None:
                pending.append(intent)
            else:
                self._log(intent, done)
                sink(done, intent)
        pending.sort(key=lambda i: i.token not in records)  # stable: recorded (unfinished) ones first
        return pending

    def _log(self, intent: Intent, result: DiskResult) -> None:
        log_decision(self.logger, result, intent.labels, instance_id=intent.instance_id)

    def _decide(self, intent: Intent) -> DiskResult:
        base = _base(intent)
        if self.fatal is not None:
            return DiskResult(
                **base,
                outcome=Outcome.DEFERRED,
                error_code=self.fatal.code,
                message=f"the invocation stopped: {self.fatal.message} (no ECS call made)",
            )
        if self.deadline.remaining() < START_MARGIN_SECONDS:
            return DiskResult(
                **base,
                outcome=Outcome.DEFERRED,
                error_code="Invocation.TimeUp",
                message="too little time left in this invocation to start",
            )
        if self.table_down.is_set():
            return _table_down(base, "the token table did not answer earlier in this invocation")
        meta = {
            "disk_id": intent.disk_id,
            **intent.labels,
            **_fixed_values(intent.request),
            **redrive_meta(intent.request, intent.instance_id, intent.deadline),
        }
        try:
            claim = self._table(
                lambda: self.table.claim(
                    intent.token, self.owner, lease_seconds=self.lease_seconds, meta=meta
                )
            )
        except TokenTableUnavailable as exc:
            return _table_down(base, str(exc))
        except TokenTableFatal as exc:
            return self._abort_on(base, "TokenTable.Fatal", str(exc))
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
            return _recorded_failure(base, record)
        attempt = _Attempt(
            intent=intent,
            request=_fixed_request(intent.request, record),
            generation=record.generation,
            doubt=record.in_doubt,
            deliveries=record.attempts,
            lease_until=record.lease_until,
        )
        return self._work(attempt, base)

    def _work(self, attempt: _Attempt, base: dict[str, Any]) -> DiskResult:
        intent = attempt.intent
        if intent.hold is not None:
            return self._defer(attempt, base, intent.hold.code, f"{intent.hold.message} (no ECS call made)")
        if attempt.doubt:
            try:
                found = self._lookup(intent)
            except EcsError as exc:
                return self._defer(
                    attempt,
                    base,
                    exc.code,
                    f"could not look the slot up at ECS before resending: {exc.message}",
                )
            if found:
                return self._adopt(
                    attempt, base, found, "made by an earlier delivery (found by its slot tag)"
                )
            attempt.doubt = False
        if self.quota_guard is not None:  # before the record says SENT: a refusal sends nothing
            refused = self.quota_guard.before_create(intent.disk_id)
            if refused is not None:
                return self._after_error(attempt, base, refused, 0.0)
        return self._create(attempt, base)

    def _create(self, attempt: _Attempt, base: dict[str, Any]) -> DiskResult:
        intent = attempt.intent
        try:
            sent = self._table(
                lambda: self.table.mark_sent(
                    intent.token, self.owner, generation=attempt.generation, lease_seconds=self.lease_seconds
                )
            )
        except LeaseLost as exc:
            return DiskResult(**base, outcome=Outcome.IN_PROGRESS, message=f"{exc} (no ECS call made)")
        except TokenTableUnavailable as exc:
            return _table_down(base, str(exc))
        except TokenTableFatal as exc:
            return self._abort_on(base, "TokenTable.Fatal", str(exc))
        except TokenTableError as exc:
            return DiskResult(
                **base,
                outcome=Outcome.FAILED,
                error_code="TokenTable.Error",
                message=f"{exc} (no ECS call made)",
            )
        attempt.lease_until = sent.lease_until
        prior_doubt = attempt.doubt  # the record says in doubt from here (mark_sent); set below on error
        request = attempt.request.model_copy(update={"client_token": attempt.client_token})
        started = self.timer()
        try:
            created = self.ecs.create_snapshot(
                request,
                pace=lambda: self._pace(attempt),
                renew=lambda e, d: self._renew(attempt, e, d or prior_doubt),
            )
        except _Stop:
            latency = (self.timer() - started) * 1000
            return self._stopped(attempt, base, latency_ms=round(latency, 1))
        except EcsError as exc:
            latency = (self.timer() - started) * 1000
            self.stats.saw_latency(latency)
            if attempt.found:
                return self._adopt(
                    attempt, base, attempt.found, "made by an earlier attempt (found by its slot tag)"
                )
            if attempt.lost is not None:
                return self._stopped(attempt, base)
            # Definitive answer to a clean slot: nothing is in doubt; else keep what we knew.
            attempt.doubt = exc.may_have_acted or prior_doubt or exc.attempts > 1
            if not exc.keeps_token:
                attempt.generation += 1
            if exc.code == "QuotaExceed.Snapshot" and self.quota_guard is not None:
                exc = self.quota_guard.explain(intent.disk_id, exc)
            return self._after_error(attempt, base, exc, latency)
        latency = (self.timer() - started) * 1000
        self.stats.saw_latency(latency)
        message = None
        try:
            self._table(lambda: self.table.complete(intent.token, self.owner, created.snapshot_id))
        except TokenTableError as exc:
            # The snapshot exists and the record says SENT (in doubt): the next owner finds it by tag.
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

    def _pace(self, attempt: _Attempt) -> None:
        """Before each CreateSnapshot attempt: the rate limit, then the lease if it runs low."""
        self.limiter.acquire()
        needed = self.ecs.config.read_timeout_ms / 1000 + LEASE_MARGIN_SECONDS
        if attempt.lease_until - self.table.clock() >= needed:
            attempt.sent += 1
            return
        try:
            renewed = self._table(
                lambda: self.table.renew_lease(
                    attempt.intent.token, self.owner, lease_seconds=self.lease_seconds
                )
            )
        except TokenTableError as exc:
            self._saw_table_error(exc)
            attempt.lost = f"could not renew the lease before sending: {exc}"
            attempt.lost_by = exc
            raise _Stop from exc
        attempt.lease_until = renewed.lease_until
        attempt.sent += 1

    def _renew(self, attempt: _Attempt, error: EcsError, in_doubt: bool) -> str | None:
        """Before a retry after a definitive answer: the next generation, recorded first; or None."""
        intent = attempt.intent
        if in_doubt or error.code == "IdempotentParameterMismatch":
            try:
                found = self._lookup(intent)
            except EcsError:
                return None  # cannot tell whether a snapshot exists: stop, the record stays in doubt
            if found:
                attempt.found = found
                return None
        generation = attempt.generation + 1
        try:
            sent = self._table(
                lambda: self.table.mark_sent(
                    intent.token, self.owner, generation=generation, lease_seconds=self.lease_seconds
                )
            )
        except TokenTableError as exc:
            self._saw_table_error(exc)
            attempt.lost = f"could not record the next ClientToken generation: {exc}"
            attempt.lost_by = exc
            return None
        attempt.generation = generation
        attempt.lease_until = sent.lease_until
        return attempt.client_token

    def _stopped(self, attempt: _Attempt, base: dict[str, Any], **detail: Any) -> DiskResult:
        """The owner stopped mid-call because a table write failed: the table is down (deferred),
        refused us (the invocation stops), or the claim changed hands (``in_progress`` elsewhere)."""
        why = attempt.lost or "stopped"
        if isinstance(attempt.lost_by, TokenTableUnavailable):
            return _table_down(base, why, called=attempt.sent > 0)
        if isinstance(attempt.lost_by, TokenTableFatal):
            return self._abort_on(base, "TokenTable.Fatal", why, **detail)
        return DiskResult(**base, outcome=Outcome.IN_PROGRESS, message=why, **detail)

    def _after_error(
        self, attempt: _Attempt, base: dict[str, Any], exc: EcsError, latency: float
    ) -> DiskResult:
        detail = {"attempts": exc.attempts, "latency_ms": round(latency, 1)}
        if exc.code == "IdempotentParameterMismatch":
            try:
                found = self._lookup(attempt.intent)
            except EcsError:
                found = []
            if found:
                return self._adopt(
                    attempt,
                    base,
                    found,
                    "the slot's snapshot exists (ClientToken used with other parameters)",
                )
        if exc.invocation_wide:
            self._record(attempt, exc.code, retryable=True, detail=exc.message)
            return self._abort_on(base, exc.code, exc.message, **detail)
        if exc.disposition is Disposition.RETRY:
            return self._defer(attempt, base, exc.code, exc.message, **detail)
        outcome = Outcome.SKIPPED if exc.disposition is Disposition.SKIP else Outcome.FAILED
        message = self._record(attempt, exc.code, retryable=False, detail=exc.message)
        return DiskResult(**base, outcome=outcome, error_code=exc.code, message=message, **detail)

    def _defer(
        self, attempt: _Attempt, base: dict[str, Any], code: str, message: str, **detail: Any
    ) -> DiskResult:
        """A retryable end: deferred, or failed for good once ``max_deliveries`` have tried."""
        if attempt.deliveries < self.max_deliveries:
            note = self._record(attempt, code, retryable=True, detail=message)
            return DiskResult(**base, outcome=Outcome.DEFERRED, error_code=code, message=note, **detail)
        if attempt.doubt:
            try:
                found = self._lookup(attempt.intent)
            except EcsError:
                found = []
            if found:
                return self._adopt(attempt, base, found, "made by an earlier attempt (found by its slot tag)")
        gave_up = f"gave up after {attempt.deliveries} deliveries: {message}"
        note = self._record(attempt, code, retryable=False, detail=gave_up)
        return DiskResult(**base, outcome=Outcome.FAILED, error_code=code, message=note, **detail)

    def _record(self, attempt: _Attempt, code: str, *, retryable: bool, detail: str) -> str:
        """Write the attempt's failure; returns the message (noting a write that did not happen)."""
        try:
            self._table(
                lambda: self.table.fail(
                    attempt.intent.token,
                    self.owner,
                    code,
                    retryable=retryable,
                    generation=attempt.generation,
                    in_doubt=attempt.doubt,
                    detail=detail[:240],
                )
            )
        except TokenTableError as exc:
            self._saw_table_error(exc)
            return f"{detail}; failure not recorded: {exc}"
        return detail

    def _lookup(self, intent: Intent) -> list[SlotSnapshot]:
        """The slot's live snapshots at ECS (by its tag), oldest first."""
        from snapstack.targets import find_slot_snapshots

        found = find_slot_snapshots(self.ecs, self.ecs.config.region_id, intent.disk_id, intent.token)
        return [s for s in found if s.status != "failed"]

    def _adopt(
        self, attempt: _Attempt, base: dict[str, Any], found: list[SlotSnapshot], why: str
    ) -> DiskResult:
        """Complete the record with the slot's snapshot that already exists."""
        snap = found[0]
        notes = []
        changed = _changed_fields(snap, attempt.request)
        if changed:
            notes.append(f"the request changed since that snapshot was made: {', '.join(changed)}")
        if len(found) > 1:
            notes.append(
                f"{len(found)} snapshots carry this slot's tag: {', '.join(s.snapshot_id for s in found)}"
            )
        message = why
        try:
            self._table(lambda: self.table.complete(attempt.intent.token, self.owner, snap.snapshot_id))
        except TokenTableError as exc:
            self._saw_table_error(exc)
            message = f"{why}; not recorded: {exc}"
        return DiskResult(
            **base,
            outcome=Outcome.DEDUPLICATED,
            snapshot_id=snap.snapshot_id,
            message=message,
            warning="; ".join(notes) or None,
        )

    # -- helpers -------------------------------------------------------------------------------------

    def _table(self, call: Callable[[], T]) -> T:
        """A token-table call, retried while the table answers "not now" (``ecs/retry.py``)."""
        try:
            return table_call(call, deadline=self.deadline, rng=self._rng, sleep=self.sleep)
        except TokenTableError as exc:
            self._saw_table_error(exc)
            raise

    def _saw_table_error(self, exc: TokenTableError) -> None:
        if isinstance(exc, TokenTableUnavailable):
            self.table_down.set()
        elif isinstance(exc, TokenTableFatal):
            self._set_fatal("TokenTable.Fatal", str(exc))

    def _set_fatal(self, code: str, message: str) -> None:
        with self._lock:
            if self.fatal is None:
                self.fatal = InvocationAbort(code, message)

    def _abort_on(self, base: dict[str, Any], code: str, message: str, **detail: Any) -> DiskResult:
        self._set_fatal(code, message)
        return DiskResult(
            **base,
            outcome=Outcome.DEFERRED,
            error_code=code,
            message=f"{message} (stops the invocation: FC retries it)",
            **detail,
        )


def log_decision(
    logger: Logger, result: DiskResult, labels: Mapping[str, str], *, instance_id: str | None = None
) -> None:
    """One disk's ``snapshot decision`` log line: the full detail the summary may leave out."""
    if result.outcome is Outcome.FAILED:
        log = logger.error
    elif result.warning:
        log = logger.warning
    else:
        log = logger.info
    log(
        "snapshot decision",
        extra=log_fields(
            disk_id=result.disk_id,
            instance_id=instance_id,
            slot_token=result.token or None,
            outcome=result.outcome.value,
            snapshot_id=result.snapshot_id,
            error_code=result.error_code,
            error=result.message,
            warning=result.warning,
            attempt=result.attempts or None,
            latency_ms=result.latency_ms,
            **labels,
        ),
    )


def table_call(
    call: Callable[[], T], *, deadline: Deadline, rng: random.Random, sleep: Callable[[float], None]
) -> T:
    """``call()`` (a token-table call), retried with backoff while the table answers "not now"
    (``TokenTableUnavailable``; ``ecs/retry.py``'s ``TABLE_RETRY``); the last error is raised."""
    return call_with_retries(
        call,
        retryable=lambda e: isinstance(e, TokenTableUnavailable),
        deadline=deadline,
        rng=rng,
        sleep=sleep,
    )


def _base(intent: Intent) -> dict[str, Any]:
    return {"disk_id": intent.disk_id, "token": intent.token}


def settled(disk_id: str, token: str, record: TokenRecord | None) -> DiskResult | None:
    """The result of a slot whose record is terminal (step 1), or None when there is work to do."""
    if record is None:
        return None
    base = {"disk_id": disk_id, "token": token}
    if record.state is TokenState.CREATED:
        return DiskResult(**base, outcome=Outcome.DEDUPLICATED, snapshot_id=record.snapshot_id)
    if record.state is TokenState.FAILED and not record.retryable:
        return _recorded_failure(base, record)
    return None


def _table_down(base: dict[str, Any], why: str, *, called: bool = False) -> DiskResult:
    # Deferred, not failed: FC's retry of this event finishes the disk once the table is back.
    note = "the slot is in doubt: the next delivery looks it up first" if called else "no ECS call made"
    return DiskResult(
        **base,
        outcome=Outcome.DEFERRED,
        error_code="TokenTable.Unavailable",
        message=f"{why} ({note})",
    )


def _recorded_failure(base: dict[str, Any], record: TokenRecord) -> DiskResult:
    code = record.error_code or "Unknown"
    skipped = classify(code).disposition is Disposition.SKIP and "gave up" not in (record.detail or "")
    why = f" ({record.detail})" if record.detail else ""
    return DiskResult(
        **base,
        outcome=Outcome.SKIPPED if skipped else Outcome.FAILED,
        error_code=code,
        message=f"recorded by an earlier run{why}; not retried (`snapstack tokens retry` re-arms it)",
    )


#: Request values fixed per slot: the first delivery's are stored in the record's meta and reused.
_FIXED = {"snapshot_name": "name", "description": "description"}


def _fixed_values(request: CreateSnapshotRequest) -> dict[str, str]:
    values = {key: getattr(request, attr) for attr, key in _FIXED.items()}
    return {key: value for key, value in values.items() if isinstance(value, str)}


def _fixed_request(request: CreateSnapshotRequest, record: TokenRecord) -> CreateSnapshotRequest:
    """The request with the values this slot's first delivery used (an event time in a name...)."""
    update = {attr: record.meta[key] for attr, key in _FIXED.items() if key in record.meta}
    return request.model_copy(update=update) if update else request


def _changed_fields(snap: SlotSnapshot, request: CreateSnapshotRequest) -> list[str]:
    """Which of the request's values differ from the snapshot that exists (for the warning)."""
    changed = []
    if request.snapshot_name is not None and snap.name != request.snapshot_name:
        changed.append(f"SnapshotName ({snap.name!r} -> {request.snapshot_name!r})")
    if request.description is not None and snap.description != request.description:
        changed.append("Description")
    if snap.retention_days != request.retention_days:
        changed.append(f"RetentionDays ({snap.retention_days} -> {request.retention_days})")
    wanted = {t.key: t.value for t in request.tags}
    if {k: v for k, v in snap.tags.items() if k in wanted} != wanted:
        changed.append("Tags")
    return changed
