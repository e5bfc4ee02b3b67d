"""The five primitives every backend implements (tokens/base.py builds the state machine on them),
each answering exactly whether it acted: once per backend, on the shared fake clock."""

from __future__ import annotations

from snapstack.tokens import TokenTable
from tests.tokens.support import FakeClock, TableFactory


def test_the_primitives_say_whether_they_acted(table_factory: TableFactory, clock: FakeClock) -> None:
    table: TokenTable = table_factory(lease_seconds=10)
    table.claim("t", "owner")
    record = table._get("t")
    assert record is not None and table._get("missing") is None

    assert table._put_if_absent(record) is False  # present and not expired
    newer = record.model_copy(update={"version": record.version + 1, "owner": "other"})
    assert table._compare_and_set(record.version + 1, newer) is False  # not the stored version
    assert table._compare_and_set(record.version, newer) is True
    assert table._get("t") == newer
    assert [r.token for r in table._scan()] == ["t"]

    assert table._delete_if_expired("missing", clock()) is False
    assert table._delete_if_expired("t", newer.expires_at - 1) is False  # not expired yet
    assert table._delete_if_expired("t", newer.expires_at) is True
    assert table._get("t") is None and list(table._scan()) == []
    assert table._put_if_absent(record) is True
