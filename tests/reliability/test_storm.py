"""Duplicate storm: one timer event delivered to many processes at once snapshots each disk once.

Worker processes (``python -m tests.reliability.worker``, each running the local runner as
``snapstack local invoke`` does) import everything, then are released together onto ONE emulator
and ONE token table: a SQLite file shared through file locks, then a real redis-server. Every
invocation must account for every disk, and between them they create each snapshot once, with
one CreateSnapshot call per disk. Invocations that saw disks in progress elsewhere are delivered
again (FC's retry) and then only deduplicate.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.redis_server import RedisServer
from tests.reliability.conftest import Sizes
from tests.reliability.support import (
    FAST_RETRIES,
    TIMER_EVENT,
    WorkerPool,
    accounted,
    assert_one_snapshot_each,
    assert_records_match_snapshots,
    disk_ids,
    fleet,
    ours,
    policy_config,
    report,
    timed,
)

pytestmark = pytest.mark.slow

# Latency between the emulator's ClientToken claim and its commit widens every race window.
LATENCY = {"apis": {"CreateSnapshot": {"latency_ms": {"uniform": [5, 30]}}}}


@pytest.fixture(scope="module")
def pool(sizes: Sizes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    logs = tmp_path_factory.mktemp("storm-logs")
    env = {"SNAPSTACK_CONFIG_JSON": json.dumps(policy_config(sizes.storm_concurrency)), **FAST_RETRIES}
    workers = WorkerPool(
        sizes.storm_processes, env=env, logs=logs, timeout=600 if sizes.storm_disks > 200 else 180
    )
    try:
        startup = workers.wait_ready()
        report("storm start-up", {"processes": sizes.storm_processes, "all_ready_s": round(startup, 2)})
        yield workers
    finally:
        workers.close()


def jobs(emu: EcsEmulator, token_table: str, logs: Path, n: int) -> list[dict[str, Any]]:
    creds = emu.credentials
    return [
        {
            "function": "scheduled_backup",
            "event": str(TIMER_EVENT),
            "endpoint": emu.endpoint,
            "access_key_id": creds.access_key_id,
            "access_key_secret": creds.access_key_secret,
            "security_token": creds.security_token,
            "token_table": token_table,
            "log": str(logs / f"invocation-{i}.log"),
        }
        for i in range(n)
    ]


def storm(
    pool: WorkerPool, sizes: Sizes, token_table: str, logs: Path, label: str, *, mode: str = "remember"
) -> None:
    data = fleet(sizes.storm_disks)
    disks = disk_ids(data)
    n = len(disks)
    timings: dict[str, float] = {}
    with EcsEmulator(fleet=data, faults=LATENCY, token_errors=mode) as emu:
        work = jobs(emu, token_table, logs, sizes.storm_processes)
        with timed("storm_s", timings):
            answers = pool.run(work)

        for answer in answers:
            assert answer.get("error") is None, answer.get("error") or answer
            summary = answer["summary"]
            assert summary["ok"] is True
            assert accounted(summary) == n, summary  # every disk decided, one way or another
            assert (summary["failed"], summary["deferred"], summary["skipped"]) == (0, 0, 0), summary
            assert answer["incomplete"] == bool(summary["in_progress"])  # FC would deliver it again
        assert sum(a["summary"]["created"] for a in answers) == n
        assert_one_snapshot_each(emu, disks)
        # Only a claim's owner ever calls ECS: one call per disk, plus that owner's own retries
        # (an answer lost to an overloaded server is asked again with the same ClientToken).
        calls = emu.calls("CreateSnapshot")
        attempts = sum(
            d["attempts"] for a in answers for d in a["summary"]["disks"] if d["outcome"] == "created"
        )
        assert n <= calls <= attempts
        records = assert_records_match_snapshots(emu, token_table)
        assert len(records) == n

        # Per disk: one invocation created it; every other one saw that same snapshot or a live claim.
        snapshot_of = {s["disk_id"]: s["snapshot_id"] for s in ours(emu)}
        seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for answer in answers:
            for disk in answer["summary"]["disks"]:
                seen[disk["disk_id"]].append(disk)
        for disk_id, views in seen.items():
            assert len(views) == sizes.storm_processes
            assert [v["outcome"] for v in views].count("created") == 1, (disk_id, views)
            assert {v["snapshot_id"] for v in views if "snapshot_id" in v} == {snapshot_of[disk_id]}
            assert {v["outcome"] for v in views} <= {"created", "deduplicated", "in_progress"}

        # FC delivers the incomplete ones again: they find everything done.
        again = [job for job, answer in zip(work, answers, strict=True) if answer["incomplete"]]
        with timed("retry_s", timings):
            retried = pool.run(again) if again else []
        for answer in retried:
            assert answer.get("error") is None and not answer["incomplete"], answer
            assert (answer["summary"]["created"], answer["summary"]["deduplicated"]) == (0, n)
        assert emu.calls("CreateSnapshot") == calls
        assert_one_snapshot_each(emu, disks)
        outcomes = emu.counters.to_dict()["CreateSnapshot"]["outcomes"]

    outcome_totals = {
        k: sum(a["summary"][k] for a in answers) for k in ("created", "deduplicated", "in_progress")
    }
    report(
        f"storm {label}",
        {
            "disks": n,
            "processes": sizes.storm_processes,
            **timings,
            "slowest_invocation_s": max(a["seconds"] for a in answers),
            "incomplete": len(again),
            **outcome_totals,
            "create_calls": calls,
            "create_outcomes": outcomes,
        },
    )


@pytest.mark.parametrize("mode", ["remember", "release"])
def test_storm_on_one_sqlite_file(pool: WorkerPool, sizes: Sizes, tmp_path: Path, mode: str) -> None:
    storm(pool, sizes, f"sqlite:///{tmp_path}/tokens.db", tmp_path, f"sqlite, {mode} token errors", mode=mode)


def test_storm_on_one_redis_server(
    pool: WorkerPool, sizes: Sizes, tmp_path: Path, redis_server: RedisServer
) -> None:
    storm(pool, sizes, redis_server.url, tmp_path, "redis")
