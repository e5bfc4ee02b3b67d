"""A stored value that is not a token record (corrupted, or written by something else) is a
token-table error naming its token, on the backends that store records as JSON (SQLite, Redis;
Tablestore's unreadable row is tested in tests/tablestore), never pydantic's ValidationError."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
import redis
from pydantic import ValidationError

from snapstack.tokens import TokenTableError, open_table
from snapstack.tokens.base import TokenTable
from snapstack.tokens.redis import KEY_PREFIX
from snapstack.tokens.sqlite import path_from_url
from tests.tokens.support import FakeClock

BODY = '{"token": "t", "state": "no such state"}'


def corrupt_sqlite(url: str) -> None:
    with sqlite3.connect(path_from_url(url)) as conn:
        conn.execute("INSERT INTO tokens VALUES ('t', 1, 4e9, ?)", (BODY,))


def corrupt_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.hset(KEY_PREFIX + "t", mapping={"r": BODY, "v": 1, "x": 4e9})
    finally:
        client.close()


CORRUPTERS: dict[str, Callable[[str], None]] = {"sqlite": corrupt_sqlite, "redis": corrupt_redis}


@pytest.fixture(params=sorted(CORRUPTERS))
def table(request: pytest.FixtureRequest, clock: FakeClock) -> TokenTable:
    url: str = request.getfixturevalue(f"{request.param}_url")
    made = open_table(url, clock=clock)
    made.claim("u", "owner-a")  # a good record beside the bad one (and SQLite's file and table)
    CORRUPTERS[request.param](url)
    return made


@pytest.mark.parametrize(
    "read",
    [
        lambda t: t.get("t"),
        lambda t: t.get_many(["u", "t"]),
        lambda t: t.claim("t", "owner-b"),
        lambda t: t.records(),
    ],
    ids=["get", "get_many", "claim", "records"],
)
def test_a_value_that_is_not_a_record_is_a_table_error_naming_its_token(table, read):
    expected = r"token t: the stored value is not a token record \(state: "
    with pytest.raises(TokenTableError, match=expected) as info:
        read(table)
    assert not isinstance(info.value.__cause__, ValidationError)
    table.close()


def test_the_good_record_beside_it_still_reads(table):
    record = table.get("u")
    assert record is not None and record.owner == "owner-a"
    table.close()
