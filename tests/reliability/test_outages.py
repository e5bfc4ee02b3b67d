"""Backends down mid-run: the token table stops answering, or ECS does.

(a) The Redis token table's server is paused (SIGSTOP) in the middle of a slow fan-out: the
claims in flight time out and the rest are not tried, so those disks are deferred with
TokenTable.Unavailable (FC retries the event) and ECS is never called for them; no snapshot
exists without a record of its slot token. Commands that were sent before the pause run when
the server resumes, leaving live claims of a finished invocation: the next runs (short lease,
as FC retries) take them over and finish the job, with no duplicate.

(b) ECS goes away mid-run: the emulator is stopped, answers InternalError to everything, or
commits every CreateSnapshot and drops the connection before answering. The run ends cleanly
(deferred disks with their codes, IncompleteRun for FC to retry), and the next run (ECS back)
finishes with one snapshot per disk — the same snapshot ECS already made, where it made one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result
from devkit.local.template import Template
from devkit.redis_server import RedisServer, free_port
from tests.reliability.conftest import Runner, Sizes, set_config
from tests.reliability.support import (
    TIMER_EVENT,
    accounted,
    assert_one_snapshot_each,
    assert_records_match_snapshots,
    disk_ids,
    fleet,
    ours,
    policy_config,
    read_records,
    report,
    slot_token,
    until_complete,
)

pytestmark = pytest.mark.slow

LEASE_SECONDS = 2.0
CONCURRENCY = 4


def in_background(call: Callable[[], Result]) -> tuple[threading.Thread, list[Result]]:
    box: list[Result] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    return thread, box


def wait_for_snapshots(emu: EcsEmulator, count: int, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while len(emu.state.snapshots()) < count:
        assert thread.is_alive(), "the run ended before the outage: make it slower"
        assert time.monotonic() < deadline
        time.sleep(0.002)


def finish(thread: threading.Thread, box: list[Result]) -> Result:
    thread.join(timeout=120)
    assert not thread.is_alive() and box, "the run did not return"
    result = box[0]
    assert result.error is None, result.error  # no traceback: per-disk outcomes, not a crash
    assert result.summary is not None and result.summary["ok"]
    return result


def test_token_table_outage_mid_run(
    stack: Template,
    sizes: Sizes,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_config(monkeypatch, policy_config(CONCURRENCY))
    monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", str(LEASE_SECONDS))
    # Short socket timeouts (redis-py reads them from the URL): a paused server costs 0.15 s a call.
    url = f"{redis_server.url}?socket_timeout=0.15&socket_connect_timeout=0.15"
    data = fleet(sizes.table_outage_disks)
    disks = disk_ids(data)
    with EcsEmulator(fleet=data, faults={"apis": {"CreateSnapshot": {"latency_ms": 100}}}) as emu:
        run = Runner(stack, emu, url)
        thread, box = in_background(lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()))
        wait_for_snapshots(emu, len(disks) // 4, thread)
        os.kill(redis_server.pid, signal.SIGSTOP)
        try:
            result = finish(thread, box)
        finally:
            os.kill(redis_server.pid, signal.SIGCONT)
        summary = result.summary
        assert summary is not None and accounted(summary) == len(disks)
        by_outcome: dict[str, list[dict[str, Any]]] = {}
        for disk in summary["disks"]:
            by_outcome.setdefault(disk["outcome"], []).append(disk)
        assert set(by_outcome) <= {"created", "deferred"}, summary
        assert result.incomplete  # deferred disks: FC delivers the event again
        deferred = by_outcome.get("deferred", [])
        assert deferred, "no claim met the outage"
        assert {d["error_code"] for d in deferred} == {"TokenTable.Unavailable"}
        assert all("no ECS call made" in d["message"] for d in deferred)
        # Only claims that succeeded led to a call: one call per created disk, none for the others.
        assert emu.calls("CreateSnapshot") == summary["created"]
        unrecorded = [d for d in by_outcome.get("created", []) if "not recorded" in d.get("message", "")]

        records = read_records(url)  # the server is back; commands it held have run
        orphans = [s["snapshot_id"] for s in ours(emu) if slot_token(s) not in records]
        assert not orphans, f"snapshots without a token record: {orphans}"

        again = until_complete(
            lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()), max_runs=3, wait=LEASE_SECONDS + 0.2
        )
        assert not again[-1].incomplete
        assert_one_snapshot_each(emu, disks)
        records_after = assert_records_match_snapshots(emu, url)
        # Created later: every deferred disk, and unrecorded ones whose record the server never got
        # (their CreateSnapshot is repeated with the same token and returns the same snapshot).
        later = {
            d["token"] for r in again if r.summary for d in r.summary["disks"] if d["outcome"] == "created"
        }
        assert {d["token"] for d in deferred} <= later <= {d["token"] for d in deferred + unrecorded}
        made_in_outage = {d["token"]: d["snapshot_id"] for d in by_outcome.get("created", [])}
        assert all(records_after[t].snapshot_id == sid for t, sid in made_in_outage.items())

    report(
        "token table outage",
        {
            "disks": len(disks),
            "created_before": summary["created"],
            "deferred_unavailable": len(deferred),
            "created_unrecorded": len(unrecorded),
            "next_runs": len(again),
        },
    )


OUTAGES: dict[str, tuple[Callable[[EcsEmulator], None], Callable[[EcsEmulator], None], set[str]]] = {
    # mode: (break ECS, mend ECS, the codes deferred disks may carry)
    "emulator stopped": (
        lambda emu: emu.stop(),
        lambda emu: emu.start(),
        {"Transport.ConnectionFailed", "Transport.Ambiguous"},
    ),
    "internal error on every call": (
        lambda emu: emu.faults.configure({"apis": {"*": {"internal_error": 1.0}}}),
        lambda emu: emu.faults.configure({}),
        {"InternalError"},
    ),
    "every create committed, then dropped": (
        lambda emu: emu.faults.configure({"apis": {"CreateSnapshot": {"drop_after_commit": True}}}),
        lambda emu: emu.faults.configure({}),
        {"Transport.Ambiguous"},
    ),
}


@pytest.mark.parametrize("mode", list(OUTAGES))
def test_ecs_outage_mid_run(
    stack: Template, sizes: Sizes, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    set_config(monkeypatch, policy_config(CONCURRENCY))
    break_ecs, mend_ecs, codes = OUTAGES[mode]
    data = fleet(sizes.ecs_outage_disks)
    disks = disk_ids(data)
    latency = {"apis": {"CreateSnapshot": {"latency_ms": 50}}}
    with EcsEmulator(fleet=data, faults=latency, port=free_port()) as emu:  # a fixed port to come back on
        run = Runner(stack, emu, sqlite_url)
        thread, box = in_background(lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()))
        wait_for_snapshots(emu, len(disks) // 4, thread)
        break_ecs(emu)
        result = finish(thread, box)
        summary = result.summary
        assert summary is not None and accounted(summary) == len(disks)
        assert result.incomplete, "deferred disks must make FC deliver the event again"
        deferred = [d for d in summary["disks"] if d["outcome"] == "deferred"]
        assert deferred and summary["failed"] == 0
        assert {d["outcome"] for d in summary["disks"]} <= {"created", "deferred"}
        assert {d["error_code"] for d in deferred} <= codes, summary
        snapshot_before = {slot_token(s): s["snapshot_id"] for s in ours(emu)}
        if mode == "every create committed, then dropped":
            # ECS made each of them; the function could not know. The retry must not make another.
            assert all(d["token"] in snapshot_before for d in deferred)

        mend_ecs(emu)
        again = until_complete(lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()), max_runs=3)
        assert not again[-1].incomplete
        assert_one_snapshot_each(emu, disks)
        records = assert_records_match_snapshots(emu, sqlite_url)
        # What ECS had already made is what the retry recorded (same ClientToken, same snapshot).
        assert all(records[t].snapshot_id == sid for t, sid in snapshot_before.items())
        assert "IdempotentParameterMismatch" not in emu.counters.to_dict()["CreateSnapshot"]["outcomes"]

    report(
        f"ECS outage ({mode})",
        {
            "disks": len(disks),
            "created_before": summary["created"],
            "deferred": len(deferred),
            "already_made": sum(1 for d in deferred if d["token"] in snapshot_before),
            "next_runs": len(again),
        },
    )
