"""The executor on its own (``execute.py``): what the end-to-end tests do not pin — latency, the
lease margin, ClientToken generations and look-ups, the delivery bound, table and ECS failures at
each step of the protocol, the order disks are worked on, the queue's bound, stopping.

Every test drives the official ECS SDK over a real socket against the emulator and a real token
table: SQLite in ``tmp_path`` (another connection's write lock makes it stop answering), or a
private redis-server whose ACLs are revoked mid-run (a table that refuses us), or our Tablestore
emulator whose row another writer replaces (a record the table cannot read back). Time is a
hand-moved clock (the token table's, the deadline's, the rate limiter's, the latency timer's),
never the wall clock; what happens "while the owner waits" runs in the rate limiter's wait.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.emulator.fleet import generate_fleet
from devkit.emulator.testing import EcsEmulator
from devkit.redis_server import RedisServer
from snapstack.collector import GEN0_THRESHOLD
from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.ecs.retry import Deadline, RetryPolicy
from snapstack.execute import Batch, DiskResult, Executor, Hold, Intent, Outcome, RunStats, log_decision
from snapstack.handlers.planning import build_intents
from snapstack.policy.model import Policy, Selector
from snapstack.policy.retention import Retention
from snapstack.ratelimit import RateLimiter
from snapstack.retention.quota import QuotaGuard
from snapstack.targets import DISK_PAGE_SIZE, Disk
from snapstack.tokens import open_table
from snapstack.tokens.base import TokenRecord, TokenTable
from tests.clock import Clock

DISKS = 8
READ_TIMEOUT_MS = 10_500  # with LEASE_MARGIN_SECONDS (10): a send needs 20.5 s of lease left


@dataclass
class Rig:
    """An executor against ``emulator`` and a SQLite table on a hand-moved clock."""

    emulator: EcsEmulator
    tmp_path: Path
    clock: Clock = field(default_factory=Clock)
    # 123.44 ms per reading (reported to a tenth: 123.4), from 5 ms: a start below the span
    # keeps "end - start" honest
    timer: Clock = field(default_factory=lambda: Clock(0.005, 0.12344))
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=3, base_delay=0.01))
    busy_timeout: float = 5.0  # how long a write waits for another writer's lock (SQLite)

    def table(self) -> TokenTable:
        return open_table(
            f"sqlite:///{self.tmp_path}/tokens.db", clock=self.clock, busy_timeout=self.busy_timeout
        )

    def ecs(self, stats: RunStats | None = None) -> EcsClient:
        creds = self.emulator.credentials
        config = EcsConfig(
            "cn-hangzhou",
            endpoint=self.emulator.endpoint,
            protocol="http",
            read_timeout_ms=READ_TIMEOUT_MS,
            retry=self.policy,
        )
        credentials = Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)
        # Every failed attempt is counted, as the handlers wire it (handlers/runtime.py).
        on_error = None if stats is None else stats.saw_error
        return EcsClient(config, credentials, sleep=lambda _s: None, on_error=on_error)

    def executor(self, **options: Any) -> Executor:
        stats = RunStats()
        values: dict[str, Any] = {
            "ecs": self.ecs(stats),
            "table": self.table(),
            "owner": "test-owner",
            "limiter": RateLimiter(1000),
            "deadline": Deadline(None),
            "logger": logging.getLogger("snapstack-test"),
            "stats": stats,
            "sleep": lambda _s: None,
            "timer": self.timer,
            **options,
        }
        return Executor(**values)

    def record(self, intent: Intent) -> TokenRecord:
        found = self.table().get(intent.token)
        assert found is not None
        return found


def intents_for(count: int) -> list[Intent]:
    policy = Policy(name="daily", selector=Selector(all_disks=True))
    disks = [Disk(disk_id=f"d-gen-{n:06d}", instance_id=f"i-gen-{n // 4:05d}") for n in range(count)]
    intents, refused = build_intents(
        policy, disks, trigger="timer", slot_parts={"slot": "s1"}, slot="20261127"
    )
    assert not refused
    return intents


def snapshots_of(emu: EcsEmulator, intent: Intent) -> list[dict[str, Any]]:
    return emu.state.snapshots(intent.disk_id)


def renewals(record: TokenRecord, writes: int) -> int:
    """Lease renewals in a record's history: its version counts every write since the claim
    (which starts it at the claim time in ms), ``writes`` of them the protocol's own."""
    return record.version - int(record.created_at * 1000) - writes


@pytest.fixture
def emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator(fleet=generate_fleet(DISKS, snapshot_seconds=0)) as emu:
        yield emu


@pytest.fixture
def rig(emulator: EcsEmulator, tmp_path: Path) -> Rig:
    return Rig(emulator, tmp_path)


# --- latency ----------------------------------------------------------------------------------------


def test_a_created_disk_reports_its_create_calls_latency_in_ms_to_a_tenth(rig):
    executor = rig.executor()
    (intent,) = intents_for(1)
    result = executor.run_one(intent)
    assert result.outcome is Outcome.CREATED and result.attempts == 1
    assert result.latency_ms == 123.4  # the timer moved 123.44 ms over the call
    stats = executor.stats.latency
    assert (
        stats.count == 1 and stats.total_ms == pytest.approx(123.44) and stats.max_ms == pytest.approx(123.44)
    )


def test_a_failed_create_reports_its_latency_too(emulator, rig):
    emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "InstanceLockedForSecurity", "times": 1}]}}}
    )
    executor = rig.executor()
    (intent,) = intents_for(1)
    result = executor.run_one(intent)
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "InstanceLockedForSecurity")
    assert result.latency_ms == 123.4 and result.attempts == 1
    assert executor.stats.latency.count == 1 and executor.stats.latency.total_ms == pytest.approx(123.44)
    assert emulator.calls("DescribeSnapshots") == 0  # a plain refusal: nothing to look up
    assert rig.record(intent).retryable is False  # a final failure: the next delivery reports it


# --- time left and the lease before each send -------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_left", "outcome"),
    [(5.0, Outcome.CREATED), (4.999, Outcome.DEFERRED)],  # START_MARGIN_SECONDS is 5
)
def test_a_disk_starts_only_with_the_start_margin_left(emulator, rig, seconds_left, outcome):
    deadline = Deadline(seconds_left, clock=Clock())
    (intent,) = intents_for(1)
    result = rig.executor(deadline=deadline).run_one(intent)
    assert result.outcome is outcome
    if outcome is Outcome.DEFERRED:
        assert result.error_code == "Invocation.TimeUp"
        assert result.message == "too little time left in this invocation to start"
        assert emulator.calls("CreateSnapshot") == 0 and rig.table().get(intent.token) is None


@pytest.mark.parametrize(
    ("lease_seconds", "renewed"),
    [
        (20.5, 0),  # exactly the read timeout (10.5 s) + the margin (10 s) left: enough
        (20.495, 1),  # less: renewed before CreateSnapshot goes out
    ],
)
def test_the_lease_is_renewed_before_a_send_when_less_than_read_timeout_plus_margin_is_left(
    rig, lease_seconds, renewed
):
    executor = rig.executor(lease_seconds=lease_seconds)
    (intent,) = intents_for(1)
    assert executor.run_one(intent).outcome is Outcome.CREATED
    assert renewals(rig.record(intent), writes=2) == renewed  # mark_sent and complete


# --- ClientToken generations ------------------------------------------------------------------------


def test_the_first_send_uses_the_slot_token_itself(emulator, rig):
    (intent,) = intents_for(1)
    assert rig.executor().run_one(intent).outcome is Outcome.CREATED
    (snap,) = snapshots_of(emulator, intent)
    assert snap["client_token"] == intent.token


@pytest.mark.parametrize("refusal", ["Throttling", "CreateSnapshot.Failed"])
def test_a_retry_after_a_definitive_answer_records_and_sends_the_next_generation(emulator, rig, refusal):
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": refusal, "times": 1}]}}})
    executor = rig.executor()
    (intent,) = intents_for(1)
    result = executor.run_one(intent)
    assert (result.outcome, result.attempts) == (Outcome.CREATED, 2)
    (snap,) = snapshots_of(emulator, intent)
    assert snap["client_token"] == f"{intent.token}-g1"
    assert rig.record(intent).generation == 1
    assert executor.stats.errors == {refusal: 1}  # the refusal a retry fixed still counts
    assert emulator.calls("DescribeSnapshots") == 0  # nothing was in doubt: no look-up


def test_a_refusal_after_an_unanswered_attempt_looks_the_slot_up_before_the_next_generation(emulator, rig):
    """The 5xx may have made the snapshot (here it did): before a new ClientToken goes out, the
    slot is looked up, and the snapshot found is the slot's, with no second one."""
    errors = [{"code": "InternalError", "times": 1}, {"code": "Throttling", "times": 1}]
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": errors}}})
    (intent,) = intents_for(1)
    with_slot_snapshot(emulator, intent)  # what the unanswered attempt made
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.snapshot_id) == (Outcome.DEDUPLICATED, "s-slot")
    assert result.message == "made by an earlier attempt (found by its slot tag)"
    assert emulator.calls("CreateSnapshot") == 2 and emulator.calls("DescribeSnapshots") == 1
    assert len(snapshots_of(emulator, intent)) == 1


def test_a_lost_answer_on_a_clean_slot_leaves_it_in_doubt_and_the_next_delivery_finds_it(emulator, rig):
    emulator.faults.configure({"apis": {"CreateSnapshot": {"drop_after_commit": {"times": 1}}}})
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    first = rig.executor().run_one(intent)
    assert first.outcome is Outcome.DEFERRED and first.attempts == 1
    stored = rig.record(intent)
    assert stored.in_doubt and stored.generation == 0  # no answer: the same token may be resent
    (made,) = snapshots_of(emulator, intent)

    again = rig.executor(owner="next-delivery").run_one(intent)
    assert (again.outcome, again.snapshot_id) == (Outcome.DEDUPLICATED, made["snapshot_id"])
    assert len(snapshots_of(emulator, intent)) == 1


def test_a_definitive_answer_after_an_unanswered_attempt_leaves_the_slot_in_doubt(emulator, rig):
    """The 5xx may have made the snapshot: the refusal that followed does not settle that."""
    errors = [{"code": "InternalError", "times": 1}, {"code": "InstanceLockedForSecurity", "times": 1}]
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": errors}}})
    (intent,) = intents_for(1)
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.error_code, result.attempts) == (
        Outcome.FAILED,
        "InstanceLockedForSecurity",
        2,
    )
    assert rig.record(intent).in_doubt


@pytest.mark.parametrize(
    ("fault", "generation", "in_doubt"),
    [
        ({"errors": [{"code": "Throttling", "times": 1}]}, 1, False),  # refused: that token is spent
        ({"drop_after_commit": {"times": 1}}, 0, True),  # no answer: the same token is sent again
    ],
)
def test_a_deferral_records_the_generation_the_next_delivery_must_send(
    emulator, rig, fault, generation, in_doubt
):
    emulator.faults.configure({"apis": {"CreateSnapshot": fault}})
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    assert rig.executor().run_one(intent).outcome is Outcome.DEFERRED
    stored = rig.record(intent)
    assert (stored.generation, stored.in_doubt, stored.retryable) == (generation, in_doubt, True)


@pytest.mark.parametrize(("max_attempts", "outcome"), [(2, Outcome.CREATED), (1, Outcome.DEFERRED)])
def test_a_look_up_that_finds_nothing_settles_the_doubt(emulator, rig, max_attempts, outcome):
    """A slot in doubt is looked up once; when nothing is there, a refused send is a plain
    refusal: its retry is not looked up again, and a deferral after it is not in doubt."""
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 1}]}}})
    rig.policy = RetryPolicy(max_attempts=max_attempts, base_delay=0.01)
    (intent,) = intents_for(1)
    table = rig.table()
    table.claim(intent.token, "earlier", lease_seconds=20)
    table.mark_sent(intent.token, "earlier", generation=0, lease_seconds=20)
    rig.clock.now += 60
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.attempts) == (outcome, max_attempts)
    assert emulator.calls("DescribeSnapshots") == 1 and emulator.calls("CreateSnapshot") == max_attempts
    stored = rig.record(intent)
    assert (stored.generation, stored.in_doubt) == (1, False)


@pytest.mark.parametrize("refusal", ["CreateSnapshot.Failed", "DiskInArrears", "InstanceLockedForSecurity"])
def test_a_refusal_that_ends_the_create_is_not_looked_up(emulator, rig, refusal):
    """Only IdempotentParameterMismatch (or a doubt) sends the executor to look the slot up."""
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": refusal, "times": 1}]}}})
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    result = rig.executor().run_one(intent)
    assert result.error_code == refusal and result.outcome in (Outcome.DEFERRED, Outcome.FAILED)
    assert emulator.calls("DescribeSnapshots") == 0


def with_slot_snapshot(emulator: EcsEmulator, intent: Intent) -> None:
    emulator.state.add_snapshots(
        [{"snapshot_id": "s-slot", "disk_id": intent.disk_id, "tags": {"snapstack:slot": intent.token}}]
    )


@pytest.mark.parametrize(
    ("max_attempts", "message"),
    [
        (1, "the slot's snapshot exists (ClientToken used with other parameters)"),  # no retry left
        (3, "made by an earlier attempt (found by its slot tag)"),  # looked up before the retry
    ],
)
def test_a_token_used_with_other_parameters_resolves_to_the_slots_snapshot(
    emulator, rig, max_attempts, message
):
    emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "IdempotentParameterMismatch", "times": 1}]}}}
    )
    rig.policy = RetryPolicy(max_attempts=max_attempts, base_delay=0.01)
    (intent,) = intents_for(1)
    with_slot_snapshot(emulator, intent)
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.snapshot_id, result.message) == (Outcome.DEDUPLICATED, "s-slot", message)
    assert result.warning is not None and "carry this slot's tag" not in result.warning  # it is the only one
    assert emulator.calls("CreateSnapshot") == 1 and emulator.calls("DescribeSnapshots") == 1
    assert rig.record(intent).snapshot_id == "s-slot"


def limiter_that_waits(then: Callable[[], None], *, drained: bool = True) -> RateLimiter:
    """A rate limiter on a hand-moved clock whose waits run ``then`` (what happens meanwhile);
    ``drained``: its bucket is empty, so the first send already waits."""
    clock = Clock()

    def wait(seconds: float) -> None:
        clock.now += seconds
        then()

    limiter = RateLimiter(1, burst=1, clock=clock, sleep=wait)
    if drained:
        limiter.acquire()
    return limiter


@contextmanager
def another_writer(rig: Rig) -> Iterator[Callable[[], None]]:
    """A callable that makes another connection take the SQLite file's write lock: from then on
    the table answers no write (``TokenTableUnavailable`` after a short busy timeout)."""
    rig.busy_timeout = 0.01
    connection = sqlite3.connect(rig.tmp_path / "tokens.db", isolation_level=None)
    try:
        yield lambda: connection.execute("BEGIN IMMEDIATE")
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


IN_DOUBT = "the slot is in doubt: the next delivery looks it up first"


@pytest.mark.parametrize(
    ("sent", "lease_seconds", "note"),
    [
        (0, 21, "no ECS call made"),
        (1, 21, IN_DOUBT),  # the first send needed no renewal
        (1, 15, IN_DOUBT),  # the first send went out after a renewal
    ],
)
def test_a_table_that_stops_answering_before_a_send_defers_the_disk(rig, sent, lease_seconds, note):
    """Another writer locks the SQLite file while the owner waits for the rate limiter: the
    lease cannot be renewed, so nothing more is sent and the disk is deferred, saying whether a
    request already went out."""
    emulator = rig.emulator
    if sent:  # the first send is refused, and its retry waits for the limiter
        emulator.faults.configure(
            {"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 1}]}}}
        )
    (intent,) = intents_for(1)
    with another_writer(rig) as lock:

        def meanwhile() -> None:
            rig.clock.now += 1  # with a 21 s lease, less than 20.5 s is left: it must be renewed
            lock()

        limiter = limiter_that_waits(meanwhile, drained=not sent)
        executor = rig.executor(limiter=limiter, lease_seconds=lease_seconds)
        result = executor.run_one(intent)
    assert (result.outcome, result.error_code) == (Outcome.DEFERRED, "TokenTable.Unavailable")
    assert result.message is not None
    assert result.message.startswith("could not renew the lease before sending")
    assert result.message.endswith(f"({note})")
    assert executor.table_down.is_set() and emulator.calls("CreateSnapshot") == sent


def test_a_table_that_cannot_record_the_next_generation_stops_the_retry(rig):
    """After a refusal the next ClientToken generation is recorded before it is sent; when the
    table cannot take it, nothing more is sent and the disk is deferred in doubt."""
    rig.emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 1}]}}}
    )
    (intent,) = intents_for(1)
    with another_writer(rig) as lock:  # locked after mark_sent, before the first send
        result = rig.executor(limiter=limiter_that_waits(lock), lease_seconds=300).run_one(intent)
    assert (result.outcome, result.error_code) == (Outcome.DEFERRED, "TokenTable.Unavailable")
    assert result.message is not None
    assert result.message.startswith("could not record the next ClientToken generation: ")
    assert result.message.endswith(f"({IN_DOUBT})")
    assert rig.emulator.calls("CreateSnapshot") == 1
    assert rig.record(intent).generation == 0


def test_a_table_error_of_no_known_kind_fails_the_disk_with_no_call(emulator, rig):
    """An error the table does not classify (here: SQLite told not to create a missing file)
    fails the claim's disk, with no ECS call; the next delivery tries again."""
    table = open_table(f"sqlite:///{rig.tmp_path}/missing.db", create=False)
    result = rig.executor(table=table).run_one(intents_for(1)[0])
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "TokenTable.Error")
    assert result.message is not None and result.message.endswith("(no ECS call made)")
    assert emulator.calls("CreateSnapshot") == 0


@pytest.mark.parametrize(
    ("refusal", "outcome", "message"),
    [
        (None, Outcome.CREATED, "snapshot created but not recorded: "),
        (
            "InstanceLockedForSecurity",
            Outcome.FAILED,
            "The disk attached instance is locked due to security.",
        ),
    ],
)
def test_an_outcome_the_table_cannot_record_says_so(rig, refusal, outcome, message):
    """The table stops answering while CreateSnapshot is out: the disk's result still says what
    ECS did, and that the record could not be written (the slot stays SENT, in doubt)."""
    if refusal:
        rig.emulator.faults.configure(
            {"apis": {"CreateSnapshot": {"errors": [{"code": refusal, "times": 1}]}}}
        )
    (intent,) = intents_for(1)
    with another_writer(rig) as lock:
        # A lease long enough that the send needs no renewal: the lock is first felt after it.
        executor = rig.executor(limiter=limiter_that_waits(lock), lease_seconds=300)
        result = executor.run_one(intent)
    assert result.outcome is outcome and result.message is not None
    assert result.message.startswith(message)
    if refusal:
        assert "; failure not recorded: " in result.message
    else:
        assert result.snapshot_id is not None
    stored = rig.record(intent)
    assert (stored.state.value, stored.in_doubt) == ("sent", True)
    assert executor.table_down.is_set()


def test_an_adopted_snapshot_the_table_cannot_record_says_so(rig):
    """The retry after IdempotentParameterMismatch finds the slot's snapshot, but the table has
    stopped answering: the disk is deduplicated all the same, and says the record is missing."""
    rig.emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "IdempotentParameterMismatch", "times": 1}]}}}
    )
    (intent,) = intents_for(1)
    with_slot_snapshot(rig.emulator, intent)
    with another_writer(rig) as lock:
        result = rig.executor(limiter=limiter_that_waits(lock), lease_seconds=300).run_one(intent)
    assert (result.outcome, result.snapshot_id) == (Outcome.DEDUPLICATED, "s-slot")
    assert result.message is not None
    assert result.message.startswith("made by an earlier attempt (found by its slot tag); not recorded: ")


# --- the order disks are worked on ------------------------------------------------------------------


def unfinished(rig: Rig, intent: Intent) -> None:
    """A record an earlier delivery left retryable (claimed, then a retryable failure)."""
    table = rig.table()
    table.claim(intent.token, "earlier")
    table.fail(intent.token, "earlier", "Throttling", retryable=True)


def created(rig: Rig, intents: list[Intent]) -> None:
    table = rig.table()
    for intent in intents:
        table.claim(intent.token, "earlier")
        table.complete(intent.token, "earlier", f"s-earlier-{intent.disk_id}")


def test_a_batch_reports_settled_slots_then_works_on_unfinished_ones_before_new_ones(rig):
    fresh_a, unfinished_b, done_c, fresh_d, unfinished_e = intents_for(5)
    unfinished(rig, unfinished_b)
    unfinished(rig, unfinished_e)
    created(rig, [done_c])
    order: list[tuple[str, Outcome]] = []
    batch = Batch([fresh_a, unfinished_b, done_c, fresh_d, unfinished_e])
    rig.executor().stream([batch], concurrency=1, sink=lambda r, _i: order.append((r.disk_id, r.outcome)))
    assert order == [
        (done_c.disk_id, Outcome.DEDUPLICATED),
        (unfinished_b.disk_id, Outcome.CREATED),
        (unfinished_e.disk_id, Outcome.CREATED),
        (fresh_a.disk_id, Outcome.CREATED),
        (fresh_d.disk_id, Outcome.CREATED),
    ]


@pytest.fixture
def page_emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator(fleet=generate_fleet(DISK_PAGE_SIZE + 1, snapshot_seconds=0)) as emu:
        yield emu


def test_run_works_in_listing_pages_and_returns_results_in_the_order_given(page_emulator, tmp_path, caplog):
    """``run`` cuts its intents into pages of a DescribeDisks page (500): the unfinished-first
    order applies within a page, never pulling a later page's disk ahead of an earlier page."""
    rig = Rig(page_emulator, tmp_path)
    intents = intents_for(DISK_PAGE_SIZE + 1)
    created(rig, intents[: DISK_PAGE_SIZE - 1])
    last_of_page, next_page = intents[DISK_PAGE_SIZE - 1], intents[DISK_PAGE_SIZE]
    unfinished(rig, next_page)  # would go first if it shared the first page
    caplog.set_level(logging.INFO, logger="snapstack-test")
    results = rig.executor().run(intents, concurrency=1)
    assert [r.disk_id for r in results] == [i.disk_id for i in intents]
    assert [r.outcome for r in results[-2:]] == [Outcome.CREATED, Outcome.CREATED]
    assert {r.outcome for r in results[:-2]} == {Outcome.DEDUPLICATED}
    worked = [getattr(r, "disk_id", None) for r in caplog.records if r.getMessage() == "snapshot decision"]
    assert worked[-2:] == [last_of_page.disk_id, next_page.disk_id]
    assert len(worked) == len(intents)


def test_run_works_on_the_slots_an_earlier_delivery_left_unfinished_first(rig, caplog):
    fresh, left = intents_for(2)
    unfinished(rig, left)
    caplog.set_level(logging.INFO, logger="snapstack-test")
    results = rig.executor().run([fresh, left], concurrency=1)
    assert [(r.disk_id, r.outcome) for r in results] == [
        (fresh.disk_id, Outcome.CREATED),
        (left.disk_id, Outcome.CREATED),
    ]
    worked = [getattr(r, "disk_id", None) for r in caplog.records if r.getMessage() == "snapshot decision"]
    assert worked == [left.disk_id, fresh.disk_id]


# --- the queue's bound ------------------------------------------------------------------------------


def waiting_for_room(thread: threading.Thread) -> bool:
    """True when ``thread`` waits in ``stream``'s ``room.acquire()``: a semaphore only waits
    (``Condition.wait``) once no room is left, so the queue is full."""
    names = []
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return any(names[i : i + 3] == ["wait", "acquire", "stream"] for i in range(len(names)))


def test_stream_queues_one_listing_page_beyond_its_workers(rig):
    """At most ``concurrency`` running plus one DescribeDisks page (500) waiting: the next page
    is listed only once a worker frees room, so memory is bounded by pages, not by the fleet."""
    executor = rig.executor()
    executor.table_down.set()  # every disk defers at once, with no call: only the queue is tested
    workers, pages = 2, DISK_PAGE_SIZE + 10
    (template,) = intents_for(1)
    release = threading.Event()
    finished = 0
    lock = threading.Lock()
    in_flight_when_listed: list[int] = []
    main = threading.current_thread()

    def sink(result: DiskResult, _intent: Intent | None) -> None:
        nonlocal finished
        assert threading.current_thread() is not main, "concurrency 2 ran the disks on the calling thread"
        assert result.outcome is Outcome.DEFERRED
        release.wait()
        with lock:
            finished += 1

    def batches() -> Iterator[Batch]:
        for n in range(pages):
            with lock:
                in_flight_when_listed.append(n - finished)
            if n - finished > workers + DISK_PAGE_SIZE:
                release.set()  # the bound is broken: let the workers go so the test can end
            yield Batch([template.model_copy(update={"disk_id": f"d-{n}", "token": f"ss2-t{n}"})])

    def watch() -> None:
        # The workers hold their first disks until the listing thread waits for room.
        while not release.is_set():
            if waiting_for_room(main):
                release.set()
            release.wait(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        executor.stream(batches(), concurrency=workers, sink=sink)
    finally:
        release.set()
        watcher.join()
    assert finished == pages
    assert max(in_flight_when_listed) == workers + DISK_PAGE_SIZE


def test_an_owner_whose_claim_was_taken_while_it_waited_to_send_stops_without_sending(emulator, rig):
    """The rate limiter makes the owner wait past its lease and another delivery takes the slot
    over: the renewal before sending finds it gone, so nothing is sent and the disk is the other
    owner's (``in_progress``), with the time spent in the create path."""
    (intent,) = intents_for(1)

    def taken_over() -> None:
        rig.clock.now += 60  # past the 20 s lease
        assert rig.table().claim(intent.token, "other-delivery", lease_seconds=300).owned

    result = rig.executor(limiter=limiter_that_waits(taken_over), lease_seconds=20).run_one(intent)
    assert result.outcome is Outcome.IN_PROGRESS
    assert result.message is not None and result.message.startswith(
        "could not renew the lease before sending"
    )
    assert result.latency_ms == 123.4
    assert emulator.calls("CreateSnapshot") == 0
    assert rig.record(intent).owner == "other-delivery"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_stream_runs_its_disks_with_the_collector_tuned_and_then_restores_it(rig, concurrency):
    """collector.py: gen 0 raised and what existed frozen while the disks run, both handed back."""
    executor = rig.executor()
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    during: list[tuple[int, bool, Outcome]] = []

    def sink(result: DiskResult, _intent: Intent | None) -> None:
        during.append((gc.get_threshold()[0], gc.get_freeze_count() > 0, result.outcome))

    executor.stream(iter([Batch(intents_for(3))]), concurrency, sink)
    assert during == [(max(GEN0_THRESHOLD, before[0]), True, Outcome.CREATED)] * 3
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before


def test_a_corrupted_record_fails_its_own_disk_with_no_call_and_the_others_are_created(emulator, rig):
    """A stored value that is not a record: the bulk read fails, each claim finds out for itself."""
    executor = rig.executor()
    intents = intents_for(3)
    assert rig.table().get("none") is None  # makes the file and the table
    with sqlite3.connect(rig.tmp_path / "tokens.db") as conn:
        conn.execute("INSERT INTO tokens VALUES (?, 1, 4e9, '{}')", (intents[1].token,))
    results = executor.run(intents, 2)
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.FAILED, Outcome.CREATED]
    assert results[1].error_code == "TokenTable.Error"
    assert "is not a token record" in (results[1].message or "")
    assert "no ECS call made" in (results[1].message or "")
    assert snapshots_of(emulator, intents[1]) == []
    assert all(len(snapshots_of(emulator, i)) == 1 for i in (intents[0], intents[2]))


# --- the delivery bound -----------------------------------------------------------------------------


def delivered(rig: Rig, intent: Intent, times: int) -> None:
    """``times`` earlier deliveries (other owners) each ended the slot with a retryable failure."""
    table = rig.table()
    for n in range(times):
        table.claim(intent.token, f"earlier-{n}")
        table.fail(intent.token, f"earlier-{n}", "IncorrectInstanceStatus", retryable=True)


@pytest.mark.parametrize(
    ("earlier", "outcome"),
    [
        (0, Outcome.DEFERRED),  # the first delivery of two may defer
        (1, Outcome.FAILED),  # the second is the last: it gives up
        (3, Outcome.FAILED),  # past the bound (max_deliveries lowered since): gives up too
    ],
)
def test_a_slot_gives_up_once_max_deliveries_have_worked_on_it(emulator, rig, earlier, outcome):
    (intent,) = intents_for(1)
    held = intent.model_copy(
        update={"hold": Hold(code="IncorrectInstanceStatus", message="instance starting")}
    )
    delivered(rig, intent, earlier)
    result = rig.executor(max_deliveries=2).run_one(held)
    assert (result.outcome, result.error_code) == (outcome, "IncorrectInstanceStatus")
    stored = rig.record(intent)
    assert stored.retryable is (outcome is Outcome.DEFERRED)
    if outcome is Outcome.FAILED:
        assert (
            result.message == f"gave up after {earlier + 1} deliveries: instance starting (no ECS call made)"
        )
    assert emulator.calls("CreateSnapshot") == 0 and emulator.calls("DescribeSnapshots") == 0  # not in doubt


def test_a_failure_record_keeps_240_characters_of_its_detail(rig):
    (intent,) = intents_for(1)
    why = "x" * 300
    held = intent.model_copy(update={"hold": Hold(code="IncorrectInstanceStatus", message=why)})
    result = rig.executor().run_one(held)
    assert result.outcome is Outcome.DEFERRED
    assert result.message == f"{why} (no ECS call made)"  # the log line has it all
    assert rig.record(intent).detail == why[:240]


# --- claims and look-ups ----------------------------------------------------------------------------


def test_a_slot_another_delivery_holds_is_in_progress_until_its_lease_ends(emulator, rig):
    (intent,) = intents_for(1)
    rig.table().claim(intent.token, "other-delivery", lease_seconds=300)
    result = rig.executor().run_one(intent)
    assert result.outcome is Outcome.IN_PROGRESS
    assert result.message == "claimed by other-delivery until 1300"  # the table's clock is at 1000
    assert emulator.calls("CreateSnapshot") == 0


def test_a_failed_snapshot_with_the_slot_tag_is_not_the_slots_snapshot(emulator, rig):
    """A slot in doubt is looked up first; a snapshot that failed does not count as made."""
    (intent,) = intents_for(1)
    table = rig.table()
    table.claim(intent.token, "earlier", lease_seconds=20)
    table.mark_sent(intent.token, "earlier", generation=0, lease_seconds=20)  # then it died
    emulator.state.add_snapshots(
        [
            {
                "snapshot_id": "s-failed",
                "disk_id": intent.disk_id,
                "status": "failed",
                "tags": {"snapstack:slot": intent.token},
            }
        ]
    )
    rig.clock.now += 60  # the earlier owner's lease is over
    result = rig.executor().run_one(intent)
    assert result.outcome is Outcome.CREATED and result.snapshot_id != "s-failed"
    assert emulator.calls("DescribeSnapshots") == 1 and emulator.calls("CreateSnapshot") == 1


def test_a_slot_in_doubt_adopts_its_oldest_snapshot_and_warns_of_the_others(emulator, rig):
    (intent,) = intents_for(1)
    table = rig.table()
    table.claim(intent.token, "earlier", lease_seconds=20)
    table.mark_sent(intent.token, "earlier", generation=0, lease_seconds=20)
    tag = {"snapstack:slot": intent.token}
    emulator.state.add_snapshots(
        [
            {"snapshot_id": "s-old", "disk_id": intent.disk_id, "creation_time": 1e9, "tags": tag},
            {"snapshot_id": "s-new", "disk_id": intent.disk_id, "creation_time": 2e9, "tags": tag},
        ]
    )
    rig.clock.now += 60
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.snapshot_id) == (Outcome.DEDUPLICATED, "s-old")
    assert result.message == "made by an earlier delivery (found by its slot tag)"
    assert result.warning is not None
    changed, many = result.warning.split("; ")
    assert changed.startswith("the request changed since that snapshot was made: ")
    assert many == "2 snapshots carry this slot's tag: s-old, s-new"
    assert rig.record(intent).snapshot_id == "s-old" and emulator.calls("CreateSnapshot") == 0


def in_doubt_earlier(rig: Rig, intent: Intent) -> None:
    """An earlier delivery marked the slot SENT and died; its lease is over."""
    table = rig.table()
    table.claim(intent.token, "earlier", lease_seconds=20)
    table.mark_sent(intent.token, "earlier", generation=0, lease_seconds=20)
    rig.clock.now += 60


def describe_fails(emulator: EcsEmulator, create_errors: list[str], times: int = 1) -> None:
    emulator.faults.configure(
        {
            "apis": {
                "CreateSnapshot": {"errors": [{"code": code, "times": 1} for code in create_errors]},
                "DescribeSnapshots": {"errors": [{"code": "InternalError", "times": times}]},
            }
        }
    )


def test_a_slot_in_doubt_that_cannot_be_looked_up_is_deferred_with_no_send(emulator, rig):
    describe_fails(emulator, [])
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    in_doubt_earlier(rig, intent)
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.error_code) == (Outcome.DEFERRED, "InternalError")
    assert result.message is not None
    assert result.message.startswith("could not look the slot up at ECS before resending: ")
    assert emulator.calls("CreateSnapshot") == 0 and rig.record(intent).in_doubt


def test_a_retry_whose_look_up_fails_stops_with_the_send_in_doubt(emulator, rig):
    """Before a new ClientToken after an unanswered attempt, the slot must be looked up; when
    ECS cannot say, no new token goes out: the disk is deferred in doubt."""
    describe_fails(emulator, ["InternalError", "Throttling"], times=3)
    (intent,) = intents_for(1)
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.error_code, result.attempts) == (Outcome.DEFERRED, "Throttling", 2)
    assert emulator.calls("CreateSnapshot") == 2
    stored = rig.record(intent)
    assert (stored.in_doubt, stored.generation) == (True, 1)


@pytest.mark.parametrize(
    ("create_error", "max_deliveries", "outcome"),
    [
        ("IdempotentParameterMismatch", 4, Outcome.DEFERRED),  # the look-up for the slot's snapshot
        ("InternalError", 1, Outcome.FAILED),  # the last delivery's look-up before giving up
    ],
)
def test_a_look_up_that_fails_after_the_last_attempt_finds_nothing(
    emulator, rig, create_error, max_deliveries, outcome
):
    describe_fails(emulator, [create_error])
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    result = rig.executor(max_deliveries=max_deliveries).run_one(intent)
    assert (result.outcome, result.error_code) == (outcome, create_error)
    assert emulator.calls("DescribeSnapshots") == 1 and emulator.calls("CreateSnapshot") == 1


def test_a_skip_answer_is_skipped_and_recorded_for_good(emulator, rig):
    emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "IncorrectDiskStatus.NeverUsed", "times": 1}]}}}
    )
    (intent,) = intents_for(1)
    result = rig.executor().run_one(intent)
    assert (result.outcome, result.error_code) == (Outcome.SKIPPED, "IncorrectDiskStatus.NeverUsed")
    stored = rig.record(intent)
    assert (stored.state.value, stored.retryable) == ("failed", False)


def test_a_pages_decided_disks_go_to_the_sink_with_the_pages_labels(rig, caplog):
    decided = DiskResult(
        disk_id="d-denied", outcome=Outcome.DENIED, token="", message="outside the allow-list"
    )
    got: list[tuple[DiskResult, Intent | None]] = []
    caplog.set_level(logging.INFO, logger="snapstack-test")
    executor = rig.executor()
    executor.stream(
        [Batch(results=[decided], labels={"policy": "daily"})],
        concurrency=1,
        sink=lambda r, i: got.append((r, i)),
    )
    assert got == [(decided, None)]
    (line,) = [r for r in caplog.records if r.getMessage() == "snapshot decision"]
    assert (vars(line)["disk_id"], vars(line)["policy"], vars(line)["outcome"]) == (
        "d-denied",
        "daily",
        "denied",
    )


# --- stopping the invocation ------------------------------------------------------------------------


def test_an_account_level_error_stops_the_invocation_and_the_listing(emulator, rig):
    code = "InvalidAccountStatus.NotEnoughBalance"
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": code, "times": 1}]}}})
    first, second, third = intents_for(3)
    executor = rig.executor()
    closed: list[bool] = []
    got: list[DiskResult] = []

    def pages() -> Iterator[Batch]:
        try:
            yield Batch([first, second])
            yield Batch([third])
        finally:
            closed.append(True)

    source = pages()  # held here: only the executor can close it before the test ends
    executor.stream(source, concurrency=1, sink=lambda r, _i: got.append(r))
    assert executor.fatal is not None and executor.fatal.code == code
    assert executor.halted == f"the invocation stopped ({code})"
    assert closed == [True]  # the planner's stream was told to stop listing
    assert [r.disk_id for r in got] == [first.disk_id, second.disk_id]
    assert [(r.outcome, r.error_code) for r in got] == [(Outcome.DEFERRED, code)] * 2
    assert got[0].message is not None and got[0].message.endswith("(stops the invocation: FC retries it)")
    assert got[1].message == f"the invocation stopped: {executor.fatal.message} (no ECS call made)"
    assert emulator.calls("CreateSnapshot") == 1
    stored = rig.record(first)
    assert (stored.error_code, stored.retryable) == (code, True)
    assert rig.table().get(second.token) is None


def test_a_table_that_cannot_be_read_defers_every_disk_with_no_call(emulator, rig):
    """The bulk read before a page fails like every other call: the page is still worked
    through, each disk deferred without an ECS call, none lost and nothing raised."""
    (rig.tmp_path / "tokens.db").write_bytes(b"not a database" * 100)
    executor = rig.executor()
    got: list[DiskResult] = []
    executor.stream([Batch(intents_for(3))], concurrency=1, sink=lambda r, _i: got.append(r))
    assert [(r.outcome, r.error_code) for r in got] == [(Outcome.DEFERRED, "TokenTable.Unavailable")] * 3
    # The bulk read's retries found the table down: no disk even tried to claim.
    assert {r.message for r in got} == {
        "the token table did not answer earlier in this invocation (no ECS call made)"
    }
    assert executor.table_down.is_set() and emulator.calls("CreateSnapshot") == 0


@pytest.mark.parametrize(("seconds_left", "listed"), [(5.0, 1), (4.999, 0)])
def test_a_page_is_listed_only_with_the_start_margin_left(rig, seconds_left, listed):
    pulled: list[int] = []

    def pages() -> Iterator[Batch]:
        pulled.append(1)
        yield Batch(intents_for(1))

    executor = rig.executor(deadline=Deadline(seconds_left, clock=Clock()))
    executor.stream(pages(), concurrency=1, sink=lambda _r, _i: None)
    assert len(pulled) == listed
    assert executor.halted == (None if listed else "too little time left in this invocation")


def test_run_decides_the_disks_a_stopped_stream_never_reached(emulator, rig):
    intents = intents_for(3)
    executor = rig.executor(deadline=Deadline(1.0, clock=Clock()))
    results = executor.run(intents, concurrency=2)
    assert executor.halted == "too little time left in this invocation"
    assert [(r.disk_id, r.outcome, r.error_code) for r in results] == [
        (i.disk_id, Outcome.DEFERRED, "Invocation.TimeUp") for i in intents
    ]
    assert emulator.calls("CreateSnapshot") == 0


# --- the decision's log line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "warning", "level"),
    [
        (Outcome.FAILED, None, logging.ERROR),
        (Outcome.FAILED, "and a warning", logging.ERROR),
        (Outcome.DEDUPLICATED, "the request changed", logging.WARNING),
        (Outcome.CREATED, None, logging.INFO),
        (Outcome.DEFERRED, None, logging.INFO),
        (Outcome.IN_PROGRESS, None, logging.INFO),
        (Outcome.SKIPPED, None, logging.INFO),
    ],
)
def test_a_decision_is_logged_at_the_level_its_outcome_calls_for(caplog, outcome, warning, level):
    logger = logging.getLogger("snapstack-test")
    caplog.set_level(logging.INFO, logger="snapstack-test")
    result = DiskResult(
        disk_id="d-1", outcome=outcome, token="ss2-t", warning=warning, attempts=2, latency_ms=1.5
    )
    log_decision(logger, result, {"policy": "daily"}, instance_id="i-1")  # type: ignore[arg-type]
    (record,) = caplog.records
    assert record.levelno == level and record.getMessage() == "snapshot decision"
    fields = vars(record)
    assert (fields["disk_id"], fields["instance_id"], fields["outcome"], fields["policy"]) == (
        "d-1",
        "i-1",
        outcome.value,
        "daily",
    )
    assert (fields["attempt"], fields["latency_ms"], fields["slot_token"]) == (2, 1.5, "ss2-t")


@pytest.mark.parametrize(("earlier", "outcome"), [(2, Outcome.DEFERRED), (3, Outcome.FAILED)])
def test_by_default_a_slot_gives_up_at_fcs_fourth_delivery(rig, earlier, outcome):
    (intent,) = intents_for(1)
    held = intent.model_copy(
        update={"hold": Hold(code="IncorrectInstanceStatus", message="instance starting")}
    )
    delivered(rig, intent, earlier)
    assert rig.executor().run_one(held).outcome is outcome


@pytest.mark.parametrize(("tagged", "outcome"), [(True, Outcome.DEDUPLICATED), (False, Outcome.FAILED)])
def test_the_last_delivery_looks_a_slot_in_doubt_up_before_giving_up(emulator, rig, tagged, outcome):
    """A 5xx on the last delivery may have made the snapshot: it is looked up before failing."""
    emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "InternalError", "times": 1}]}}}
    )
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    if tagged:
        with_slot_snapshot(emulator, intent)
    result = rig.executor(max_deliveries=1).run_one(intent)
    assert result.outcome is outcome
    assert emulator.calls("DescribeSnapshots") == 1
    if tagged:
        assert (result.snapshot_id, result.message) == (
            "s-slot",
            "made by an earlier attempt (found by its slot tag)",
        )
    else:
        assert result.error_code == "InternalError"
        assert result.message is not None and result.message.startswith("gave up after 1 deliveries: ")


@pytest.mark.parametrize(
    ("code", "guarded", "outcome"),
    [
        ("QuotaExceed.Snapshot", True, Outcome.FAILED),
        ("QuotaExceed.Snapshot", False, Outcome.FAILED),  # no guard: ECS's own words
        ("Throttling", True, Outcome.DEFERRED),
    ],
)
def test_the_quota_guard_explains_ecss_quota_refusal_and_no_other(emulator, rig, code, guarded, outcome):
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": code, "times": 1}]}}})
    rig.policy = RetryPolicy(max_attempts=1)
    (intent,) = intents_for(1)
    executor = rig.executor()
    if guarded:
        policy = Policy(name="daily", selector=Selector(all_disks=True), retention=None)
        executor.quota_guard = QuotaGuard(executor.ecs, "cn-hangzhou", policy, executor.logger, stack="test")  # type: ignore[arg-type]
    result = executor.run_one(intent)
    assert (result.outcome, result.error_code) == (outcome, code)
    assert result.message is not None
    explained = result.message.startswith(f"{intent.disk_id} holds 0 manual snapshots, the quota is 256")
    assert explained is (guarded and code == "QuotaExceed.Snapshot")


def test_a_disk_the_quota_guard_refuses_is_failed_with_no_create_call(emulator, rig):
    """256 foreign snapshots fill the disk: the guard may delete none, so the disk fails before
    any CreateSnapshot, with no create latency to report."""
    (intent,) = intents_for(1)
    emulator.state.add_snapshots(
        [{"snapshot_id": f"s-foreign-{n}", "disk_id": intent.disk_id} for n in range(256)]
    )
    executor = rig.executor()
    policy = Policy(name="daily", selector=Selector(all_disks=True), retention=Retention(keep_last=3))
    executor.quota_guard = QuotaGuard(executor.ecs, "cn-hangzhou", policy, executor.logger, stack="test")  # type: ignore[arg-type]
    result = executor.run_one(intent)
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "QuotaExceed.Snapshot")
    assert result.latency_ms == 0.0 and result.attempts == 0
    assert emulator.calls("CreateSnapshot") == 0
    assert rig.record(intent).retryable is False


# --- what the first delivery fixes for the slot ------------------------------------------------------


def test_the_first_claim_stores_the_slot_and_a_redelivery_sends_its_name_again(emulator, rig):
    """The record's meta holds the disk, the labels and the values fixed per slot; a later
    delivery whose request renders another name sends the first one."""
    (intent,) = intents_for(1)
    table = rig.table()
    first_name = "snapstack-daily-first-" + intent.disk_id
    meta = {"disk_id": intent.disk_id, "name": first_name}
    table.claim(intent.token, "earlier", meta=meta)
    table.fail(intent.token, "earlier", "Throttling", retryable=True)
    assert rig.executor().run_one(intent).outcome is Outcome.CREATED
    (snap,) = snapshots_of(emulator, intent)
    assert snap["name"] == first_name and snap["name"] != intent.request.snapshot_name
    assert snap["description"] == intent.request.description  # stored by no earlier claim: as rendered

    other = intents_for(2)[1]  # a slot no delivery claimed before
    assert rig.executor().run_one(other).outcome is Outcome.CREATED
    stored = rig.record(other).meta
    assert stored["disk_id"] == other.disk_id and stored["instance_id"] == other.instance_id
    assert {k: stored[k] for k in other.labels} == other.labels
    assert other.deadline is not None and stored["deadline"] == f"{other.deadline:.0f}"  # for the reconciler
    assert CreateSnapshotRequest.model_validate_json(stored["request"]).disk_id == other.disk_id
    assert (stored["name"], stored["description"]) == (other.request.snapshot_name, other.request.description)


# --- the executor's own contract --------------------------------------------------------------------


def running(thread_id: int, function: str) -> bool:
    """True while the thread ``thread_id`` is inside ``function``."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def test_a_sink_that_fails_on_a_worker_fails_the_stream_with_the_first_failure(rig):
    executor = rig.executor()
    executor.table_down.set()
    first, second = intents_for(2)
    failed_on: list[int] = []
    both_submitted = threading.Event()

    def batches() -> Iterator[Batch]:
        yield Batch([first, second])
        both_submitted.set()  # asked for the next page: the first page's disks are all submitted

    def sink(_result: DiskResult, intent: Intent | None) -> None:
        if intent is first:
            both_submitted.wait()
            failed_on.append(threading.get_ident())
            raise RuntimeError("the sink broke first")
        # Until the first failure is fully handled (at once when this worker handled it).
        while not failed_on or (failed_on[0] != threading.get_ident() and running(failed_on[0], "finish")):
            threading.Event().wait(0.001)
        raise RuntimeError("the sink broke again")

    with pytest.raises(RuntimeError, match="the sink broke first"):
        executor.stream(batches(), concurrency=2, sink=sink)


def test_a_sink_failure_on_a_page_larger_than_the_queue_still_ends_the_stream(rig):
    """After a failure no further disk of the page is taken: the rest of a page larger than
    the queue's room must not wait for room that no running disk will free."""
    executor = rig.executor()
    executor.table_down.set()
    (template,) = intents_for(1)
    page = [template.model_copy(update={"disk_id": f"d-{n}", "token": f"ss2-t{n}"}) for n in range(1_100)]
    failed = threading.Event()

    def sink(_result: DiskResult, _intent: Intent | None) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("the sink broke")

    with pytest.raises(RuntimeError, match="the sink broke"):
        executor.stream([Batch(page)], concurrency=2, sink=sink)


def test_no_page_is_listed_after_a_sink_failure(rig):
    executor = rig.executor()
    executor.table_down.set()
    first, second, third = intents_for(3)
    failed_on: list[int] = []
    listed: list[str] = []

    def pages() -> Iterator[Batch]:
        yield Batch([first])
        while not failed_on or running(failed_on[0], "finish"):  # the failure is recorded
            threading.Event().wait(0.001)
        yield Batch([second])  # pulled before the failure is seen: its disk is not taken
        listed.append(third.disk_id)
        yield Batch([third])

    def sink(_result: DiskResult, intent: Intent | None) -> None:
        if intent is first:
            failed_on.append(threading.get_ident())
            raise RuntimeError("the sink broke")

    with pytest.raises(RuntimeError, match="the sink broke"):
        executor.stream(pages(), concurrency=2, sink=sink)
    assert listed == []


@pytest.mark.parametrize("concurrency", [0, 1])
def test_a_concurrency_of_one_or_less_runs_every_disk_on_the_calling_thread_in_order(rig, concurrency):
    executor = rig.executor()
    executor.table_down.set()
    intents = intents_for(3)
    seen: list[tuple[str, bool]] = []
    main = threading.current_thread()
    executor.stream(
        [Batch(intents)],
        concurrency=concurrency,
        sink=lambda r, _i: seen.append((r.disk_id, threading.current_thread() is main)),
    )
    assert seen == [(i.disk_id, True) for i in intents]


def test_an_invocation_abort_names_its_code(emulator, rig):
    code = "InvalidAccountStatus.NotEnoughBalance"
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": code, "times": 1}]}}})
    executor = rig.executor()
    executor.run_one(intents_for(1)[0])
    assert executor.fatal is not None
    assert str(executor.fatal) == f"{code}: {executor.fatal.message}" and executor.fatal.message


def test_intents_batches_and_results_are_immutable():
    (intent,) = intents_for(1)
    result = DiskResult(disk_id="d-1", outcome=Outcome.CREATED, token="ss2-t")
    for model, name, value in (
        (intent, "disk_id", "d-2"),
        (result, "outcome", Outcome.FAILED),
        (Hold(code="c", message="m"), "code", "x"),
    ):
        with pytest.raises(ValidationError):
            setattr(model, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Batch([intent]).intents = ()  # type: ignore[misc]


# --- a table that refuses us mid-run (Redis ACLs) ----------------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@dataclass
class RedisUser:
    """A Redis user of its own for one test; ``revoke`` takes its rights away mid-run (the
    server then answers NOPERM, which the table reports as a refusal: ``TokenTableFatal``)."""

    server: RedisServer
    name: str = "snapstack-test"

    def __post_init__(self) -> None:
        import redis

        self.admin = redis.Redis.from_url(self.server.url)
        self.admin.flushall()
        self.admin.execute_command("ACL", "SETUSER", self.name, "reset", "on", ">secret", "~*", "&*", "+@all")

    @property
    def url(self) -> str:
        return f"redis://{self.name}:secret@127.0.0.1:{self.server.port}/0"

    def revoke(self) -> None:
        self.admin.execute_command("ACL", "SETUSER", self.name, "-@all")


@pytest.fixture
def redis_user(redis_server: RedisServer) -> Iterator[RedisUser]:
    user = RedisUser(redis_server)
    yield user
    user.admin.execute_command("ACL", "DELUSER", user.name)
    user.admin.close()


def test_a_table_that_refuses_the_claim_stops_the_invocation(emulator, rig, redis_user):
    redis_user.revoke()
    executor = rig.executor(table=open_table(redis_user.url))
    result = executor.run_one(intents_for(1)[0])
    assert (result.outcome, result.error_code) == (Outcome.DEFERRED, "TokenTable.Fatal")
    assert executor.fatal is not None and executor.fatal.code == "TokenTable.Fatal"
    assert emulator.calls("CreateSnapshot") == 0


def guard_between_claim_and_send(executor: Executor, between: Callable[[], object]) -> None:
    """Give ``executor`` a quota guard that calls ``between`` while it reads the disk's snapshots:
    after the claim, before mark_sent."""
    policy = Policy(name="daily", selector=Selector(all_disks=True), retention=Retention(keep_last=3))
    executor.quota_guard = QuotaGuard(
        executor.ecs,
        "cn-hangzhou",
        policy,
        executor.logger,
        stack="test",
        pace=between,  # type: ignore[arg-type]
    )


def test_a_table_that_refuses_to_mark_the_send_stops_the_invocation_with_no_call(emulator, rig, redis_user):
    """The quota guard reads the disk's snapshots between the claim and mark_sent; the table's
    rights are revoked meanwhile: nothing is sent, and the whole invocation stops."""
    executor = rig.executor(table=open_table(redis_user.url))
    guard_between_claim_and_send(executor, redis_user.revoke)
    result = executor.run_one(intents_for(1)[0])
    assert (result.outcome, result.error_code) == (Outcome.DEFERRED, "TokenTable.Fatal")
    assert result.message is not None and result.message.endswith("(stops the invocation: FC retries it)")
    assert executor.fatal is not None and executor.fatal.code == "TokenTable.Fatal"
    assert emulator.calls("DescribeSnapshots") == 1 and emulator.calls("CreateSnapshot") == 0


def test_a_table_that_refuses_the_lease_renewal_stops_the_invocation(emulator, rig, redis_user):
    table = open_table(redis_user.url)
    limiter = limiter_that_waits(redis_user.revoke)
    executor = rig.executor(table=table, limiter=limiter, lease_seconds=15)  # renewed before the send
    result = executor.run_one(intents_for(1)[0])
    assert (result.outcome, result.error_code) == (Outcome.DEFERRED, "TokenTable.Fatal")
    assert result.message is not None and result.message.startswith(
        "could not renew the lease before sending"
    )
    assert result.latency_ms == 123.4
    assert executor.fatal is not None and emulator.calls("CreateSnapshot") == 0


# --- a row the table cannot read back (Tablestore) ----------------------------------------------------


def test_a_record_that_became_unreadable_before_the_send_fails_the_disk_with_no_call(emulator, rig):
    """Between the claim and mark_sent (while the quota guard reads the disk's snapshots) another
    writer replaces the slot's Tablestore row with one that is no token record: mark_sent cannot
    read it back, so that disk fails with ``TokenTable.Error`` and nothing is sent; the invocation
    goes on (one unreadable row is no table-wide fault)."""
    import tablestore

    from devkit.tablestore.testing import start_emulator

    intent = intents_for(1)[0]
    with start_emulator(clock=rig.clock) as running:
        table = running.token_table(clock=rig.clock)
        foreign = tablestore.Row([("token", intent.token)], [("something", "else")])
        executor = rig.executor(table=table)
        guard_between_claim_and_send(executor, lambda: running.client().put_row(table.table, foreign))
        result = executor.run_one(intent)
        table.close()
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "TokenTable.Error")
    assert result.message is not None and "not a token record" in result.message
    assert result.message.endswith("(no ECS call made)")
    assert executor.fatal is None
    assert emulator.calls("DescribeSnapshots") == 1 and emulator.calls("CreateSnapshot") == 0
