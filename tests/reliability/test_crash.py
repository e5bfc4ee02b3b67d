"""Crash and resume: ``snapstack local invoke`` is SIGKILLed in the middle of its fan-out.

The dead process leaves claims it never finished, some of whose CreateSnapshot calls committed at
the emulator after it died. The lease is short (SNAPSTACK_LEASE_SECONDS), so the redelivered
event takes those claims over once it expires; a claim the dead run had marked sent is in doubt,
so the slot is looked up at ECS by its tag first and the snapshot the dead run made is adopted
(``deduplicated``) — with or without ECS remembering the ClientToken — and every disk completes
without a duplicate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.template import Template
from tests.reliability.conftest import Runner, Sizes, set_config
from tests.reliability.support import (
    FAST_RETRIES,
    ROOT,
    TIMER_EVENT,
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
LATENCY = {"apis": {"CreateSnapshot": {"latency_ms": 40}}}  # the fan-out takes a few seconds


def until_answered(emu: EcsEmulator, action: str) -> None:
    """Wait until every ``action`` request the emulator received has been answered or dropped."""
    deadline = time.monotonic() + 60
    while True:
        entry = emu.counters.to_dict().get(action, {"total": 0, "outcomes": {}})
        if sum(entry["outcomes"].values()) == entry["total"]:
            return
        assert time.monotonic() < deadline, f"{action} requests still in flight: {entry}"
        time.sleep(0.01)


def cli() -> list[str]:
    script = Path(sys.executable).with_name("snapstack")
    return [str(script)] if script.exists() else [sys.executable, "-m", "devkit.cli"]


@pytest.mark.parametrize("forgotten", [False, True], ids=["ecs-remembers", "ecs-forgot-the-tokens"])
def test_a_killed_run_is_resumed_without_duplicates(
    stack: Template,
    sizes: Sizes,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    forgotten: bool,
) -> None:
    config = policy_config(CONCURRENCY)
    data = fleet(sizes.crash_disks)
    disks = disk_ids(data)
    with EcsEmulator(fleet=data, faults=LATENCY) as emu:
        creds = emu.credentials
        command = [
            *cli(), "local", "invoke", "scheduled_backup", "--event", str(TIMER_EVENT), "--json",
            "--endpoint", emu.endpoint, "--access-key-id", creds.access_key_id,
            "--access-key-secret", creds.access_key_secret, "--token-table", sqlite_url,
        ]  # fmt: skip
        env = {
            **os.environ,
            **FAST_RETRIES,
            "SNAPSTACK_CONFIG_JSON": json.dumps(config),
            "SNAPSTACK_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        started = time.monotonic()
        with (tmp_path / "killed.out").open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while len(emu.state.snapshots()) < sizes.crash_kill_after:
                assert process.poll() is None, "the run ended before it could be killed: make it slower"
                assert time.monotonic() < deadline, "the run made too few snapshots in time"
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        assert process.returncode == -signal.SIGKILL
        until_answered(emu, "CreateSnapshot")  # the dead run's calls in flight commit at the emulator

        before = read_records(sqlite_url)
        # Claims the dead run held: just claimed, or marked sent (a create may have reached ECS).
        dead = {t: r for t, r in before.items() if r.state.value in ("claimed", "sent")}
        done_before = {t for t, r in before.items() if r.state.value == "created"}
        assert dead, "the run was killed with no claim in flight"
        assert len(dead) <= CONCURRENCY
        assert len({r.owner for r in dead.values()}) == 1
        snapshots_before = {slot_token(s): s["snapshot_id"] for s in ours(emu)}
        made_by_the_dead = {t: snapshots_before[t] for t in dead if t in snapshots_before}
        if forgotten:
            # Takeover must not lean on ECS remembering a ClientToken: the slot tag is looked up first.
            emu.state.forget_client_tokens()

        # FC delivers the event again (the dead run's lease is short), until an invocation completes.
        set_config(monkeypatch, config)
        monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", str(LEASE_SECONDS))
        run = Runner(stack, emu, sqlite_url)
        results = until_complete(
            lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()), max_runs=3, wait=LEASE_SECONDS + 0.2
        )
        assert not results[-1].incomplete, results[-1].summary

        assert_one_snapshot_each(emu, disks)
        after = assert_records_match_snapshots(emu, sqlite_url)
        for token, record in dead.items():
            taken = after[token]
            assert taken.attempts >= 2 and taken.owner != record.owner, taken  # taken over, not reclaimed
        # A snapshot the dead run got committed is the one its successor recorded: same token, same id.
        assert all(after[t].snapshot_id == sid for t, sid in made_by_the_dead.items())
        later = {(d["token"], d["outcome"]) for r in results if r.summary for d in r.summary["disks"]}
        created_later = {t for t, outcome in later if outcome == "created"}
        found_later = {t for t, outcome in later if outcome == "deduplicated"}
        # What the dead run made is found by its slot tag and adopted, never made again; the rest is made.
        assert set(made_by_the_dead) <= found_later - created_later
        assert set(dead) - set(made_by_the_dead) <= created_later
        assert len(done_before) + len(created_later) + len(made_by_the_dead) == len(disks)
        outcomes = emu.counters.to_dict()["CreateSnapshot"]["outcomes"]
        assert set(outcomes) <= {"OK", "IdempotentProcessing"}, outcomes

    report(
        "crash" + (" (ECS forgot the tokens)" if forgotten else ""),
        {
            "disks": len(disks),
            "killed_after_s": round(killed_at, 2),
            "done_before_kill": len(done_before),
            "dead_claims": len(dead),
            "committed_by_the_dead": len(made_by_the_dead),
            "reruns": len(results),
            "rerun_outcomes": [
                {k: r.summary[k] for k in ("created", "deduplicated", "in_progress") if r.summary}
                for r in results
            ],
        },
    )
