"""Token table throughput: claim+complete pairs per second per backend, 1 client and N concurrent clients.

A pair is what one snapshot costs the table: ``claim`` of a new token, then ``complete``. Each client
is its own table instance (its own connection) on its own thread, working through its own tokens;
the figure is all clients' pairs over the wall time. Redis runs in a private ``redis-server``;
Tablestore (when its backend and the devkit emulator are installed) runs against the emulator in
this process, so its figures include the emulator's share of the CPU and are a floor, not a forecast.

    python -m bench.tokens [--seconds S] [--clients N] [--backend NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.harness import record
from bench.harness import verdict as summary_verdict
from devkit.redis_server import RedisServer
from snapstack.tokens import ClaimOutcome, TokenTable, open_table

# Single-client pairs per second this machine should reach (the table must never be the bottleneck
# of a function that makes one ECS call per pair).
TARGETS = {"sqlite": 2_000, "redis": 5_000}
BACKENDS = ("sqlite", "redis", "tablestore")
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


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell (default 2)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the second column")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="only these (repeatable)")
    args = parser.parse_args(argv)
    names = args.backend or list(BACKENDS)
    if "tablestore" in names and not tablestore_available():
        print("tablestore: skipped (snapstack.tokens.tablestore or devkit.tablestore is missing)")
        names.remove("tablestore")

    python = sys.version.split()[0]
    print(f"token table: claim+complete pairs/s, {args.seconds:g} s per cell (python {python})")
    print(f"{'backend':<12}{'1 client':>12}{f'{args.clients} clients':>12}   target (1 client)")
    with started(names) as backends:
        for backend in backends:
            single = pairs_per_second(backend, 1, args.seconds)
            concurrent = pairs_per_second(backend, args.clients, args.seconds)
            target = TARGETS.get(backend.name)
            verdict = "-" if target is None else f">= {target:,}  {'ok' if single >= target else 'BELOW'}"
            print(f"{backend.name:<12}{single:>12,.0f}{concurrent:>12,.0f}   {verdict}", flush=True)
            record(
                f"token table {backend.name}, pairs/s",
                f"{single:,.0f} (1 client), {concurrent:,.0f} ({args.clients} clients)",
                "(reported)" if target is None else f">= {target:,} (1 client)",
                "-" if target is None else summary_verdict(single >= target, f"{single / target:.1f}x"),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
