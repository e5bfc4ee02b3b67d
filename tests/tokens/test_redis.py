"""Redis specifics: key layout and expiry, and a server that is down or hung."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import traceback

import pytest
import redis

from devkit.redis_server import RedisServer, free_port
from snapstack.tokens import ClaimOutcome, TokenTableError, TokenTableUnavailable, open_table
from snapstack.tokens.base import TokenTableAuthError
from snapstack.tokens.redis import (
    KEY_PREFIX,
    RedisTokenTable,
    guards_single_connection,
    server_offset,
)
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


# -- the server's assumptions and its "not now" replies (issue #10 items 4, 8, 13) -------------------


def test_oom_and_readonly_replies_are_an_outage_not_a_crash(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    table = open_table(redis_url)
    table.claim("t-before", "a")
    try:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")  # every write now answers OOM
        with pytest.raises(TokenTableUnavailable, match="OutOfMemory"):
            table.claim("t-oom", "a")
        admin.config_set("maxmemory", "0")
        with RedisServer() as primary:  # a failover demoted this server: writes answer READONLY
            admin.replicaof("127.0.0.1", primary.port)
            with pytest.raises(TokenTableUnavailable, match="ReadOnly"):
                table.claim("t-readonly", "a")
            admin.replicaof("NO", "ONE")
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
        table.close()


def test_a_user_without_the_rights_is_refused_not_a_crash(redis_server: RedisServer) -> None:
    """An ACL user lacking a command's rights gets NOPERM, which redis-py raises as its own class
    without the prefix: still a refusal of our credentials (``TokenTableAuthError``)."""
    admin = redis.Redis.from_url(redis_server.url)
    admin.execute_command("ACL", "SETUSER", "no-rights", "reset", "on", ">pw", "~*", "+ping")
    try:
        table = open_table(f"redis://no-rights:pw@127.0.0.1:{redis_server.port}/0")
        with pytest.raises(TokenTableAuthError, match="NoPermissionError"):
            table.claim("t-noperm", "a")
        table.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "no-rights")
        admin.close()


def test_an_evicting_policy_is_reported_at_connect(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.config_set("maxmemory-policy", "volatile-lru")
    try:
        table = open_table(redis_url)
        with caplog.at_level(logging.WARNING, logger="snapstack.tokens.redis"):
            table.get("t")
        assert table.eviction_policy == "volatile-lru"  # type: ignore[attr-defined]
        assert any("maxmemory-policy is volatile-lru" in r.getMessage() for r in caplog.records)
        table.close()
    finally:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.close()


def test_a_url_password_never_reaches_an_error(redis_server: RedisServer) -> None:
    secret = "hunter2-secret"
    for url in (
        f"rediss://user:{secret}@127.0.0.1:{free_port()}/0",  # TLS, nobody listening
        f"redis://user:{secret}@127.0.0.1:{redis_server.port}/0",  # wrong password
        f"memcached://user:{secret}@127.0.0.1:1",
    ):
        with pytest.raises((TokenTableError, ValueError)) as info:
            open_table(url, socket_timeout=0.5).claim("t", "a")
        text = "".join(traceback.format_exception(info.value))
        assert secret not in text and "***@" in str(info.value)


def test_the_lease_clock_is_the_servers(redis_url: str) -> None:
    table = open_table(redis_url)
    server_seconds, micros = redis.Redis.from_url(redis_url).time()
    assert abs(table.clock() - (server_seconds + micros / 1e6)) < 1.0
    assert table.clock_skew == 0.5
    table.close()


def test_tls_redis_works_and_plain_redis_is_refused_by_it() -> None:
    """``rediss://`` (ApsaraDB for Redis / Tair offer TLS): the whole state machine over TLS."""
    with RedisServer(tls=True) as server:
        table = open_table(server.url, socket_timeout=2.0)
        claim = table.claim("tls-token", "owner-a")
        assert claim.outcome is ClaimOutcome.CLAIMED
        table.complete("tls-token", "owner-a", "s-tls")
        assert table.get("tls-token").snapshot_id == "s-tls"  # type: ignore[union-attr]
        table.close()
        plain = open_table(f"redis://127.0.0.1:{server.port}/0", socket_timeout=0.5)
        with pytest.raises(TokenTableUnavailable):
            plain.claim("tls-token-2", "owner-b")
        plain.close()


# -- the server's clock ------------------------------------------------------------------------------


def test_the_clock_offset_is_the_servers_reading_less_the_round_trips_midpoint() -> None:
    # TIME answered 1000.25 s while this host's clock read 10.0 before the call and 13.0 after it.
    assert server_offset(1000, 250_000, 10.0, 13.0) == 1000.25 - 11.5


def test_the_table_clock_is_the_hosts_plus_the_servers_offset(redis_url: str) -> None:
    table = RedisTokenTable(redis_url)
    table.get("t")  # connects, reading the server's clock once
    assert table._conn is not None
    table._conn.offset = 3600.0  # as if the server's clock ran an hour ahead of this host's

    before = time.time()
    now = table.clock()
    after = time.time()

    assert before + 3600 <= now <= after + 3600
    table.close()


def test_the_server_clock_is_read_again_once_a_minute_has_passed(redis_url: str) -> None:
    table = RedisTokenTable(redis_url)
    table.get("t")
    conn = table._conn
    assert conn is not None
    synced = conn.synced_at

    table.clock()
    assert conn.synced_at == synced  # within the minute the host's clock carries the offset
    conn.synced_at = time.monotonic() - 60.5  # as if the last reading were over a minute old
    table.clock()
    assert conn.synced_at > synced
    conn.synced_at = float("-inf")  # never read
    table.clock()
    assert conn.synced_at > synced
    table.close()


# -- the server's eviction policy, a refused CONFIG, an unparsable URL, a silent server ----------------


@pytest.mark.parametrize(("policy", "warned"), [("allkeys-lru", True), ("noeviction", False)])
def test_every_policy_but_noeviction_is_reported_at_connect(
    redis_url: str, caplog: pytest.LogCaptureFixture, policy: str, warned: bool
) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.config_set("maxmemory-policy", policy)
    try:
        table = RedisTokenTable(redis_url)
        with caplog.at_level(logging.WARNING, logger="snapstack.tokens.redis"):
            table.get("t")
        assert table.eviction_policy == policy
        table.close()
    finally:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.close()
    assert any(f"maxmemory-policy is {policy}" in r.getMessage() for r in caplog.records) is warned


def test_a_server_that_refuses_config_is_not_checked_and_still_serves(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Managed Redis often refuses CONFIG: the policy reads as unknown and the table works."""
    admin = redis.Redis.from_url(redis_server.url)
    admin.execute_command("ACL", "SETUSER", "no-config", "reset", "on", ">pw", "~*", "&*", "+@all", "-config")
    try:
        table = RedisTokenTable(f"redis://no-config:pw@127.0.0.1:{redis_server.port}/0")
        with caplog.at_level(logging.WARNING, logger="snapstack.tokens.redis"):
            assert table.claim("t-no-config", "a").outcome is ClaimOutcome.CLAIMED
        assert table.eviction_policy is None and not caplog.records
        table.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "no-config")
        admin.close()


def test_a_url_redis_py_cannot_parse_is_refused_without_its_password() -> None:
    table = RedisTokenTable("redis://user:hunter2-secret@127.0.0.1:notaport/0")
    with pytest.raises(ValueError, match="not a usable Redis URL") as info:
        table.claim("t", "a")
    assert "hunter2-secret" not in "".join(traceback.format_exception(info.value))


def test_a_request_that_timed_out_is_not_sent_again() -> None:
    """redis-py's retries are off: a command that timed out may have run on the server."""
    with socket.socket() as listener:  # accepts connections (the kernel's backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        table = RedisTokenTable(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", socket_timeout=0.2)
        with pytest.raises(TokenTableUnavailable):
            table.claim("t", "a")
        listener.setblocking(False)
        connections = []
        while True:
            try:
                connections.append(listener.accept()[0])
            except BlockingIOError:
                break
        for connection in connections:
            connection.close()
    assert len(connections) == 1


@pytest.mark.parametrize(
    ("version", "guarded"),
    [
        ("4.4.0", False),
        ("5.2.1", False),
        ("5.3.0", True),
        ("5.3.0b5", True),
        ("6.0.0", True),
        ("8.1.0", True),
    ],
)
def test_redis_py_guards_its_single_connection_from_5_3(version: str, guarded: bool) -> None:
    # FC's runtime preinstalls redis-py 4.4.0: there each command takes a pooled connection.
    assert guards_single_connection(version) is guarded
