"""What the reconciler adds to the token table, on every backend: ``unfinished_records`` and
``reopen``, and which records the first work source takes (``reconcile/sources.py``)."""

from __future__ import annotations

import pytest

from snapstack.reconcile.sources import reconcilable
from snapstack.tokens import RearmRefused, TokenState
from tests.tokens.support import FakeClock, TableFactory


def test_unfinished_records_are_every_live_record_not_created_oldest_first(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    table = table_factory(record_ttl_seconds=100)
    table.claim("t-old", "a")  # expires before the others are read
    clock.advance(200)
    for token in ("t-claimed", "t-sent", "t-done", "t-failed"):
        table.claim(token, "a")
        clock.advance(1)
    table.mark_sent("t-sent", "a", generation=0)
    table.complete("t-done", "a", "s-1")
    table.fail("t-failed", "a", "Throttling", retryable=True)

    found = table.unfinished_records()
    assert [r.token for r in found] == ["t-claimed", "t-sent", "t-failed"]
    assert [r.state for r in found] == [TokenState.CLAIMED, TokenState.SENT, TokenState.FAILED]


def test_reopen_moves_a_created_record_to_a_retryable_failure_with_the_next_generation(
    table_factory: TableFactory,
) -> None:
    table = table_factory()
    table.claim("t", "a")
    table.fail("t", "a", "Throttling", retryable=True, generation=2)
    table.claim("t", "b")
    table.complete("t", "b", "s-1")

    reopened = table.reopen("t", "s-1", detail="s-1 ended failed at ECS")
    assert (reopened.state, reopened.retryable, reopened.snapshot_id) == (TokenState.FAILED, True, None)
    assert (reopened.generation, reopened.attempts, reopened.in_doubt) == (3, 0, False)
    assert (reopened.error_code, reopened.detail) == ("SnapshotFailed", "s-1 ended failed at ECS")
    assert table.get("t") == reopened
    assert table.claim("t", "c").outcome.value == "retry"  # the next attempt takes it at once
    with pytest.raises(RearmRefused):
        table.reopen("t", "s-1", detail="again")  # no longer created with s-1: never twice
    with pytest.raises(LookupError):
        table.reopen("missing", "s-1", detail="none")


def test_reopen_refuses_another_snapshot_than_the_recorded_one(table_factory: TableFactory) -> None:
    table = table_factory()
    table.claim("t", "a")
    table.complete("t", "a", "s-new")
    with pytest.raises(RearmRefused):
        table.reopen("t", "s-old", detail="a failed snapshot the slot no longer holds")
    assert table.get("t").state is TokenState.CREATED  # type: ignore[union-attr]


def test_the_token_table_source_takes_what_no_live_delivery_will_finish(
    table_factory: TableFactory, clock: FakeClock
) -> None:
    table = table_factory()

    def state(token: str) -> bool:
        record = table.get(token)
        assert record is not None
        return reconcilable(record, clock(), table.clock_skew)

    table.claim("live", "a", lease_seconds=60)
    table.claim("dead", "a", lease_seconds=1)
    table.claim("sent", "a", lease_seconds=1)
    table.mark_sent("sent", "a", generation=0, lease_seconds=1)
    table.claim("deferred", "a")
    table.fail("deferred", "a", "Throttling", retryable=True)
    table.claim("gave-up", "a")
    table.fail("gave-up", "a", "IncorrectDiskStatus.CreatingSnapshot", retryable=False)
    table.claim("final", "a")
    table.fail("final", "a", "InvalidDiskId.NotFound", retryable=False)
    table.claim("final-in-doubt", "a")
    table.fail("final-in-doubt", "a", "QuotaExceed.Snapshot", retryable=False, in_doubt=True)
    table.claim("done", "a")
    table.complete("done", "a", "s-1")
    clock.advance(2)

    assert {
        t: state(t)
        for t in ("live", "dead", "sent", "deferred", "gave-up", "final", "final-in-doubt", "done")
    } == {
        "live": False,
        "dead": True,
        "sent": True,
        "deferred": True,
        "gave-up": True,
        "final": False,
        "final-in-doubt": True,
        "done": False,
    }
