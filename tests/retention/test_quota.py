"""The quota guard in scheduled_backup: a disk at 256 manual snapshots is pruned, then snapshotted;
when nothing may go, the disk fails with QuotaExceed.Snapshot and says whose the 256 are."""

from __future__ import annotations

from typing import Any

import pytest

from devkit.emulator.fleet import snapshot_history
from devkit.emulator.testing import EcsEmulator

from .conftest import fleet_data, metrics, timer

DISK = "d-ret-01-data"
BACKUP = '{"policy": "daily"}'


def full_disk(ours: int, foreign: int, *, pinned: bool = False) -> dict[str, Any]:
    """The retention fleet with ``ours`` daily snapshots and ``foreign`` others on DISK (hourly)."""
    fleet = fleet_data()
    snaps = snapshot_history(
        [DISK], policy="daily", count=ours, every_seconds=3600, last="2024-05-31T23:00:00Z"
    )
    for snap in snaps:
        if pinned:
            snap["tags"]["snapstack:pin"] = "legal-hold"
    snaps += [
        {"snapshot_id": f"s-foreign-{n:03d}", "disk_id": DISK, "creation_time": "2024-01-01T00:00:00Z"}
        for n in range(foreign)
    ]
    fleet["snapshots"] = snaps
    return fleet


def config(**retention: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "name": "daily",
        "selector": {"disk_ids": [DISK]},
        "retention_days": None,
        "time_zone": "Asia/Shanghai",
    }
    if retention:
        policy["retention"] = retention
    return {"policies": [policy]}


@pytest.fixture
def load(emulator: EcsEmulator):
    def use(fleet: dict[str, Any]) -> None:
        emulator.control("POST", "fleet", fleet)

    return use


def only_disk(result) -> dict[str, Any]:
    (disk,) = result.summary["disks"]
    return disk


def test_a_full_disk_of_ours_is_pruned_then_snapshotted(emulator, load, run_function, capsys) -> None:
    load(full_disk(ours=250, foreign=6))
    result = run_function("scheduled_backup", timer(BACKUP), config(keep_last=24, daily=7))
    assert only_disk(result)["outcome"] == "created"
    left = {s["snapshot_id"] for s in emulator.state.snapshots(DISK)}
    oldest = {f"s-hist-000000-{k:04d}" for k in range(7)}  # 256 - 249: back below the threshold
    assert not oldest & left and len(left) == 256 - 7 + 1
    assert emulator.calls("DeleteSnapshot") == 7 and emulator.calls("CreateSnapshot") == 1
    out = capsys.readouterr().out
    assert out.count('"by":"quota-guard"') == 7  # each deletion logged, with its rule
    assert '"rule":"beyond-retention"' in out
    assert metrics(out)["QuotaPruned"] == 7


def test_a_disk_near_the_quota_is_pruned_below_the_threshold(emulator, load, run_function) -> None:
    load(full_disk(ours=245, foreign=5))  # 250: at the default threshold
    result = run_function("scheduled_backup", timer(BACKUP), config(keep_last=24))
    assert only_disk(result)["outcome"] == "created"
    assert emulator.calls("DeleteSnapshot") == 1


def test_a_disk_below_the_threshold_costs_one_describe_and_no_delete(emulator, load, run_function) -> None:
    load(full_disk(ours=20, foreign=5))
    result = run_function("scheduled_backup", timer(BACKUP), config(keep_last=3))
    assert only_disk(result)["outcome"] == "created"
    assert (emulator.calls("DescribeSnapshots"), emulator.calls("DeleteSnapshot")) == (1, 0)


def test_a_disk_full_of_foreign_snapshots_fails_with_the_reason(emulator, load, run_function, capsys) -> None:
    load(full_disk(ours=0, foreign=256))
    result = run_function("scheduled_backup", timer(BACKUP), config(keep_last=3))
    disk = only_disk(result)
    assert (disk["outcome"], disk["error_code"]) == ("failed", "QuotaExceed.Snapshot")
    expected = "holds 256 manual snapshots, the quota is 256: 0 are snapstack's (0 of policy 'daily')"
    assert f"{expected}, 256 are foreign" in disk["message"]
    assert emulator.calls("CreateSnapshot") == 0 and emulator.calls("DeleteSnapshot") == 0
    assert metrics(capsys.readouterr().out)["QuotaBlocked"] == 1


def test_a_disk_full_of_pinned_snapshots_fails_naming_the_rule(emulator, load, run_function) -> None:
    load(full_disk(ours=200, foreign=56, pinned=True))
    disk = only_disk(run_function("scheduled_backup", timer(BACKUP), config(keep_last=3)))
    assert disk["error_code"] == "QuotaExceed.Snapshot"
    assert "200 are snapstack's (200 of policy 'daily'), 56 are foreign" in disk["message"]
    assert "its retention keeps all of the policy's snapshots (pinned: 200)" in disk["message"]


def test_without_retention_ecs_refuses_and_the_reason_still_counts(emulator, load, run_function) -> None:
    load(full_disk(ours=100, foreign=156))
    disk = only_disk(run_function("scheduled_backup", timer(BACKUP), config()))
    assert disk["error_code"] == "QuotaExceed.Snapshot"
    assert "100 are snapstack's (100 of policy 'daily'), 156 are foreign" in disk["message"]
    assert "policy 'daily' has no retention" in disk["message"]
    assert emulator.calls("CreateSnapshot") == 1 and emulator.calls("DeleteSnapshot") == 0


def test_a_guard_that_cannot_read_lets_the_backup_go_ahead(emulator, load, run_function) -> None:
    load(full_disk(ours=10, foreign=0))
    emulator.faults.configure({"apis": {"DescribeSnapshots": {"errors": [{"code": "Forbidden.RAM"}]}}})
    assert (
        only_disk(run_function("scheduled_backup", timer(BACKUP), config(keep_last=3)))["outcome"]
        == "created"
    )
