"""The streaming pipeline: pages at their documented maximum, creating while the next page is
listed, a bounded summary with every disk in the log, a deadline that stops the listing, and a
redelivery that settles the done pages from the token table without asking ECS about them.

Everything runs against the ECS emulator over real sockets with a real SQLite token table; the
ordering checks synchronise on events (a generous timeout only keeps a broken pipeline from
hanging the suite).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.fleet import generate_fleet
from devkit.emulator.testing import EcsEmulator
from devkit.local.template import Template
from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.retry import Deadline, RetryPolicy
from snapstack.execute import Batch, DiskResult, Executor, Intent, Outcome, RunStats
from snapstack.handlers.planning import build_intents
from snapstack.policy.model import Policy, Selector
from snapstack.ratelimit import RateLimiter
from snapstack.targets import Disk
from snapstack.tokens import open_table
from tests.clock import Clock
from tests.e2e.conftest import Runner, ours, timer_event

DISKS = 1_200  # four DescribeDisks pages: 100 (the first, to start sooner), 500, 500 and 100
WAIT = 60.0  # seconds an event may take before the pipeline counts as broken (never reached when it works)


def whole_fleet(concurrency: int = 8) -> dict[str, Any]:
    policy = {
        "name": "daily",
        "selector": {"all_disks": True},
        "rate_limit": 1000,
        "concurrency": concurrency,
    }
    return {"policies": [policy]}


@pytest.fixture
def fleet_emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator(fleet=generate_fleet(DISKS, snapshot_seconds=0)) as emu:
        yield emu


@pytest.fixture
def fleet_run(
    stack: Template, fleet_emulator: EcsEmulator, tmp_path: Path, monkeypatch, config_json
) -> Runner:
    monkeypatch.setenv("SNAPSTACK_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_DELAY", "0.05")
    config_json(whole_fleet())
    return Runner(stack, fleet_emulator, f"sqlite:///{tmp_path}/tokens.db")


def decisions(out: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("message") == "snapshot decision"]


def test_pages_are_asked_at_their_documented_maximum(fleet_run, fleet_emulator):
    result = fleet_run("scheduled_backup", timer_event())
    assert result.summary is not None and result.summary["created"] == DISKS
    # MaxResults 100 for the first page, then 500 (it was 12 calls of 100)
    assert fleet_emulator.calls("DescribeDisks") == 4
    # instance states: by id, 100 per call, per page (25 + 125 + 125 + 25 instances)
    assert fleet_emulator.calls("DescribeInstances") == 1 + 2 + 2 + 1


def test_a_redelivery_settles_done_pages_from_one_bulk_read(fleet_run, fleet_emulator):
    assert fleet_run("scheduled_backup", timer_event()).summary["created"] == DISKS
    fleet_emulator.counters.reset()
    again = fleet_run("scheduled_backup", timer_event()).summary
    assert again["deduplicated"] == DISKS and again["created"] == 0
    assert fleet_emulator.calls("DescribeDisks") == 4  # the listing is not saved: only the claims
    assert fleet_emulator.calls("DescribeInstances") == 0  # the token table said every disk was done
    assert fleet_emulator.calls("CreateSnapshot") == 0
    assert len(ours(fleet_emulator)) == DISKS


def test_the_summary_is_bounded_and_every_disk_has_its_log_line(fleet_run, monkeypatch, capsys):
    monkeypatch.setenv("SNAPSTACK_SUMMARY_DISKS", "100")
    summary = fleet_run("scheduled_backup", timer_event()).summary
    assert summary["created"] == DISKS and summary["disks_omitted"] == DISKS - 100
    assert len(summary["disks"]) == 100 and summary["errors"] == []
    logged = decisions(capsys.readouterr().out)
    assert Counter(line["outcome"] for line in logged) == {"created": DISKS}
    assert len({line["disk_id"] for line in logged}) == DISKS


# --- the executor on its own: synchronised on events, with a hand-moved clock ----------------------------


def executor_for(emu: EcsEmulator, tmp_path: Path, deadline: Deadline, name: str = "tokens") -> Executor:
    creds = emu.credentials
    ecs = EcsClient(
        EcsConfig("cn-hangzhou", endpoint=emu.endpoint, protocol="http", retry=RetryPolicy(base_delay=0.01)),
        Credentials(creds.access_key_id, creds.access_key_secret, creds.security_token),
    )
    return Executor(
        ecs=ecs,
        table=open_table(f"sqlite:///{tmp_path}/{name}.db"),
        owner=f"test-{name}",
        limiter=RateLimiter(1000),
        deadline=deadline,
        logger=logging.getLogger("snapstack-test"),  # type: ignore[arg-type]
        stats=RunStats(),
    )


def pages_of_intents(pages: int, size: int) -> list[list[Intent]]:
    policy = Policy(name="daily", selector=Selector(all_disks=True))
    disks = [Disk(disk_id=f"d-gen-{n:06d}", instance_id=f"i-gen-{n // 4:05d}") for n in range(pages * size)]
    intents, refused = build_intents(
        policy, disks, trigger="timer", slot_parts={"slot": "s1"}, slot="20261127"
    )
    assert not refused
    return [intents[i : i + size] for i in range(0, len(intents), size)]


def test_the_next_page_is_listed_while_the_first_one_is_created(fleet_emulator, tmp_path):
    executor = executor_for(fleet_emulator, tmp_path, Deadline(None))
    first_created = threading.Event()
    results: list[DiskResult] = []
    pulled: list[int] = []

    def sink(result: DiskResult, _intent: Intent | None) -> None:
        results.append(result)
        first_created.set()

    def batches() -> Iterator[Batch]:
        for n, page in enumerate(pages_of_intents(3, 100)):
            if n:  # "listing" the next page: only possible if the workers already run the first
                assert first_created.wait(WAIT), "no disk of page 1 was created before page 2 was asked for"
            pulled.append(fleet_emulator.calls("CreateSnapshot"))
            yield Batch(page)

    executor.stream(batches(), concurrency=4, sink=sink)
    assert pulled[0] == 0 and pulled[1] > 0  # page 2 was pulled after creating had begun
    assert Counter(r.outcome for r in results) == {Outcome.CREATED: 300}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_page_listed_before_the_deadline_is_reported_and_no_further_page_is_listed(
    fleet_emulator, tmp_path, concurrency
):
    """The caller listed a page, then time ran out: that page's disks are deferred (no call), and
    the stream stops before listing the next page."""
    clock = Clock()
    executor = executor_for(fleet_emulator, tmp_path, Deadline(4, clock=clock))  # under the start margin
    first, *rest = pages_of_intents(3, 5)
    pulled: list[int] = []

    def batches() -> Iterator[Batch]:
        for n, page in enumerate(rest):
            pulled.append(n)
            yield Batch(page)

    results: list[DiskResult] = []
    executor.stream(batches(), concurrency, lambda r, _i: results.append(r), listed=Batch(first))
    assert executor.halted == "too little time left in this invocation" and pulled == []
    assert sorted((r.disk_id, r.outcome, r.error_code) for r in results) == [
        (i.disk_id, Outcome.DEFERRED, "Invocation.TimeUp") for i in first
    ]
    assert fleet_emulator.calls("CreateSnapshot") == 0


def test_the_deadline_stops_the_listing_and_the_next_delivery_finishes(fleet_emulator, tmp_path):
    clock = Clock()
    executor = executor_for(fleet_emulator, tmp_path, Deadline(600, clock=clock))
    pages = pages_of_intents(12, 100)  # more than the executor queues ahead (concurrency + QUEUE_DEPTH)
    pulled: list[int] = []
    results: list[DiskResult] = []
    lock = threading.Lock()

    def sink(result: DiskResult, _intent: Intent | None) -> None:
        with lock:
            results.append(result)
            if len(results) == 150:
                clock.now += 598  # two seconds left: below the start margin

    def batches() -> Iterator[Batch]:
        for n, page in enumerate(pages):
            pulled.append(n)
            yield Batch(page)

    executor.stream(batches(), concurrency=4, sink=sink)
    assert executor.halted == "too little time left in this invocation"
    assert len(pulled) < len(pages)  # the pages after the deadline were never listed
    outcomes = Counter(r.outcome for r in results)
    assert outcomes[Outcome.CREATED] >= 150 and set(outcomes) <= {Outcome.CREATED, Outcome.DEFERRED}
    assert {r.error_code for r in results if r.outcome is Outcome.DEFERRED} <= {"Invocation.TimeUp"}

    # The next delivery: every page again, the created ones settled from the bulk read.
    fleet_emulator.counters.reset()
    again = executor_for(fleet_emulator, tmp_path, Deadline(None), name="tokens")
    second: list[DiskResult] = []
    again.stream((Batch(p) for p in pages), concurrency=4, sink=lambda r, _i: second.append(r))
    done = Counter(r.outcome for r in second)
    assert done[Outcome.DEDUPLICATED] == outcomes[Outcome.CREATED]
    assert done[Outcome.CREATED] == DISKS - outcomes[Outcome.CREATED]
    assert fleet_emulator.calls("CreateSnapshot") == done[Outcome.CREATED]
    assert Counter(s["disk_id"] for s in ours(fleet_emulator)).most_common(1)[0][1] == 1
