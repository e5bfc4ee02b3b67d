"""The token-table contract, run against every backend in ``conftest.BACKENDS``."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest

from snapstack.tokens import ClaimOutcome, LeaseLost, TokenState, TokenTable
from snapstack.tokens.base import DEFAULT_RECORD_TTL_SECONDS
from tests.tokens import workers
from tests.tokens.support import FakeClock, TableFactory, race

LEASE = 30.0
TOKEN = "ss1-0123456789abcdef0123456789abcdef"


@pytest.fixture
def table(table_factory: TableFactory) -> TokenTable:
    return table_factory(lease_seconds=LEASE)


# -- single transitions --------------------------------------------------------------------------


def test_first_claim_is_owned_and_stored(table: TokenTable, clock: FakeClock) -> None:
    result = table.claim(TOKEN, "a", meta={"disk": "d-1"})

    assert result.outcome is ClaimOutcome.CLAIMED and result.owned
    record = result.record
    assert (record.state, record.owner, record.attempts) == (TokenState.CLAIMED, "a", 1)
    assert record.version == int(clock.now * 1000)  # versions start at the claim time in ms
    assert record.lease_until == clock.now + LEASE
    assert record.expires_at == clock.now + DEFAULT_RECORD_TTL_SECONDS
    assert record.meta == {"disk": "d-1"}
    assert table.get(TOKEN) == record


def test_claim_under_a_live_lease_is_busy(table: TokenTable, clock: FakeClock) -> None:
    table.claim(TOKEN, "a")
    clock.advance(LEASE - 0.001)

    result = table.claim(TOKEN, "b")

    assert result.outcome is ClaimOutcome.BUSY and not result.owned
    assert result.record.owner == "a"


def test_complete_then_claim_is_done(table: TokenTable) -> None:
    first = table.claim(TOKEN, "a").record
    done = table.complete(TOKEN, "a", "s-1")

    result = table.claim(TOKEN, "b")

    assert (done.state, done.snapshot_id, done.version) == (TokenState.CREATED, "s-1", first.version + 1)
    assert result.outcome is ClaimOutcome.DONE and not result.owned
    assert result.record == done == table.get(TOKEN)


def test_complete_is_idempotent_for_the_same_snapshot_only(table: TokenTable) -> None:
    table.claim(TOKEN, "a")
    first = table.complete(TOKEN, "a", "s-1")

    assert table.complete(TOKEN, "a", "s-1") == first
    assert table.complete(TOKEN, "someone-else", "s-1") == first
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-2")
    assert table.get(TOKEN) == first


def test_retryable_failure_is_retried_by_the_next_claim(table: TokenTable, clock: FakeClock) -> None:
    first = table.claim(TOKEN, "a", meta={"trigger": "timer"}).record
    failed = table.fail(TOKEN, "a", "Throttling", retryable=True)
    clock.advance(1)

    result = table.claim(TOKEN, "b", meta={"attempt": "2"})

    assert (failed.state, failed.error_code, failed.retryable) == (TokenState.FAILED, "Throttling", True)
    assert result.outcome is ClaimOutcome.RETRY and result.owned
    record = result.record
    assert (record.state, record.owner, record.attempts) == (TokenState.CLAIMED, "b", 2)
    assert record.version == first.version + 2
    assert (record.error_code, record.retryable) == (None, None)
    assert record.lease_until == clock.now + LEASE
    assert record.meta == {"trigger": "timer", "attempt": "2"}
    assert table.complete(TOKEN, "b", "s-9").snapshot_id == "s-9"


def test_non_retryable_failure_is_final(table: TokenTable) -> None:
    table.claim(TOKEN, "a")
    failed = table.fail(TOKEN, "a", "InvalidDiskId.NotFound", retryable=False)

    result = table.claim(TOKEN, "b")

    assert result.outcome is ClaimOutcome.FAILED and not result.owned
    assert result.record == failed
    assert failed.error_code == "InvalidDiskId.NotFound"


def test_takeover_after_the_lease_expires(table: TokenTable, clock: FakeClock) -> None:
    first = table.claim(TOKEN, "a").record
    clock.advance(LEASE)

    result = table.claim(TOKEN, "b")

    assert result.outcome is ClaimOutcome.TAKEOVER and result.owned
    assert (result.record.owner, result.record.attempts) == ("b", 2)
    assert result.record.version == first.version + 1
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-late")
    with pytest.raises(LeaseLost):
        table.fail(TOKEN, "a", "Timeout", retryable=True)
    assert table.complete(TOKEN, "b", "s-1").snapshot_id == "s-1"


def test_an_owner_reclaiming_its_own_live_claim_keeps_it(table: TokenTable) -> None:
    # What a caller does after TokenTableUnavailable: run the claim again with the same owner.
    table.claim(TOKEN, "a")

    result = table.claim(TOKEN, "a")

    assert result.outcome is ClaimOutcome.TAKEOVER and result.record.owner == "a"
    assert table.complete(TOKEN, "a", "s-1").state is TokenState.CREATED


def test_complete_and_fail_by_a_non_owner_raise_lease_lost(table: TokenTable) -> None:
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-1")  # never claimed
    claimed = table.claim(TOKEN, "a").record

    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "b", "s-1")
    with pytest.raises(LeaseLost):
        table.fail(TOKEN, "b", "Boom", retryable=False)
    assert table.get(TOKEN) == claimed


def test_compare_and_set_on_a_stale_version_fails(table: TokenTable) -> None:
    # The primitive every transition rests on: of two writers holding the same version, one wins.
    record = table.claim(TOKEN, "a").record
    v = record.version
    first = record.model_copy(update={"owner": "b", "version": v + 1})
    second = record.model_copy(update={"owner": "c", "version": v + 1})

    assert table._compare_and_set(v, first) is True
    assert table._compare_and_set(v, second) is False
    assert table.get(TOKEN) == first


# -- expiry and audits ---------------------------------------------------------------------------


def test_an_expired_record_reads_as_absent_and_is_claimed_afresh(table: TokenTable, clock: FakeClock) -> None:
    table.claim(TOKEN, "a")
    old = table.complete(TOKEN, "a", "s-1")
    clock.advance(DEFAULT_RECORD_TTL_SECONDS)

    assert table.get(TOKEN) is None
    assert table.records() == []
    result = table.claim(TOKEN, "b")
    assert result.outcome is ClaimOutcome.CLAIMED
    assert (result.record.owner, result.record.attempts) == ("b", 1)
    # Never a version the old record had: an owner holding it cannot compare-and-set over this one.
    assert result.record.version > old.version


def test_completing_an_expired_claim_is_lease_lost(table: TokenTable, clock: FakeClock) -> None:
    table.claim(TOKEN, "a")
    clock.advance(DEFAULT_RECORD_TTL_SECONDS)

    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-1")
    assert table.claim(TOKEN, "b").outcome is ClaimOutcome.CLAIMED


def test_purge_deletes_only_expired_records(table: TokenTable, clock: FakeClock) -> None:
    for i in range(3):
        table.claim(f"old-{i}", "a")
    clock.advance(DEFAULT_RECORD_TTL_SECONDS / 2)
    table.claim("young", "a")
    clock.advance(DEFAULT_RECORD_TTL_SECONDS / 2)  # the old ones are now exactly at expiry

    assert table.purge() == 3
    assert table.purge() == 0
    assert [r.token for r in table.records()] == ["young"]
    assert table.get("young") is not None


def test_records_filter_by_state_newest_first(table: TokenTable, clock: FakeClock) -> None:
    for token in ("t-claimed", "t-created", "t-failed", "t-created-later"):
        table.claim(token, "a")
        clock.advance(1)
    table.complete("t-created", "a", "s-1")
    clock.advance(1)
    table.fail("t-failed", "a", "Boom", retryable=False)
    clock.advance(1)
    table.complete("t-created-later", "a", "s-2")

    assert [r.token for r in table.records()] == ["t-created-later", "t-failed", "t-created", "t-claimed"]
    assert [r.token for r in table.records(state=TokenState.CREATED)] == ["t-created-later", "t-created"]
    assert [r.token for r in table.records(state=TokenState.FAILED)] == ["t-failed"]
    assert [r.token for r in table.records(state=TokenState.CLAIMED)] == ["t-claimed"]


def test_records_lists_every_record_of_a_large_table(table: TokenTable) -> None:
    tokens = {f"t-{i:04d}" for i in range(1200)}  # several of Redis's SCAN batches
    for token in tokens:
        table.claim(token, "a")

    assert {r.token for r in table.records()} == tokens


# -- races ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["table-per-thread", "shared-table"])
def test_threads_racing_on_one_token_leave_one_owner(table_factory: TableFactory, shared: bool) -> None:
    one = table_factory(lease_seconds=LEASE)
    tables = [one] * 12 if shared else [table_factory(lease_seconds=LEASE) for _ in range(12)]

    outcomes = race(tables, lambda t, owner: t.claim(TOKEN, owner).outcome)

    assert outcomes == Counter({"claimed": 1, "busy": 11})


def test_two_takeovers_of_one_expired_lease_have_one_winner(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    tables = [table_factory(lease_seconds=LEASE) for _ in range(8)]
    tables[0].claim(TOKEN, "crashed")
    clock.advance(LEASE + 1)

    outcomes = race(tables, lambda t, owner: t.claim(TOKEN, owner).outcome)

    assert outcomes == Counter({"takeover": 1, "busy": 7})
    record = tables[0].get(TOKEN)
    assert record is not None and record.attempts == 2 and record.owner != "crashed"


def test_processes_racing_on_one_token_leave_one_owner(table_url: str, table_factory: TableFactory) -> None:
    table_factory().get(TOKEN)  # create the backend's storage before the children race to
    ctx = multiprocessing.get_context("spawn")
    procs = 6
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    children = [
        ctx.Process(target=workers.claim_at_barrier, args=(table_url, TOKEN, f"proc-{i}", barrier, results))
        for i in range(procs)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)

    assert [child.exitcode for child in children] == [0] * procs
    assert Counter(outcome for _, outcome in outcomes) == Counter({"claimed": 1, "busy": procs - 1})
    winner = next(owner for owner, outcome in outcomes if outcome == "claimed")
    record = table_factory().get(TOKEN)
    assert record is not None and record.owner == winner


def test_a_crash_between_claim_and_complete_is_taken_over(
    table_url: str, table_factory: TableFactory, clock: FakeClock
) -> None:
    ctx = multiprocessing.get_context("spawn")
    claimed = ctx.Event()
    child = ctx.Process(target=workers.claim_then_hang, args=(table_url, TOKEN, "doomed", claimed))
    child.start()
    try:
        assert claimed.wait(timeout=60), "the child never claimed"
    finally:
        child.kill()
        child.join(timeout=30)
    table = table_factory()
    held = table.get(TOKEN)
    assert held is not None and held.owner == "doomed"

    assert table.claim(TOKEN, "rescuer").outcome is ClaimOutcome.BUSY  # the dead owner's lease still runs
    clock.now = held.lease_until
    taken = table.claim(TOKEN, "rescuer")
    done = table.complete(TOKEN, "rescuer", "s-1")

    assert taken.outcome is ClaimOutcome.TAKEOVER and taken.record.attempts == 2
    assert done.state is TokenState.CREATED
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "doomed", "s-ghost")


def test_a_takeover_renews_the_record_so_its_lease_cannot_outlive_it(
    table: TokenTable, clock: FakeClock
) -> None:
    first = table.claim(TOKEN, "a").record
    clock.advance(DEFAULT_RECORD_TTL_SECONDS - 1)  # the lease is long gone; the record nearly so

    taken = table.claim(TOKEN, "b").record

    assert taken.expires_at == clock.now + DEFAULT_RECORD_TTL_SECONDS > first.expires_at
    assert taken.lease_until < taken.expires_at
    clock.advance(2)  # past the first record's expiry: the renewed record still stands
    assert table.get(TOKEN) == taken


# -- bulk reads ------------------------------------------------------------------------------------------


def test_get_many_reads_every_live_record_in_bulk(table: TokenTable, clock: FakeClock) -> None:
    # 250 tokens: more than one request's worth where the backend pages (Tablestore: 100 rows).
    tokens = [f"ss2-{n:032x}" for n in range(250)]
    for n, token in enumerate(tokens):
        if n % 3 == 0:
            table.claim(token, "a")
            if n % 2 == 0:
                table.complete(token, "a", f"s-{n}")
    stale = f"ss2-{999:032x}"
    table.claim(stale, "a", lease_seconds=1)
    clock.advance(DEFAULT_RECORD_TTL_SECONDS + 1)  # every record so far has expired
    table.claim(tokens[0], "b")  # a fresh one over an expired record
    found = table.get_many([*tokens, stale, tokens[0]])
    assert set(found) == {tokens[0]} and found[tokens[0]].owner == "b"

    fresh = {t: table.claim(t, "c").record for t in tokens[1:200:7]}
    found = table.get_many(tokens)
    assert set(found) == {tokens[0], *fresh} and all(found[t] == r for t, r in fresh.items())
    assert table.get_many([]) == {}
