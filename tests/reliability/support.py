"""What the reliability scenarios share: fleets and policies, the invariants they check against the
emulator and the token table, and a pool of warm worker processes for the duplicate storm.

Every check reads real state: the snapshots the emulator holds (each of ours carries the
``snapstack:slot`` tag, its ClientToken) and the records in the token table, never a mock.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.emulator.fleet import generate_fleet
from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result
from snapstack.tokens import TokenRecord, open_table
from tests.e2e.conftest import _tags, ours

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TIMER_EVENT = EVENTS / "timer.json"  # payload {"policy": "daily"}
OUTCOMES = ("created", "deduplicated", "in_progress", "deferred", "skipped", "failed")
# Real backoff arithmetic with short waits (the retry loop itself is tested in tests/ecs).
FAST_RETRIES = {"SNAPSTACK_RETRY_BASE_DELAY": "0.01", "SNAPSTACK_RETRY_MAX_DELAY": "0.05"}


def fleet(n_disks: int) -> dict[str, Any]:
    """A generated fleet whose snapshots finish at once, so a second snapshot of a disk is never
    refused for a snapshot still in progress: a duplicate, if we made one, would be visible."""
    return generate_fleet(n_disks, snapshot_seconds=0)


def disk_ids(data: Mapping[str, Any]) -> set[str]:
    """Every disk id of a fleet."""
    return {d["disk_id"] for d in data["disks"]}


def policy_config(concurrency: int) -> dict[str, Any]:
    """scheduled_backup's configuration: one policy ``daily`` over every disk of a generated fleet
    (its disks carry random app/env/backup tags, so only ``all_disks`` selects all of them)."""
    policy = {
        "name": "daily",
        "selector": {"all_disks": True},
        "period": "1d",
        "time_zone": "Asia/Shanghai",
        "concurrency": concurrency,
        "rate_limit": 1000,
    }
    return {"policies": [policy]}


def counts(summary: Mapping[str, Any]) -> dict[str, int]:
    """The summary's per-outcome counts."""
    return {o: int(summary[o]) for o in OUTCOMES}


def accounted(summary: Mapping[str, Any]) -> int:
    """How many disks the summary decided, whatever the outcome."""
    return sum(counts(summary).values())


def snapshots_per_disk(emu: EcsEmulator) -> Counter[str]:
    """How many of our snapshots each disk has at the emulator."""
    return Counter(s["disk_id"] for s in ours(emu))


def assert_one_snapshot_each(emu: EcsEmulator, disks: Iterable[str]) -> None:
    """Every disk has exactly one snapshot of ours, and the emulator holds nothing else."""
    wanted = set(disks)
    per_disk = snapshots_per_disk(emu)
    doubles = {d: n for d, n in per_disk.items() if n > 1}
    assert not doubles, f"disks with more than one snapshot: {sorted(doubles.items())[:10]}"
    missing = wanted - set(per_disk)
    assert not missing, f"{len(missing)} disk(s) without a snapshot: {sorted(missing)[:10]}"
    assert set(per_disk) == wanted, f"snapshots of unexpected disks: {sorted(set(per_disk) - wanted)[:10]}"
    assert len(emu.state.snapshots()) == len(wanted), "the emulator holds snapshots without our tags"


def slot_token(snapshot: Mapping[str, Any]) -> str:
    """The ClientToken a snapshot of ours was made with (its ``snapstack:slot`` tag)."""
    return _tags(dict(snapshot))["snapstack:slot"]


def read_records(url: str) -> dict[str, TokenRecord]:
    """Every live record of the token table at ``url``, by token (through a connection of our own)."""
    table = open_table(url)
    try:
        return {r.token: r for r in table.records()}
    finally:
        table.close()


def assert_records_match_snapshots(emu: EcsEmulator, url: str) -> dict[str, TokenRecord]:
    """Each snapshot's slot token has a CREATED record naming that very snapshot, and vice versa."""
    records = read_records(url)
    by_token = {slot_token(s): s["snapshot_id"] for s in ours(emu)}
    recorded = {t: r.snapshot_id for t, r in records.items() if r.state.value == "created"}
    assert recorded == by_token, "token records and snapshots disagree"
    assert all(r.state.value == "created" for r in records.values()), "records left unfinished"
    return records


def until_complete(invoke_once: Callable[[], Result], *, max_runs: int, wait: float = 0.0) -> list[Result]:
    """Invoke again while the last run was incomplete, as FC's async retry does: at most ``max_runs``
    invocations, ``wait`` seconds apart. Every invocation must return (no traceback)."""
    results: list[Result] = []
    for n in range(max_runs):
        if n and wait:
            time.sleep(wait)
        result = invoke_once()
        assert result.error is None, result.error
        results.append(result)
        if not result.incomplete:
            break
    return results


@contextmanager
def timed(label: str, into: dict[str, float]) -> Iterator[None]:
    """Record the block's wall time (seconds) under ``label``."""
    started = time.monotonic()
    try:
        yield
    finally:
        into[label] = round(time.monotonic() - started, 2)


#: Measurement lines, printed in the terminal summary (tests/reliability/conftest.py).
MEASUREMENTS: list[str] = []


def report(name: str, values: Mapping[str, Any]) -> None:
    """Keep one line of measurements for the end-of-run summary."""
    MEASUREMENTS.append(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


# --- a pool of warm worker processes -------------------------------------------------------------------


@dataclass
class Worker:
    """One ``python -m tests.reliability.worker`` process and the lines it has sent."""

    process: subprocess.Popen[bytes]
    lines: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)

    def read(self, deadline: float) -> dict[str, Any]:
        """The next message, waiting until the monotonic ``deadline``."""
        try:
            message = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"worker {self.process.pid} sent nothing in time") from None
        if message is None:
            raise RuntimeError(f"worker {self.process.pid} exited with {self.process.wait()}")
        return message


class WorkerPool:
    """Worker processes that import everything first, then run one invocation per job line.

    All workers block on their stdin; writing a job to each of them releases them together, so
    the invocations overlap as truly concurrent deliveries would (no start-up skew).
    """

    def __init__(self, size: int, *, env: Mapping[str, str], logs: Path, timeout: float) -> None:
        self.logs = logs
        self.timeout = timeout
        self.workers: list[Worker] = []
        self.started = time.monotonic()
        for n in range(size):
            stderr = (logs / f"worker-{n}.stderr").open("wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.worker"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
            stderr.close()
            worker = Worker(process)
            threading.Thread(target=_pump, args=(worker,), daemon=True).start()
            self.workers.append(worker)

    def wait_ready(self) -> float:
        """Seconds from the first spawn until every worker was ready."""
        deadline = time.monotonic() + self.timeout
        for worker in self.workers:
            assert worker.read(deadline).get("ready"), "a worker did not start"
        return time.monotonic() - self.started

    def run(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send job ``i`` to worker ``i`` (all at once) and return their answers, in order."""
        assert len(jobs) <= len(self.workers)
        payloads = [(json.dumps(job) + "\n").encode() for job in jobs]
        for worker, payload in zip(self.workers, payloads, strict=False):
            assert worker.process.stdin is not None
            worker.process.stdin.write(payload)
            worker.process.stdin.flush()
        deadline = time.monotonic() + self.timeout
        return [worker.read(deadline) for worker in self.workers[: len(jobs)]]

    def close(self) -> None:
        """Let every worker exit (EOF on stdin); kill, by pid, any that does not."""
        for worker in self.workers:
            if worker.process.stdin is not None and not worker.process.stdin.closed:
                with suppress(OSError):
                    worker.process.stdin.close()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(worker.process.pid, signal.SIGKILL)
                worker.process.wait()


def _pump(worker: Worker) -> None:
    """Move a worker's stdout lines into its queue; None marks the end."""
    assert worker.process.stdout is not None
    for raw in worker.process.stdout:
        try:
            worker.lines.put(json.loads(raw))
        except ValueError:
            worker.lines.put({"protocol_error": raw.decode(errors="replace")})
    worker.lines.put(None)


# --- a TCP proxy that breaks a share of the connections it carries ----------------------------------


class FlakyProxy:
    """Forwards loopback TCP to ``upstream_port``; each client write is, with probability ``rate``
    (seeded), cut off instead: half the time before it reaches the server (nothing happened), half
    the time after (the server acted; the answer is lost). Real sockets, real failures: what a
    flaky network or a failing-over Redis does to redis-py."""

    def __init__(self, upstream_port: int, rate: float, seed: int) -> None:
        import random
        import socket as _socket

        self.upstream_port = upstream_port
        self.rate = rate
        self.cuts = Counter[str]()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._listener = _socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _draw(self) -> str | None:
        with self._lock:
            roll = self._rng.random()
            if roll >= self.rate:
                return None
            kind = "before" if roll < self.rate / 2 else "after"
            self.cuts[kind] += 1
            return kind

    def _accept(self) -> None:
        import socket as _socket

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = _socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._client_to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _client_to_server(self, client: Any, server: Any) -> None:
        try:
            while data := client.recv(65536):
                cut = self._draw()
                if cut == "after":
                    server.sendall(data)
                    time.sleep(0.002)  # let the server act before the connection goes
                if cut is not None:
                    break
                server.sendall(data)
        except OSError:
            pass
        for sock in (client, server):
            with suppress(OSError):
                sock.close()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
