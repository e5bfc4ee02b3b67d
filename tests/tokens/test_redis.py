"""Redis specifics: key layout and expiry, and a server that is down or hung."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from devkit.redis_server import RedisServer, free_port
from snapstack.tokens import TokenTableUnavailable
from snapstack.tokens.redis import KEY_PREFIX, RedisTokenTable
from tests.tokens.support import FakeClock


def test_each_record_expires_with_its_key(redis_url: str, clock: FakeClock) -> None:
    table = RedisTokenTable(redis_url, clock=clock)
    record = table.claim("t", "a").record
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.pexpiretime(KEY_PREFIX + "t") == int(record.expires_at * 1000)
        done = table.complete("t", "a", "s-1")
        assert client.hget(KEY_PREFIX + "t", "v") == str(done.version).encode()
        assert client.pexpiretime(KEY_PREFIX + "t") == int(record.expires_at * 1000)
    finally:
        client.close()
        table.close()


def test_records_already_dropped_by_redis_are_gone(redis_url: str, clock: FakeClock) -> None:
    # A record whose expiry has passed in real time is dropped by Redis itself, not left for purge.
    clock.now = time.time() - 30 * 86400
    table = RedisTokenTable(redis_url, clock=clock)
    table.claim("t", "a")
    clock.now = time.time()

    assert table._get("t") is None
    assert table.purge() == 0


def test_a_closed_port_is_unavailable_at_once() -> None:
    table = RedisTokenTable(f"redis://127.0.0.1:{free_port()}/0")

    # Refused, not timed out: nothing waits for an answer, and no retry waits either.
    with pytest.raises(TokenTableUnavailable, match="refused") as info:
        table.claim("t", "a")
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
    assert not isinstance(info.value.__cause__, redis.exceptions.TimeoutError)


def test_a_hung_server_is_unavailable_within_the_timeout_then_recovers() -> None:
    # A private server: pausing the session's would stall every other test on failure.
    with RedisServer() as server:
        table = RedisTokenTable(server.url)  # the default 2 s socket timeout
        table.get("warm")  # connected before the pause, like a warm function instance
        assert table._conn is not None
        connection = table._conn.client.connection
        assert (connection.socket_timeout, connection.socket_connect_timeout) == (2.0, 2.0)
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(TokenTableUnavailable, match="Timeout") as info:
                table.claim("t", "a")
            assert isinstance(info.value.__cause__, redis.exceptions.TimeoutError)
        finally:
            os.kill(server.pid, signal.SIGCONT)

        # The timed-out claim may have run once the server woke; re-claiming is safe either way.
        assert table.claim("t", "a").owned
        assert table.complete("t", "a", "s-1").snapshot_id == "s-1"
        table.close()
