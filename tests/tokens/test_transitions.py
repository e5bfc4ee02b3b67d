"""The state machine's writes beyond the contract's claim/complete/fail, on every backend in
``conftest.BACKENDS``: what an owner records while it works (``mark_sent``, ``renew_lease``,
``settle_doubt``, ``fail``'s generation and doubt), the operator's ``rearm``, a lease's skew margin,
the defaults, and the bounded loops when another writer keeps winning.

The lost races are made, not hoped for: another real table moves the record at the one moment
the state machine calls back into caller-supplied code between its read and its write (the table's
clock, a claim's ``meta``, ``update_record``'s change), so every read is stale when the write
lands. ``make mutation`` runs this file first for ``tokens/base.py`` (on SQLite: quick).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping

import pytest
from pydantic import ValidationError

from snapstack.tokens import (
    ClaimOutcome,
    LeaseLost,
    RearmRefused,
    TokenRecord,
    TokenState,
    TokenTable,
    TokenTableError,
    default_owner,
    open_table,
)
from snapstack.tokens.sqlite import SqliteTokenTable
from tests.tokens.support import FakeClock, MovingClock, TableFactory

LEASE = 30.0
TOKEN = "ss2-0123456789abcdef0123456789abcdef"


@pytest.fixture
def table(table_factory: TableFactory) -> TokenTable:
    return table_factory(lease_seconds=LEASE)


class MovingMeta(Mapping[str, str]):
    """A claim's meta whose every reading first lets ``move`` write the record."""

    def __init__(self, move: Callable[[], object]) -> None:
        self.move = move
        self.moves = 0

    def __iter__(self) -> Iterator[str]:
        self.moves += 1
        self.move()
        return iter(["trigger"])

    def __len__(self) -> int:
        return 1

    def __getitem__(self, key: str) -> str:
        if key != "trigger":
            raise KeyError(key)
        return "timer"


# -- an owner's writes -------------------------------------------------------------------------------


def test_mark_sent_records_the_generation_and_the_doubt(table: TokenTable, clock: FakeClock) -> None:
    claimed = table.claim(TOKEN, "a").record
    clock.advance(2)

    sent = table.mark_sent(TOKEN, "a", generation=3)

    assert (sent.state, sent.generation, sent.in_doubt, sent.owner) == (TokenState.SENT, 3, True, "a")
    assert (sent.lease_until, sent.updated_at) == (clock.now + LEASE, clock.now)
    assert (sent.version, sent.created_at, sent.attempts) == (claimed.version + 1, claimed.created_at, 1)
    assert table.get(TOKEN) == sent
    assert table.mark_sent(TOKEN, "a", generation=0, lease_seconds=500).lease_until == clock.now + 500
    with pytest.raises(ValueError, match="generation"):
        table.mark_sent(TOKEN, "a", generation=-1)
    with pytest.raises(LeaseLost):
        table.mark_sent(TOKEN, "b", generation=0)


def test_renew_lease_and_settle_doubt_change_only_their_field(table: TokenTable, clock: FakeClock) -> None:
    table.claim(TOKEN, "a")
    sent = table.mark_sent(TOKEN, "a", generation=1)
    clock.advance(LEASE - 1)

    renewed = table.renew_lease(TOKEN, "a")
    assert renewed == sent.model_copy(
        update={"lease_until": clock.now + LEASE, "version": sent.version + 1, "updated_at": clock.now}
    )
    clock.advance(LEASE - 1)  # past the first lease, within the renewed one
    assert table.claim(TOKEN, "b").outcome is ClaimOutcome.BUSY
    assert table.renew_lease(TOKEN, "a", lease_seconds=5).lease_until == clock.now + 5

    settled = table.settle_doubt(TOKEN, "a")
    assert (settled.in_doubt, settled.state, settled.generation, settled.lease_until) == (
        False,
        TokenState.SENT,
        1,
        clock.now + 5,
    )
    assert table.get(TOKEN) == settled
    with pytest.raises(LeaseLost):
        table.renew_lease(TOKEN, "b")


def test_complete_clears_the_doubt_and_the_lease_and_keeps_the_generation(table: TokenTable) -> None:
    table.claim(TOKEN, "a")
    table.mark_sent(TOKEN, "a", generation=2)

    done = table.complete(TOKEN, "a", "s-1")

    assert (done.state, done.snapshot_id, done.in_doubt, done.lease_until, done.generation) == (
        TokenState.CREATED,
        "s-1",
        False,
        0.0,
        2,
    )
    with pytest.raises(LeaseLost):  # completed: no owner's write moves it any more
        table.mark_sent(TOKEN, "a", generation=3)


def test_fail_keeps_the_stored_doubt_and_generation_unless_told(table: TokenTable) -> None:
    table.claim(TOKEN, "a")
    table.mark_sent(TOKEN, "a", generation=1)

    kept = table.fail(TOKEN, "a", "Throttling", retryable=True)
    assert (kept.generation, kept.in_doubt, kept.lease_until, kept.detail) == (1, True, 0.0, None)
    retried = table.claim(TOKEN, "b").record  # the next owner must look the slot up first
    assert (retried.generation, retried.in_doubt, retried.attempts) == (1, True, 2)

    moved = table.fail(
        TOKEN, "b", "InvalidParameter", retryable=False, generation=2, in_doubt=False, detail="x"
    )
    assert (moved.generation, moved.in_doubt, moved.detail, moved.retryable) == (2, False, "x", False)
    assert (moved.state, moved.error_code) == (TokenState.FAILED, "InvalidParameter")
    assert table.get(TOKEN) == moved


def test_an_owner_retaking_its_own_claim_is_not_another_delivery(table: TokenTable, clock: FakeClock) -> None:
    # Owners as the executor makes them (default_owner): equal strings, never the same object.
    table.claim(TOKEN, "host-1:42:ab12cd34")

    again = table.claim(TOKEN, "host-1:42:ab12cd34", lease_seconds=60)
    assert (again.outcome, again.record.attempts, again.record.lease_until) == (
        ClaimOutcome.TAKEOVER,
        1,
        clock.now + 60,
    )
    table.mark_sent(TOKEN, "host-1:42:ab12cd34", generation=0)
    assert table.claim(TOKEN, "host-1:42:ab12cd34").record.attempts == 1  # SENT is held too
    table.fail(TOKEN, "host-1:42:ab12cd34", "Throttling", retryable=True)
    assert table.claim(TOKEN, "host-1:42:ab12cd34").record.attempts == 2  # after its own failure


def test_an_expired_send_is_taken_over_and_stays_in_doubt(table: TokenTable, clock: FakeClock) -> None:
    table.claim(TOKEN, "owner-z")
    table.mark_sent(TOKEN, "owner-z", generation=1)
    clock.advance(LEASE)

    taken = table.claim(TOKEN, "owner-a")  # an owner that sorts before the crashed one

    assert (taken.outcome, taken.record.state, taken.record.owner) == (
        ClaimOutcome.TAKEOVER,
        TokenState.CLAIMED,
        "owner-a",
    )
    assert (taken.record.attempts, taken.record.generation, taken.record.in_doubt) == (2, 1, True)


def test_a_write_after_another_writer_of_the_same_owner_reads_the_record_again(
    table_factory: TableFactory,
) -> None:
    first, second = table_factory(lease_seconds=LEASE), table_factory(lease_seconds=LEASE)
    first.claim(TOKEN, "host-1:42:ab12cd34")
    renewed = second.renew_lease(TOKEN, "host-1:42:ab12cd34")  # first's last write is stale now

    sent = first.mark_sent(TOKEN, "host-1:42:ab12cd34", generation=0)

    assert sent.version == renewed.version + 1 and first.get(TOKEN) == sent


def test_a_record_long_expired_is_gone_for_every_reader_and_writer(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    table = table_factory(lease_seconds=LEASE, record_ttl_seconds=100)
    table.claim(TOKEN, "a")
    table.claim("other", "a")
    table.update_record("ssw-record", "a", lambda current, now: ({"n": "1"}, now + 100))
    clock.advance(150)

    assert table.get(TOKEN) is None and table.records() == [] and table.get_many([TOKEN]) == {}
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-1")
    seen: list[TokenRecord | None] = []
    table.update_record("ssw-record", "a", lambda current, now: seen.append(current))
    assert seen == [None]
    assert table.purge() == 3 and list(table._scan()) == []


def test_records_and_claim_results_are_immutable(table: TokenTable) -> None:
    result = table.claim(TOKEN, "a")
    with pytest.raises(ValidationError):
        result.record.owner = "b"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        result.outcome = ClaimOutcome.BUSY  # type: ignore[misc]


def test_the_default_bulk_read_one_by_one_answers_as_sqlites_own(sqlite_url: str, clock: FakeClock) -> None:
    class OneByOne(SqliteTokenTable):
        """SQLite with the base class's bulk read (what a backend gets that defines none)."""

        _get_many = TokenTable._get_many

    table = OneByOne(sqlite_url, clock=clock)
    claimed = {token: table.claim(token, "a").record for token in ("t-1", "t-2")}
    assert table.get_many(["t-1", "missing", "t-2"]) == claimed
    table.close()


def test_a_repeated_write_whose_answer_was_lost_counts_as_done(table: TokenTable) -> None:
    record = table.claim(TOKEN, "a").record
    moved = record.model_copy(update={"version": record.version + 1, "owner": "b"})
    assert table._compare_and_set(record.version, moved)

    assert table._cas(record.version, moved) is True  # the same write again: already in place
    assert table._cas(record.version, moved.model_copy(update={"owner": "c"})) is False


# -- leases, clocks and defaults -----------------------------------------------------------------------


def test_a_lease_is_taken_over_only_after_the_skew_margin(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    table = table_factory(lease_seconds=LEASE, clock_skew_seconds=5.0)
    held = table.claim(TOKEN, "a").record

    assert held.lease_expired(held.lease_until) and not held.lease_expired(held.lease_until - 0.5)
    clock.now = held.lease_until + 4.5
    assert not held.lease_expired(clock.now, 5.0)
    assert table.claim(TOKEN, "b").outcome is ClaimOutcome.BUSY
    clock.now = held.lease_until + 5.0
    assert held.lease_expired(clock.now, 5.0)
    assert table.claim(TOKEN, "b").outcome is ClaimOutcome.TAKEOVER


def test_the_default_lease_and_record_lifetime(table_url: str, clock: FakeClock) -> None:
    table = open_table(table_url, clock=clock, clock_skew_seconds=0.0)
    record = table.claim(TOKEN, "a").record
    table.close()

    assert record.lease_until == clock.now + 120
    # FC keeps an async event for at most 7 days (maxAsyncEventAgeInSeconds <= 604800, see
    # tokens/base.py): a record outlives every redelivery of its event by an hour.
    assert record.expires_at == clock.now + 604800 + 3600


def test_sqlite_reads_the_host_clock_with_no_skew_margin(sqlite_url: str) -> None:
    table = open_table(sqlite_url)
    before = time.time()
    now = table.clock()
    after = time.time()
    assert before <= now <= after
    assert table.clock_skew == 0.0  # one machine, one clock (tokens/sqlite.py)


def test_records_beside_the_claims_keep_the_claim_fields_defaults(table: TokenTable) -> None:
    record = table.update_record(TOKEN, "a", lambda current, now: ({"k": "v"}, now + 60))

    assert record is not None and record == table.get(TOKEN)
    assert (record.attempts, record.generation, record.in_doubt, record.retryable, record.detail) == (
        1,
        0,
        False,
        None,
        None,
    )
    with pytest.raises(RearmRefused, match="holds snapshot"):  # CREATED: never re-armed
        table.rearm(TOKEN)
    assert table.claim(TOKEN, "b").outcome is ClaimOutcome.DONE


def test_default_owners_name_the_host_and_process_and_differ(table: TokenTable) -> None:
    first, second = default_owner(), default_owner()
    prefix = f"{socket.gethostname()}:{os.getpid()}:"
    assert first.startswith(prefix) and second.startswith(prefix) and first != second
    assert len(first) == len(prefix) + 8
    assert table.claim(TOKEN, first).record.owner == first


def test_every_primitive_is_the_backends_own(table: TokenTable) -> None:
    primitives = {"_get", "_put_if_absent", "_compare_and_set", "_scan", "_delete_if_expired"}
    assert primitives <= TokenTable.__abstractmethods__  # a backend without one cannot be made
    assert all(getattr(type(table), name) is not getattr(TokenTable, name) for name in primitives)


def test_bulk_and_audit_reads_leave_out_a_record_from_the_instant_it_expires(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    table = table_factory(lease_seconds=LEASE, record_ttl_seconds=100)
    record = table.claim(TOKEN, "a").record

    clock.now = record.expires_at - 0.5
    assert table.get_many([TOKEN]) == {TOKEN: record} and table.unfinished_records() == [record]
    clock.now = record.expires_at
    assert table.get_many([TOKEN]) == {} and table.unfinished_records() == []


def test_an_update_whose_insert_already_landed_counts_it_as_done(table_factory: TableFactory) -> None:
    """The same writer's insert, repeated after its answer was lost, finds its own record: done."""
    mine, again = table_factory(), table_factory()
    calls: list[TokenRecord | None] = []

    def change(current: TokenRecord | None, now: float) -> tuple[Mapping[str, str], float]:
        calls.append(current)
        if len(calls) == 1:  # the first write landed; this is its repetition
            again.update_record(TOKEN, "me", lambda _current, _now: ({"n": "1"}, now + 60))
        return {"n": "1"}, now + 60

    record = mine.update_record(TOKEN, "me", change)

    assert calls == [None] and record is not None and record == mine.get(TOKEN)
    assert record.meta == {"n": "1"} and record.version == int(record.created_at * 1000)


# -- the operator's rearm and the reconciler's reopen --------------------------------------------------


def test_rearm_makes_a_final_failure_claimable_with_the_next_generation(
    table: TokenTable, clock: FakeClock
) -> None:
    table.claim(TOKEN, "a")
    failed = table.fail(TOKEN, "a", "InvalidDiskId.NotFound", retryable=False, generation=2)
    clock.advance(5)

    armed = table.rearm(TOKEN, by="alice")

    assert (armed.state, armed.retryable, armed.attempts, armed.generation) == (TokenState.FAILED, True, 0, 3)
    assert armed.detail == "re-armed by alice after InvalidDiskId.NotFound"
    assert (armed.version, armed.updated_at, armed.error_code) == (
        failed.version + 1,
        clock.now,
        "InvalidDiskId.NotFound",
    )
    assert table.get(TOKEN) == armed
    assert table.rearm(TOKEN).detail == "re-armed by operator after InvalidDiskId.NotFound"
    taken = table.claim(TOKEN, "b")
    assert (taken.outcome, taken.record.attempts, taken.record.generation) == (ClaimOutcome.RETRY, 1, 4)
    with pytest.raises(RearmRefused, match="in progress"):
        table.rearm(TOKEN)
    table.mark_sent(TOKEN, "b", generation=4)
    with pytest.raises(RearmRefused, match="in progress"):
        table.rearm(TOKEN)
    table.complete(TOKEN, "b", "s-1")
    with pytest.raises(RearmRefused, match="holds snapshot s-1"):
        table.rearm(TOKEN)
    with pytest.raises(LookupError):
        table.rearm("missing")


def test_reopen_renews_the_record_and_changes_nothing_else(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    table = table_factory(lease_seconds=LEASE, record_ttl_seconds=1000)
    table.claim(TOKEN, "a")
    done = table.complete(TOKEN, "a", "s-1")
    clock.advance(400)

    reopened = table.reopen(TOKEN, "s-1", detail="s-1 ended failed at ECS")

    assert reopened == done.model_copy(
        update={
            "state": TokenState.FAILED,
            "snapshot_id": None,
            "error_code": "SnapshotFailed",
            "retryable": True,
            "detail": "s-1 ended failed at ECS",
            "attempts": 0,
            "generation": done.generation + 1,
            "in_doubt": False,
            "lease_until": 0.0,
            "version": done.version + 1,
            "updated_at": clock.now,
            "expires_at": clock.now + 1000,
        }
    )
    assert table.get(TOKEN) == reopened
    table.claim(TOKEN, "b")
    table.complete(TOKEN, "b", "s-2")
    with pytest.raises(RearmRefused):  # created again, with s-2: a failure of s-1 is old news
        table.reopen(TOKEN, "s-1", detail="late")
    assert table.get(TOKEN).snapshot_id == "s-2"  # type: ignore[union-attr]


# -- another writer that keeps winning -------------------------------------------------------------------


def _failed(table: TokenTable) -> TokenRecord:
    table.claim(TOKEN, "a")
    return table.fail(TOKEN, "a", "InvalidDiskId.NotFound", retryable=True)


def test_a_claim_that_keeps_losing_gives_up_after_eight_rounds(table_factory: TableFactory) -> None:
    other = table_factory(lease_seconds=LEASE)
    start = _failed(other)
    meta = MovingMeta(lambda: other.rearm(TOKEN))

    result = table_factory(lease_seconds=LEASE).claim(TOKEN, "b", meta=meta)

    # Once when the claim builds its first record, then once per round between read and write.
    assert meta.moves == 1 + 8
    assert result.outcome is ClaimOutcome.BUSY and not result.owned
    assert result.record.generation == start.generation + meta.moves == other.get(TOKEN).generation  # type: ignore[union-attr]


def test_rearm_that_keeps_losing_gives_up_after_eight_rounds(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    other = table_factory(lease_seconds=LEASE)
    start = _failed(other)
    moving = MovingClock(clock, lambda: other.rearm(TOKEN))
    table = table_factory(lease_seconds=LEASE, clock=moving)
    moving.moving = True

    with pytest.raises(TokenTableError, match="could not re-arm"):
        table.rearm(TOKEN)

    moving.moving = False
    assert moving.moves == 2 * 8  # each round reads the clock twice: checking expiry, stamping the write
    assert table.get(TOKEN).generation == start.generation + 16  # type: ignore[union-attr]


def test_reopen_that_keeps_losing_gives_up_after_eight_rounds(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    other = table_factory(lease_seconds=LEASE)
    other.claim(TOKEN, "a")
    done = other.complete(TOKEN, "a", "s-1")

    def touch(current: TokenRecord | None, now: float) -> tuple[Mapping[str, str], float]:
        assert current is not None
        return current.meta, current.expires_at  # a new version, still CREATED with s-1

    moving = MovingClock(clock, lambda: other.update_record(TOKEN, "x", touch))
    table = table_factory(lease_seconds=LEASE, clock=moving)
    moving.moving = True

    with pytest.raises(TokenTableError, match="could not reopen"):
        table.reopen(TOKEN, "s-1", detail="failed at ECS")

    moving.moving = False
    assert moving.moves == 2 * 8
    record = table.get(TOKEN)
    assert record is not None and (record.state, record.snapshot_id) == (TokenState.CREATED, "s-1")
    assert record.version == done.version + 16


def test_an_update_that_keeps_losing_gives_up_after_eight_rounds(table_factory: TableFactory) -> None:
    mine, theirs = table_factory(), table_factory()
    calls = []

    def change(current: TokenRecord | None, now: float) -> tuple[Mapping[str, str], float]:
        calls.append(current)
        theirs.update_record(TOKEN, "them", lambda r, t: ({"n": str(len(calls))}, t + 60))
        return {"n": "mine"}, now + 60

    with pytest.raises(TokenTableError, match="could not settle an update"):
        mine.update_record(TOKEN, "me", change)
    assert len(calls) == 8 and mine.get(TOKEN).meta == {"n": "8"}  # type: ignore[union-attr]
