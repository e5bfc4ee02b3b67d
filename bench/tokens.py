"""Token table throughput: claim+complete pairs per second per backend, 1 client and N concurrent clients.

A pair is what one snapshot costs the table: ``claim`` of a new token, then ``complete``. Each client
is its own table instance (its own connection) on its own thread, working through its own tokens;
the figure is all clients' pairs over the wall time. Redis runs in a private ``redis-server``;
Tablestore (when its backend and the devkit emulator are installed) runs against the emulator in
this process, so its figures include the emulator's share of the CPU and are a floor, not a forecast.

Rounds are interleaved: every round measures every backend (in a shuffled order), so a change in
the machine's load touches them all alike; each cell prints its median and spread over the rounds.
Redis stands next to its own floor, measured in the same rounds: a pair is two round trips (the
claim's script, the completion's compare-and-set), so the most any Redis table could do is two
``PING`` round trips per pair, through redis-py and through a raw socket. Our figure follows the
loopback round trip, and the floor shows how far.

    python -m bench.tokens [--seconds S] [--rounds R] [--clients N] [--backend NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.harness import record, rounds_line
from bench.harness import verdict as summary_verdict
from devkit.redis_server import RedisServer
from snapstack.tokens import ClaimOutcome, TokenTable, open_table

# Single-client pairs per second this machine should reach (the table must never be the bottleneck
# of a function that makes one ECS call per pair).
TARGETS = {"sqlite": 2_000, "redis": 5_000}
BACKENDS = ("sqlite", "redis", "tablestore")
REDIS_PY_FLOOR = "redis floor: 2 PINGs via redis-py"
RAW_FLOOR = "redis floor: 2 PINGs, raw socket"
WARMUP_PAIRS = 50


@dataclass
class Backend:
    """How to open one backend's table: a URL and the constructor's extra keyword arguments."""

    name: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def open(self) -> TokenTable:
        """A new table instance (its own connection)."""
        return open_table(self.url, **self.kwargs)


def tablestore_available() -> bool:
    """Whether the Tablestore backend and the devkit emulator are both installed."""
    modules = ("snapstack.tokens.tablestore", "devkit.tablestore.testing")
    return all(importlib.util.find_spec(m) for m in modules)


@contextmanager
def started(names: list[str]) -> Iterator[list[Backend]]:
    """Start what each named backend needs (a temp dir, a redis-server, the Tablestore emulator)."""
    with ExitStack() as stack:
        backends = []
        for name in names:
            if name == "sqlite":
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="snapstack-bench-"))
                backends.append(Backend(name, f"sqlite:///{folder}/tokens.db"))
            elif name == "redis":
                backends.append(Backend(name, stack.enter_context(RedisServer()).url))
            else:
                backends.append(stack.enter_context(_tablestore()))
        yield backends


@contextmanager
def _tablestore() -> Iterator[Backend]:
    from devkit.tablestore.testing import start_emulator

    with start_emulator() as running:
        yield Backend("tablestore", running.table_url(), dict(running.credentials))


def _pair(table: TokenTable, token: str, owner: str) -> None:
    result = table.claim(token, owner)
    if result.outcome is not ClaimOutcome.CLAIMED:  # a bench that measured BUSY would mean nothing
        raise RuntimeError(f"bench token {token} was {result.outcome.value}, not claimed")
    table.complete(token, owner, "s-bench")


def pairs_per_second(backend: Backend, clients: int, seconds: float) -> float:
    """Claim+complete pairs per second of ``clients`` concurrent clients over about ``seconds``."""
    run = uuid.uuid4().hex[:8]
    tables = [backend.open() for _ in range(clients)]
    for i, table in enumerate(tables):  # connect, create the schema, load scripts
        for n in range(WARMUP_PAIRS):
            _pair(table, f"warm-{run}-{i}-{n}", f"bench-{i}")
    start = threading.Barrier(clients + 1)
    stop = threading.Event()
    counts = [0] * clients
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            start.wait()
            n = 0
            while not stop.is_set():
                _pair(tables[i], f"bench-{run}-{i}-{n}", f"bench-{i}")
                n += 1
            counts[i] = n
        except BaseException as exc:  # re-raised below, in the main thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for table in tables:
        table.close()
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def redis_py_floor(url: str, seconds: float) -> float:
    """Pairs per second if a pair were two ``PING`` round trips through redis-py (one client)."""
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    pairs, began = 0, time.perf_counter()
    end = began + seconds
    while time.perf_counter() < end:
        client.ping()
        client.ping()
        pairs += 1
    client.close()
    return pairs / (time.perf_counter() - began)


def raw_socket_floor(url: str, seconds: float) -> float:
    """Pairs per second if a pair were two ``PING`` round trips on a raw socket (one client)."""
    host, port = urlsplit(url).hostname or "127.0.0.1", urlsplit(url).port or 6379
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pairs, began = 0, time.perf_counter()
        end = began + seconds
        while time.perf_counter() < end:
            for _ in range(2):
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                if sock.recv(64) != b"+PONG\r\n":
                    raise RuntimeError("redis-server did not answer PING")
            pairs += 1
        return pairs / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    """Measure in interleaved rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every backend (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the second column")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="only these (repeatable)")
    args = parser.parse_args(argv)
    names = args.backend or list(BACKENDS)
    if "tablestore" in names and not tablestore_available():
        print("tablestore: skipped (snapstack.tokens.tablestore or devkit.tablestore is missing)")
        names.remove("tablestore")

    python = sys.version.split()[0]
    cells: dict[str, list[float]] = {}
    rng = random.Random(3)
    with started(names) as backends:
        redis_url = next((b.url for b in backends if b.name == "redis"), None)
        for _ in range(args.rounds):
            for backend in rng.sample(backends, len(backends)):
                for clients in (1, args.clients):
                    cell = f"{backend.name}, {clients} client(s)"
                    cells.setdefault(cell, []).append(pairs_per_second(backend, clients, args.seconds))
            if redis_url is not None:
                cells.setdefault(REDIS_PY_FLOOR, []).append(redis_py_floor(redis_url, args.seconds))
                cells.setdefault(RAW_FLOOR, []).append(raw_socket_floor(redis_url, args.seconds))
    print(
        f"token table: claim+complete pairs/s, {args.rounds} round(s) of {args.seconds:g} s per cell "
        f"(python {python})"
    )
    for cell, values in cells.items():
        print("  " + rounds_line(f"{cell:<34}", values, "pairs/s", "{:,.0f}"))
    med = statistics.median
    for name in names:
        single, many = med(cells[f"{name}, 1 client(s)"]), med(cells[f"{name}, {args.clients} client(s)"])
        target = TARGETS.get(name)
        floor = ""
        if name == "redis":
            floor = (
                f"; floor: 2 PINGs via redis-py {med(cells[REDIS_PY_FLOOR]):,.0f}, "
                f"raw socket {med(cells[RAW_FLOOR]):,.0f}"
            )
        record(
            f"token table {name}, pairs/s",
            f"{single:,.0f} (1 client), {many:,.0f} ({args.clients} clients){floor}",
            "(reported)" if target is None else f">= {target:,} (1 client)",
            "-" if target is None else summary_verdict(single >= target, f"{single / target:.1f}x"),
        )
    if "redis" in names:
        share = med(cells["redis, 1 client(s)"]) / med(cells[REDIS_PY_FLOOR])
        print(f"  redis: our pairs are {share:.0%} of the redis-py floor (two bare round trips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
