"""Faults: throttling, internal errors and commits whose answer is lost, on every CreateSnapshot.

The emulator draws from one seeded stream: 20% Throttling, 5% InternalError, and 2% of the calls
that committed lose their connection before the answer (the snapshot exists, the client cannot
know). A naive retry of that last case makes a second snapshot; retrying with the same
ClientToken must not. The event is delivered at most three times, as FC's async retry would,
stopping at the first complete invocation: then every disk has exactly one snapshot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.template import Template
from tests.reliability.conftest import Runner, Sizes, set_config
from tests.reliability.support import (
    TIMER_EVENT,
    accounted,
    assert_one_snapshot_each,
    assert_records_match_snapshots,
    disk_ids,
    fleet,
    policy_config,
    report,
    timed,
    until_complete,
)

pytestmark = pytest.mark.slow

FAULTS = {
    "seed": 20261127,
    "apis": {
        "CreateSnapshot": {
            "throttling": 0.20,
            "internal_error": 0.05,
            "drop_after_commit": {"probability": 0.02},
        }
    },
}


@pytest.mark.parametrize("mode", ["remember", "release"])
def test_faults_never_make_a_second_snapshot(
    stack: Template,
    sizes: Sizes,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    mode: str,
) -> None:
    set_config(monkeypatch, policy_config(sizes.fault_concurrency))
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", str(sizes.fault_max_attempts))
    data = fleet(sizes.fault_disks)
    disks = disk_ids(data)
    timings: dict[str, float] = {}
    with EcsEmulator(fleet=data, faults=FAULTS, token_errors=mode) as emu:
        run = Runner(stack, emu, sqlite_url)
        with timed("runs_s", timings):
            results = until_complete(lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()), max_runs=3)

        assert not results[-1].incomplete, results[-1].summary
        for result in results:
            assert result.summary is not None and result.summary["ok"]
            assert accounted(result.summary) == len(disks)
            assert result.summary["failed"] == 0 and result.summary["skipped"] == 0
        # Each disk is made once: created by some delivery, or (its answer lost) found by its slot tag.
        created = [d["disk_id"] for r in results for d in r.summary["disks"] if d["outcome"] == "created"]
        adopted = [d["disk_id"] for r in results for d in r.summary["disks"] if _adopted(d)]
        assert sorted(created + adopted) == sorted(disks)
        assert_one_snapshot_each(emu, disks)
        assert_records_match_snapshots(emu, sqlite_url)

        outcomes = emu.counters.to_dict()["CreateSnapshot"]["outcomes"]
        # The faults really happened, the lost answers included: otherwise this proves nothing.
        assert outcomes.get("Throttling", 0) > 0 and outcomes.get("InternalError", 0) > 0
        assert outcomes.get("Dropped", 0) > 0, outcomes
        assert "IdempotentParameterMismatch" not in outcomes  # a retry never changed its request
        # Some disks outlasted their call's retries and were done by a redelivery, with the same token.
        deferred = {d["disk_id"]: d for d in results[0].summary["disks"] if d["outcome"] == "deferred"}
        assert deferred and len(results) >= 2
        later = {
            d["disk_id"]: d
            for r in results[1:]
            for d in r.summary["disks"]
            if d["outcome"] == "created" or _adopted(d)
        }
        assert set(deferred) <= set(later)
        assert all(later[k]["token"] == deferred[k]["token"] for k in deferred)

    report(
        f"faults ({mode} token errors)",
        {
            "disks": len(disks),
            "invocations": len(results),
            "deferred_first_run": results[0].summary["deferred"] if results[0].summary else None,
            **timings,
            "calls": sum(outcomes.values()),
            **{k: v for k, v in sorted(outcomes.items())},
        },
    )


def _adopted(disk: dict[str, object]) -> bool:
    """A slot whose snapshot an earlier attempt made (answer lost), found at ECS by its slot tag."""
    return disk["outcome"] == "deduplicated" and "slot tag" in str(disk.get("message", ""))
