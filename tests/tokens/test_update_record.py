"""``TokenTable.update_record``: the conditional read-modify-write, on every backend in BACKENDS."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from snapstack.tokens import TokenRecord, TokenState, TokenTable
from snapstack.tokens.base import RecordChange, TokenTableError
from tests.tokens.support import FakeClock, TableFactory, together

KEY = "ssw-0123456789abcdef0123456789abcdef"


@pytest.fixture
def table(table_factory: TableFactory) -> TokenTable:
    return table_factory()


def counter(step: int = 1, ttl: float = 60.0) -> RecordChange:
    """A change that adds ``step`` to meta["n"] (0 when there is no record)."""

    def change(current: TokenRecord | None, now: float) -> tuple[Mapping[str, str], float]:
        n = int(current.meta["n"]) if current is not None else 0
        return {"n": str(n + step)}, now + ttl

    return change


def test_a_first_update_inserts_with_only_the_documented_fields(table: TokenTable, clock: FakeClock) -> None:
    record = table.update_record(KEY, "a", counter())

    assert record is not None and record == table.get(KEY)
    assert (record.state, record.owner, record.meta) == (TokenState.CREATED, "a", {"n": "1"})
    assert (record.created_at, record.updated_at, record.expires_at) == (clock.now, clock.now, clock.now + 60)
    assert record.version == int(clock.now * 1000)
    assert (record.snapshot_id, record.error_code, record.lease_until) == (None, None, 0.0)


def test_a_later_update_sees_the_record_and_moves_its_version(table: TokenTable, clock: FakeClock) -> None:
    first = table.update_record(KEY, "a", counter())
    clock.advance(5)
    second = table.update_record(KEY, "b", counter(), state=TokenState.CLAIMED)

    assert first is not None and second is not None
    assert second.meta == {"n": "2"} and second.version == first.version + 1
    assert (second.state, second.owner, second.created_at, second.updated_at) == (
        TokenState.CLAIMED,
        "b",
        first.created_at,
        clock.now,
    )


def test_a_change_that_returns_none_leaves_the_record(table: TokenTable) -> None:
    assert table.update_record(KEY, "a", lambda current, now: None) is None
    assert table.get(KEY) is None
    first = table.update_record(KEY, "a", counter())

    seen: list[TokenRecord | None] = []
    kept = table.update_record(KEY, "b", lambda current, now: seen.append(current))

    assert kept == first == seen[0] == table.get(KEY)


def test_an_expired_record_reads_as_absent_and_is_replaced(table: TokenTable, clock: FakeClock) -> None:
    first = table.update_record(KEY, "a", counter(ttl=10))
    clock.advance(10)

    seen: list[TokenRecord | None] = []

    def change(current: TokenRecord | None, now: float) -> tuple[Mapping[str, str], float]:
        seen.append(current)
        return {"n": "fresh"}, now + 10

    again = table.update_record(KEY, "b", change)

    assert seen == [None] and first is not None and again is not None
    assert again.meta == {"n": "fresh"} and again.created_at == clock.now and again.version > first.version


def test_a_writer_that_loses_the_race_runs_its_change_again_on_the_winners_record(
    table_factory: TableFactory,
) -> None:
    mine, theirs = table_factory(), table_factory()
    seen: list[str | None] = []

    def change(current: TokenRecord | None, now: float) -> tuple[Mapping[str, str], float]:
        seen.append(None if current is None else current.meta["n"])
        if len(seen) == 1:  # between this read and this write, another writer gets in first
            theirs.update_record(KEY, "them", counter(step=10))
        n = int(current.meta["n"]) if current is not None else 0
        return {"n": str(n + 1)}, now + 60

    record = mine.update_record(KEY, "me", change)

    assert seen == [None, "10"]  # lost the insert, re-read the winner's record
    assert record is not None and record.meta == {"n": "11"} and record.owner == "me"


def test_racing_threads_lose_no_update(table_factory: TableFactory) -> None:
    tables = [table_factory() for _ in range(8)]

    def three_updates(table: TokenTable, owner: str) -> int:
        landed = 0
        for _ in range(3):
            try:
                table.update_record(KEY, owner, counter())
                landed += 1
            except TokenTableError:  # after 8 lost races in a row: said, never silent
                pass
        return landed

    landed = sum(together(tables, three_updates))

    record = tables[0].get(KEY)
    assert record is not None and int(record.meta["n"]) == landed > 0
