"""The reconciler end to end (issue #15): slots FC's deliveries could not finish end with exactly one
snapshot each, and a snapshot that fails at ECS is retried once in its slot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from snapstack.tokens import TokenState, client_token_at
from tests.e2e.conftest import ours
from tests.operate.conftest import DISK, World, assert_never_two, policy, slots
from tests.reliability.support import (
    FAST_RETRIES,
    ROOT,
    WorkerPool,
    assert_one_snapshot_each,
    assert_records_match_snapshots,
    disk_ids,
    fleet,
    policy_config,
)


def creates(emu: EcsEmulator) -> int:
    return emu.calls("CreateSnapshot")


def test_two_policies_on_one_disk_end_with_both_snapshots(world: World) -> None:
    world.configure(policy("daily", DISK), policy("weekly", DISK, period="1w"))
    assert world.backup("daily").summary["created"] == 1  # type: ignore[index]
    # The weekly run meets the daily snapshot in progress (120 s) on every one of FC's 4 deliveries.
    weekly = [world.backup("weekly").summary["disks"][0] for _ in range(4)]  # type: ignore[index]
    assert [d["outcome"] for d in weekly] == ["deferred", "deferred", "deferred", "failed"]
    assert {d["error_code"] for d in weekly} == {"IncorrectDiskStatus.CreatingSnapshot"}
    assert "gave up after 4 deliveries" in weekly[-1]["message"]

    world.advance(60)  # the daily snapshot is still progressing: the reconciler waits, and spends nothing
    before = creates(world.emulator)
    waiting = world.reconcile()
    (row,) = waiting["disks"]
    assert (row["verdict"], row["policy"], row["error_code"]) == (
        "waiting",
        "weekly",
        "IncorrectDiskStatus.CreatingSnapshot",
    )
    assert creates(world.emulator) == before
    record = world.table().get(weekly[0]["token"])
    assert record is not None and record.state is TokenState.FAILED  # untouched: no claim taken

    world.advance(61)  # the daily snapshot is done: the weekly slot is taken now
    repaired = world.reconcile()
    (row,) = repaired["disks"]
    assert (row["verdict"], row["outcome"], row["token"]) == ("repaired", "created", weekly[0]["token"])
    assert repaired["reconcile"]["repaired"] == 1
    assert {s["tags"]["snapstack:policy"] for s in ours(world.emulator)} == {"daily", "weekly"}
    assert sorted(slots(world.emulator).values()) == [1, 1]

    world.advance(600)
    assert world.reconcile()["disks"] == []  # nothing left open
    assert len(ours(world.emulator)) == 2


def test_a_run_counts_both_kinds_of_throttling_and_reads_no_queue_when_none_is_set(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(policy("daily", DISK))
    world.monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    world.emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling"}]}}})
    assert world.backup("daily").incomplete  # the slot stays open for the reconciler
    world.monkeypatch.delenv("SNAPSTACK_RETRY_MAX_ATTEMPTS")
    throttled = [{"code": "Throttling", "times": 1}, {"code": "Throttling.User", "times": 1}]
    world.emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": throttled}}})
    capsys.readouterr()

    run = world.reconcile()

    (row,) = run["disks"]
    assert (run["ok"], run["failure_queue"], row["verdict"]) == (True, None, "repaired")
    assert None not in row.values()  # a row names what it has, and only that
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (metrics,) = [entry for entry in logged if "SlotsOpen" in entry]
    assert (metrics["SlotsRepaired"], metrics["Throttled"]) == (1.0, 2.0)  # one of each kind, then made
    assert (metrics["FailureQueueMessages"], metrics["FailedInvocations"]) == (0.0, 0.0)


def test_a_snapshot_that_fails_at_ecs_is_retried_once_in_its_slot(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(policy("daily", DISK))
    (made,) = world.backup("daily").summary["disks"]  # type: ignore[index]
    world.emulator.state.patch_snapshot(made["snapshot_id"], status="failed")
    world.advance(30)
    capsys.readouterr()

    run = world.reconcile()
    assert (run["reconcile"]["reopened"], run["reconcile"]["repaired"]) == (1, 1)
    (row,) = run["disks"]
    assert row["token"] == made["token"] and row["snapshot_id"] != made["snapshot_id"]
    by_id = {s["snapshot_id"]: s for s in ours(world.emulator)}
    assert by_id[made["snapshot_id"]]["status"] == "failed"
    retry = by_id[row["snapshot_id"]]
    assert retry["tags"]["snapstack:slot"] == made["token"]  # the same slot...
    assert retry["client_token"] == client_token_at(made["token"], 1)  # ...with a new token generation
    record = world.table().get(made["token"])
    assert record is not None
    assert (record.state, record.snapshot_id, record.generation) == (
        TokenState.CREATED,
        row["snapshot_id"],
        1,
    )
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (warning,) = [entry for entry in logged if entry.get("alert") == "SnapshotFailedAtEcs"]
    assert (warning["disk_id"], warning["snapshot_id"]) == (DISK, made["snapshot_id"])
    (metrics,) = [entry for entry in logged if "SnapshotsFailedAtEcs" in entry]
    assert metrics["SnapshotsFailedAtEcs"] == 1.0

    world.advance(600)  # the retry is accomplished; the failed one stays failed and is not retried again
    again = world.reconcile()
    assert (again["reconcile"]["reopened"], again["disks"]) == (0, [])
    assert creates(world.emulator) == 2
    assert slots(world.emulator) == {made["token"]: 2}
    assert slots(world.emulator, status="accomplished") == {made["token"]: 1}


def test_a_slot_past_its_deadline_is_abandoned_loudly_and_only_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(policy("daily", DISK, time_zone="UTC"))
    world.emulator.state.patch_disk(DISK, transferring=True)  # retried by the taxonomy, never passes
    for _ in range(4):
        world.backup("daily")
    (token,) = [r.token for r in world.table().records()]
    # The daily slot (UTC) started at 00:00 on the emulator's day; it ends at 24:00, + 1 h of grace.
    world.advance(25 * 3600 - 1)
    assert world.reconcile()["disks"][0]["verdict"] == "open"  # re-driven, deferred again
    world.advance(1)
    capsys.readouterr()
    closed = world.reconcile()
    (row,) = closed["disks"]
    assert (row["verdict"], row["outcome"], row["error_code"]) == (
        "abandoned",
        "failed",
        "Reconcile.DeadlinePassed",
    )
    assert "slot deadline 2024-06-02T01:00:00Z passed" in row["message"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (line,) = [entry for entry in logged if entry.get("alert") == "SlotAbandoned"]
    assert line["level"] == "ERROR"
    assert (line["disk_id"], line["policy"], line["slot_token"]) == (DISK, "daily", token)
    assert line["deadline"] == "2024-06-02T01:00:00Z" and line["age_seconds"] >= 0
    record = world.table().get(token)
    assert record is not None and (record.state, record.retryable) == (TokenState.FAILED, False)
    assert record.error_code == "Reconcile.DeadlinePassed"
    world.advance(900)
    assert world.reconcile()["disks"] == []  # closed for good: no second alert
    assert ours(world.emulator) == []


def test_a_closed_slot_in_doubt_completes_from_the_snapshot_found_by_its_tag(world: World) -> None:
    world.configure(policy("daily", DISK, time_zone="UTC"))
    world.emulator.state.patch_disk(DISK, transferring=True)
    world.backup("daily")
    table = world.table()
    (record,) = table.records()
    # An owner that sent its request and died (the request reached ECS and made the snapshot).
    claimed = table.claim(record.token, "dead", lease_seconds=0.0)
    sent = table.mark_sent(record.token, "dead", generation=claimed.record.generation, lease_seconds=0.0)
    world.emulator.state.patch_disk(DISK, transferring=False)
    from alibabacloud_ecs20140526 import models as ecs
    from darabonba.runtime import RuntimeOptions

    request = ecs.CreateSnapshotRequest(
        disk_id=DISK,
        client_token=client_token_at(record.token, sent.generation),
        tag=[ecs.CreateSnapshotRequestTag(key="snapstack:slot", value=record.token)],
    )
    sdk = world.emulator.sdk_client()
    made = sdk.create_snapshot_with_options(request, RuntimeOptions()).body.snapshot_id
    world.advance(26 * 3600)  # past the deadline: closing it must still find what exists
    before = creates(world.emulator)

    (row,) = world.reconcile()["disks"]
    assert (row["verdict"], row["snapshot_id"]) == ("done", made)
    assert table.get(record.token).snapshot_id == made  # type: ignore[union-attr]
    assert creates(world.emulator) == before  # found, never made again


# -- no second snapshot, ever --------------------------------------------------------------------------


def test_an_invocation_killed_holding_claims_after_the_last_retry_is_finished_by_the_reconciler(
    stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = fleet(40)
    disks = sorted(disk_ids(data))
    held = disks[:8]
    url = f"sqlite:///{tmp_path}/tokens.db"
    config = policy_config(concurrency=4)
    monkeypatch.setenv("SNAPSTACK_CONFIG_JSON", json.dumps(config))
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)
    throttled = [{"code": "Throttling", "match": {"DiskId": d}} for d in held]
    with EcsEmulator(fleet=data, faults={"apis": {"CreateSnapshot": {"errors": throttled}}}) as emu:
        world = World(stack, emu, url, monkeypatch)
        for _ in range(3):  # FC's first three deliveries: 32 disks done, 8 throttled every time
            assert world.backup("daily").incomplete
        # The fourth and last delivery: the throttling is over, but the invocation is killed while it
        # holds the slots of the 8 disks left (4 in flight at the emulator: concurrency 4).
        emu.faults.configure({"apis": {"CreateSnapshot": {"latency_ms": 500}}})
        event = tmp_path / "timer.json"
        event.write_bytes(world.event(json.dumps({"policy": "daily"})))
        creds = emu.credentials
        command = [
            str(Path(sys.executable).with_name("snapstack")), "local", "invoke", "scheduled_backup",
            "--event", str(event), "--json", "--endpoint", emu.endpoint, "--access-key-id",
            creds.access_key_id, "--access-key-secret", creds.access_key_secret, "--token-table", url,
        ]  # fmt: skip
        env = {**os.environ, "SNAPSTACK_LEASE_SECONDS": "1", "SNAPSTACK_RETRY_MAX_ATTEMPTS": "6"}
        before = creates(emu)
        with (tmp_path / "killed.out").open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            limit = time.monotonic() + 60
            while creates(emu) < before + 4:
                assert process.poll() is None, "the delivery ended before it could be killed"
                assert time.monotonic() < limit, "the delivery sent too little in time"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        table = world.table()
        dead = [r for r in table.records() if r.state in (TokenState.CLAIMED, TokenState.SENT)]
        assert dead and len(dead) <= 4, dead
        # No more deliveries. Once the dead claims' leases ran out and the requests they let out
        # were answered at the emulator, the reconciler's first run finishes every disk.
        while any(r.lease_until > table.clock() for r in dead) or _in_flight(emu):
            time.sleep(0.05)
        monkeypatch.delenv("SNAPSTACK_RETRY_MAX_ATTEMPTS")
        made_by_the_dead = set(slots(emu)) & {r.token for r in dead}
        run = world.reconcile()
        assert {r["token"] for r in run["disks"]} == {
            r.token for r in table.records() if r.meta["disk_id"] in held
        }
        assert run["failed"] == run["deferred"] == 0 and run["reconcile"]["abandoned"] == 0

        assert_one_snapshot_each(emu, disks)
        assert_records_match_snapshots(emu, url)
        adopted = {r["token"] for r in run["disks"] if r["verdict"] == "done"}
        assert made_by_the_dead and made_by_the_dead <= adopted  # found by their tag, never made again


def _in_flight(emu: EcsEmulator) -> bool:
    return any(t["processing"] for t in emu.state.dump()["client_tokens"].values())


@pytest.mark.parametrize("mode", ["remember", "release"])
def test_the_reconciler_racing_a_redelivery_never_makes_a_second_snapshot(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    emu = world.emulator
    emu.state.set_token_errors(mode)
    disks = ["d-web-01-data", "d-web-01-system", "d-web-02-data", "d-web-02-system", "d-db-01-data"]
    world.configure(policy("daily", *disks, concurrency=4))
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    emu.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling"}]}}})
    assert world.backup("daily").incomplete  # every slot deferred: open for FC's retry and the reconciler
    monkeypatch.delenv("SNAPSTACK_RETRY_MAX_ATTEMPTS")
    emu.faults.configure({"apis": {"CreateSnapshot": {"latency_ms": 150}}})
    answers = _at_once(
        world, tmp_path, [("scheduled_backup", json.dumps({"policy": "daily"})), ("reconciler", "")]
    )
    assert all(a["error"] is None for a in answers), answers
    world.advance(600)
    world.reconcile()  # whatever the race left open
    assert_never_two(emu)
    assert sorted(slots(emu).values()) == [1] * len(disks)
    records = {r.token: r for r in world.table().records()}
    assert {r.state for r in records.values()} == {TokenState.CREATED}
    by_slot = {s["tags"]["snapstack:slot"]: s["snapshot_id"] for s in ours(emu)}
    assert {t: r.snapshot_id for t, r in records.items()} == by_slot


def test_a_slow_delivery_taken_over_by_the_reconciler_keeps_one_snapshot(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = world.emulator
    world.configure(policy("daily", DISK))
    # The delivery's create takes 2 s at ECS; its lease only 0.3 s: the reconciler takes the slot
    # over while the first request is still in flight, and must not make a second snapshot.
    emu.faults.configure({"apis": {"CreateSnapshot": {"latency_ms": 2000}}})
    monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", "0.3")
    answers: list[dict[str, Any]] = []
    slow = threading.Thread(
        target=lambda: answers.extend(_at_once(world, tmp_path, [("scheduled_backup", "daily")]))
    )
    slow.start()
    table = world.table()
    limit = time.monotonic() + 60
    while not (sent := [r for r in table.records() if r.state is TokenState.SENT]) or any(
        r.lease_until > table.clock() for r in sent
    ):
        assert time.monotonic() < limit, "the delivery never sent its request"
        time.sleep(0.02)
    monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", "30")
    taken = world.reconcile()
    slow.join(timeout=60)
    (row,) = taken["disks"]
    # Its request carried the slot's ClientToken generation: ECS answered it with the first request's
    # snapshot (or "still processing": open), or it found that snapshot by its tag (done).
    assert row["verdict"] in ("repaired", "open", "done"), row
    record = table.get(sent[0].token)
    assert record is not None and record.owner.startswith("reconciler:")  # it did take the slot over
    world.advance(600)
    world.reconcile()
    assert slots(emu) == {sent[0].token: 1}
    assert table.get(sent[0].token).state is TokenState.CREATED  # type: ignore[union-attr]
    assert answers and answers[0]["error"] is None


def _at_once(world: World, tmp_path: Path, jobs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Run ``(function, payload)`` jobs in worker processes released together; their answers."""
    creds = world.emulator.credentials
    pool = WorkerPool(len(jobs), env={}, logs=tmp_path, timeout=120)  # they inherit this environment
    try:
        pool.wait_ready()
        payloads = []
        for n, (function, payload) in enumerate(jobs):
            event = tmp_path / f"event-{n}.json"
            event.write_bytes(world.event(payload))
            payloads.append(
                {
                    "function": function,
                    "event": str(event),
                    "endpoint": world.emulator.endpoint,
                    "access_key_id": creds.access_key_id,
                    "access_key_secret": creds.access_key_secret,
                    "token_table": world.token_table,
                    "log": str(tmp_path / f"worker-{n}.log"),
                }
            )
        return pool.run(payloads)
    finally:
        pool.close()
