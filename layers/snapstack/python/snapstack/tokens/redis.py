"""The token table in Redis (a local ``redis-server`` in tests; ApsaraDB for Redis / Tair in production).

URL: ``redis://[user:password@]host:port/db``, or ``rediss://...`` for TLS (ApsaraDB for Redis / Tair
offer TLS; ``?ssl_ca_certs=/path/ca.pem`` names the CA bundle): anything redis-py's ``from_url``
accepts. A URL's credentials never appear in an error or log line (``urls.redact_url``).

Each record is a hash at ``snapstack:token:<token>`` with three fields: ``v`` (version), ``x``
(``expires_at``, seconds) and ``r`` (the record as JSON). Both primitives are Lua scripts, so the check
and the write are one atomic step on the server; redis-py sends them by SHA and loads them on the
first ``NOSCRIPT``. Every write sets the key's expiry to the record's (``PEXPIREAT``), so Redis drops
expired records itself and ``purge`` only has work when a record expired by the table's clock first.

A down or hung server must not stall a function invocation: connect and socket timeouts default to
2 s, and redis-py's own retries are off, because a command that timed out may still have run on the
server. Every connection error or timeout raises ``TokenTableUnavailable``, and so do the error
replies of a server that cannot take writes right now (``OOM``, ``READONLY`` after a failover,
``LOADING``, ``MASTERDOWN``, ``BUSY``, ``TRYAGAIN``, ``CLUSTERDOWN``); refused credentials raise
``TokenTableAuthError``. The state machine is safe to re-run (see ``tokens/base.py``).

What it assumes of the server (checked where the server allows it):

- **Eviction**: ``maxmemory-policy`` must be ``noeviction``. Every record has an expiry (``PEXPIREAT``),
  so a ``volatile-*`` policy evicts exactly the token keys first under memory pressure, and
  ``allkeys-*`` may too: an evicted record lets a redelivery snapshot the slot again. At connect the
  table asks ``CONFIG GET maxmemory-policy`` and logs a warning on any other policy (managed Redis
  often refuses CONFIG; then nothing is checked). With ``noeviction`` a full server answers ``OOM``,
  which is an outage (deferred disks), not a lost record.
- **Replication and failover**: writes go to the primary; Redis replicates asynchronously, so a
  failover can lose the last acknowledged writes (a claim or a completion). A lost claim is re-taken
  by the next delivery; a lost completion leaves a slot whose snapshot exists: the next owner finds
  it by its ``snapstack:slot`` tag before sending anything (``in_doubt``), so no duplicate follows.
  Writes to a demoted primary answer ``READONLY``: an outage, retried.
- **Persistence**: without AOF (``appendonly yes``, ``appendfsync everysec``) or RDB snapshots a
  restart empties the table, with the same consequence as a failover for records in flight, and
  finished slots are forgotten: their redeliveries then rely on ECS (tag lookup only happens for
  records in doubt), so keep persistence on.
- **Clock**: lease arithmetic uses the server's clock (``TIME``, read once per connection and
  again once ``CLOCK_SYNC_SECONDS``, a minute, have passed; the local clock advances it in
  between), so hosts with skewed clocks agree on when a lease ends; ``default_clock_skew`` covers
  the round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from snapstack.tokens.base import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RECORD_TTL_SECONDS,
    TokenRecord,
    TokenTable,
    TokenTableAuthError,
    TokenTableUnavailable,
    record_from_json,
)
from snapstack.tokens.urls import redact_url

KEY_PREFIX = "snapstack:token:"
_SCAN_BATCH = 500
CLOCK_SYNC_SECONDS = 60.0
SAFE_EVICTION_POLICY = "noeviction"
# Error replies meaning "the server cannot serve this write now" (an outage, not a bug).
_UNAVAILABLE_REPLIES = ("OOM", "READONLY", "LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN")
_AUTH_REPLIES = ("NOAUTH", "WRONGPASS", "NOPERM")
log = logging.getLogger("snapstack.tokens.redis")

# KEYS[1] record key; ARGV now, version, expires_at, record JSON, expiry in Unix ms.
_PUT_IF_ABSENT = """
local expires = redis.call('HGET', KEYS[1], 'x')
if expires and tonumber(expires) > tonumber(ARGV[1]) then
    return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'x', ARGV[3], 'r', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
"""
# KEYS[1] record key; ARGV expected version, then as above.
_COMPARE_AND_SET = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'x', ARGV[3], 'r', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
"""
# KEYS[1] record key; ARGV now.
_DELETE_IF_EXPIRED = """
local expires = redis.call('HGET', KEYS[1], 'x')
if expires and tonumber(expires) <= tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
"""


def _write_args(record: TokenRecord) -> list[str | int | float]:
    """The ARGV tail both writing scripts share: version, expires_at, JSON, expiry in ms."""
    return [
        record.version,
        repr(record.expires_at),  # repr round-trips the float exactly through Lua's tonumber
        record.model_dump_json(),
        int(record.expires_at * 1000),
    ]


def guards_single_connection(version: str) -> bool:
    """Whether redis-py ``version`` guards a single-connection client with a lock for threads
    (``single_connection_lock``, since 5.3.0); only major and minor are read ("5.3.0b5" is 5.3)."""
    major, minor = version.split(".")[:2]
    return (int(major), int(minor)) >= (5, 3)


_GUARDED_SINGLE_CONNECTION = guards_single_connection(redis.__version__)


def server_offset(seconds: int, micros: int, before: float, after: float) -> float:
    """How far the server's clock is ahead of ours: its ``TIME`` reply (seconds, microseconds)
    less the midpoint of the round trip that read it (``before`` and ``after``, our clock)."""
    return seconds + micros / 1e6 - (before + after) / 2


class _Connection:
    """A client on one connection, the scripts registered on it, and the server clock's offset."""

    def __init__(self, url: str, socket_timeout: float) -> None:
        # One connection, which redis-py guards with a lock for threads: checking a pooled connection
        # out and back in for every command nearly halved throughput on loopback (measured: 2,100 vs
        # 3,900 claim+complete pairs/s). redis-py connects right here, hence the lazy construction.
        # Pool from the URL, client on top: FC's preinstalled redis 4.4.0 passes every from_url
        # keyword to the connections, which reject single_connection_client (TypeError). And 4.4.0
        # does not guard its single connection (the lock came in redis-py 5.3): threads sharing it
        # read each other's replies (seen as protocol errors), so there each command uses the pool.
        try:
            pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:  # redis-py's messages may quote the URL: never its credentials
            raise ValueError(f"not a usable Redis URL: {redact_url(url)} ({type(exc).__name__})") from None
        self.client = redis.Redis(connection_pool=pool, single_connection_client=_GUARDED_SINGLE_CONNECTION)
        self.offset = 0.0
        self.synced_at = float("-inf")
        self.eviction_policy: str | None = None
        self.put_if_absent = self.client.register_script(_PUT_IF_ABSENT)
        self.compare_and_set = self.client.register_script(_COMPARE_AND_SET)
        self.delete_if_expired = self.client.register_script(_DELETE_IF_EXPIRED)


class RedisTokenTable(TokenTable):
    """The token table in a Redis database."""

    scheme = "redis"
    #: The server's clock is read over one round trip: half of it is the uncertainty (small).
    default_clock_skew = 0.5

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float = 2.0,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        record_ttl_seconds: float = DEFAULT_RECORD_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        clock_skew_seconds: float | None = None,
    ) -> None:
        super().__init__(
            lease_seconds=lease_seconds,
            record_ttl_seconds=record_ttl_seconds,
            clock=clock,
            clock_skew_seconds=clock_skew_seconds,
        )
        self.url = url
        self.socket_timeout = socket_timeout
        self._lock = threading.Lock()
        # Connected on first use, so making a table never waits on the network (cold start).
        self._conn: _Connection | None = None

    def __repr__(self) -> str:
        return f"RedisTokenTable({redact_url(self.url)!r})"

    @property
    def eviction_policy(self) -> str | None:
        """The server's ``maxmemory-policy`` as read at connect (None: not readable or not yet)."""
        return None if self._conn is None else self._conn.eviction_policy

    @contextmanager
    def _connection(self) -> Iterator[_Connection]:
        where = redact_url(self.url)
        try:
            with self._lock:
                if self._conn is None:
                    conn = _Connection(self.url, self.socket_timeout)
                    self._check_server(conn)
                    self._conn = conn
                conn = self._conn
            yield conn
        except redis.exceptions.AuthenticationError as exc:
            raise TokenTableAuthError(f"Redis token table {where}: credentials refused ({exc})") from exc
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise TokenTableUnavailable(f"Redis token table {where}: {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            text = str(exc)
            # redis-py turns OOM, READONLY and LOADING into their own classes (and drops the prefix).
            not_now = (
                redis.exceptions.OutOfMemoryError,
                redis.exceptions.ReadOnlyError,
                redis.exceptions.BusyLoadingError,
            )
            if isinstance(exc, not_now) or text.startswith(_UNAVAILABLE_REPLIES):
                raise TokenTableUnavailable(
                    f"Redis token table {where}: {type(exc).__name__}: {text}"
                ) from exc
            # NOPERM too arrives as its own class, without the prefix (an ACL without the rights).
            if isinstance(exc, redis.exceptions.NoPermissionError) or text.startswith(_AUTH_REPLIES):
                raise TokenTableAuthError(f"Redis token table {where}: {type(exc).__name__}: {text}") from exc
            raise

    def _check_server(self, conn: _Connection) -> None:
        """Read the server's clock, and its eviction policy where CONFIG is allowed."""
        self._sync_clock(conn)
        try:
            answer = cast("dict[str, str]", conn.client.config_get("maxmemory-policy"))
        except redis.exceptions.ResponseError:
            return  # managed Redis often disables CONFIG: nothing to check
        policy = answer.get("maxmemory-policy")
        policy = policy.decode() if isinstance(policy, bytes) else policy
        conn.eviction_policy = policy
        if policy and policy != SAFE_EVICTION_POLICY:
            log.warning(
                "Redis token table %s: maxmemory-policy is %s; token records carry an expiry and can "
                "be evicted under memory pressure, letting a slot be snapshotted twice: use %s",
                redact_url(self.url),
                policy,
                SAFE_EVICTION_POLICY,
            )

    @staticmethod
    def _sync_clock(conn: _Connection) -> None:
        before = time.time()
        seconds, micros = conn.client.time()
        conn.offset = server_offset(seconds, micros, before, time.time())
        conn.synced_at = time.monotonic()

    def _backend_clock(self) -> float:
        """The server's clock: the local clock plus the offset read with ``TIME``."""
        with self._connection() as conn:
            if time.monotonic() - conn.synced_at > CLOCK_SYNC_SECONDS:
                self._sync_clock(conn)
            return time.time() + conn.offset

    def _get(self, token: str) -> TokenRecord | None:
        with self._connection() as conn:
            body = cast("bytes | None", conn.client.hget(KEY_PREFIX + token, "r"))
        return None if body is None else record_from_json(body, token)

    def _get_many(self, tokens: list[str]) -> dict[str, TokenRecord]:
        with self._connection() as conn:
            pipe = conn.client.pipeline(transaction=False)
            for token in tokens:
                pipe.hget(KEY_PREFIX + token, "r")
            bodies = cast("list[bytes | None]", pipe.execute())
        return {t: record_from_json(b, t) for t, b in zip(tokens, bodies, strict=True) if b is not None}

    def _put_if_absent(self, record: TokenRecord) -> bool:
        with self._connection() as conn:
            done = conn.put_if_absent(
                keys=[KEY_PREFIX + record.token], args=[self.clock(), *_write_args(record)]
            )
        return bool(done)

    def _compare_and_set(self, expected_version: int, record: TokenRecord) -> bool:
        with self._connection() as conn:
            done = conn.compare_and_set(
                keys=[KEY_PREFIX + record.token], args=[expected_version, *_write_args(record)]
            )
        return bool(done)

    def _scan(self) -> Iterator[TokenRecord]:
        bodies: list[tuple[bytes, bytes | None]] = []
        with self._connection() as conn:
            cursor = 0
            while True:
                cursor, keys = cast(
                    "tuple[int, list[bytes]]",
                    conn.client.scan(cursor, match=KEY_PREFIX + "*", count=_SCAN_BATCH),
                )
                pipe = conn.client.pipeline(transaction=False)
                for key in keys:
                    pipe.hget(key, "r")
                bodies.extend(zip(keys, pipe.execute(), strict=True))
                if cursor == 0:
                    break
        # A key can expire between SCAN and HGET: its body reads as None.
        prefix = len(KEY_PREFIX)
        return (record_from_json(body, key[prefix:].decode()) for key, body in bodies if body is not None)

    def _delete_if_expired(self, token: str, now: float) -> bool:
        with self._connection() as conn:
            done = conn.delete_if_expired(keys=[KEY_PREFIX + token], args=[now])
        return bool(done)

    def close(self) -> None:
        """Disconnect; the next call connects again."""
        with self._lock:
            if self._conn is not None:
                self._conn.client.close()
                self._conn = None
