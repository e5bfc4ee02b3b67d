"""The RPO check and ``snapstack report`` against the emulator, on its virtual clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devkit import exitcodes
from devkit.cli import main
from devkit.emulator.models import iso
from tests.operate.conftest import World, policy

A, B = "d-web-01-data", "d-web-02-data"
HOUR = 3600


def logged(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def report(world: World, *extra: str) -> list[str]:
    creds = world.emulator.credentials
    return [
        "report",
        "--token-table",
        world.token_table,
        "--endpoint",
        world.emulator.endpoint,
        "--access-key-id",
        creds.access_key_id,
        "--access-key-secret",
        creds.access_key_secret,
        "--now",
        iso(world.now),
        *extra,
    ]


@pytest.fixture
def breached(world: World) -> World:
    """Daily backups of A and B (UTC, RPO 30 h): both made on day 1; on day 2 B's failed (its disk
    is in arrears), A's was made; now is day 2 + 8 h: B's newest snapshot is 32 h old, A's 8 h."""
    world.configure(policy("daily", A, B, time_zone="UTC", rpo="30h"))
    assert world.backup("daily").summary["created"] == 2  # type: ignore[index]
    world.advance(24 * HOUR)
    world.emulator.state.patch_disk(B, in_arrears=True)
    day2 = world.backup("daily").summary  # type: ignore[assignment]
    assert {d["disk_id"]: d["outcome"] for d in day2["disks"]} == {A: "created", B: "failed"}
    world.advance(8 * HOUR)
    return world


def test_another_stacks_snapshot_of_the_same_policy_does_not_satisfy_the_rpo(breached: World) -> None:
    # A fresh, accomplished 'daily' snapshot of B made by a staging stack in the same account:
    # it carries every provenance tag but this stack's name, so B is still in breach.
    world = breached
    world.emulator.state.add_snapshots(
        [
            {
                "snapshot_id": "s-staging-b",
                "disk_id": B,
                "creation_time": world.now - HOUR,
                "tags": {"snapstack:policy": "daily", "snapstack:stack": "snapstack-staging"},
            }
        ]
    )
    (breach,) = world.reconcile()["rpo"]["breaches"]
    assert (breach["disk_id"], breach["age_seconds"]) == (B, 32 * HOUR)
    assert breach["last_snapshot_id"] != "s-staging-b"


def test_an_rpo_breach_is_reported_with_the_right_disk_and_age(
    breached: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world = breached
    first_b = next(s for s in world.emulator.state.snapshots(B))
    capsys.readouterr()
    run = world.reconcile()

    (breach,) = run["rpo"]["breaches"]
    assert run["ok"] is True and run["errors"] == []  # a breach is news, not a failed run
    assert (breach["policy"], breach["disk_id"]) == ("daily", B)
    assert (breach["age_seconds"], breach["rpo_seconds"]) == (32 * HOUR, 30 * HOUR)
    assert (breach["last_snapshot_id"], breach["last_snapshot_time"]) == (
        first_b["snapshot_id"],
        "2024-06-01T00:00:00Z",
    )
    assert run["rpo"]["policies"] == [
        {"policy": "daily", "rpo_seconds": 30 * HOUR, "checked": 2, "breaches": 1}
    ]
    assert run["notes"] == [f"RPO breach: daily {B}: {breach['reason']}"]
    lines = logged(capsys.readouterr().out)
    assert [entry["message"] for entry in lines if entry.get("level") == "ERROR"] == ["RPO breach"]
    (error,) = [entry for entry in lines if entry.get("alert") == "RpoBreach"]
    assert (error["level"], error["disk_id"], error["policy"], error["age_seconds"]) == (
        "ERROR",
        B,
        "daily",
        32 * HOUR,
    )
    (metric,) = [entry for entry in lines if "RpoBreachAgeSeconds" in entry]
    assert (metric["disk_id"], metric["policy"], metric["RpoBreachAgeSeconds"]) == (B, "daily", 32.0 * HOUR)
    assert metric["RpoBreach"] == 1.0  # one blob per breach, each counting one
    (per_policy,) = [entry for entry in lines if "RpoBreaches" in entry]
    assert (per_policy["RpoBreaches"], per_policy["RpoWorstAgeSeconds"]) == (1.0, 32.0 * HOUR)
    assert (per_policy["RpoDisksChecked"], per_policy["RpoCheckErrors"]) == (2.0, 0.0)


def test_the_report_shows_the_breach_and_the_failure_with_its_reason(
    breached: World, capfd: pytest.CaptureFixture[str]
) -> None:
    world = breached
    assert main(report(breached)) == exitcodes.FAILED
    out, err = capfd.readouterr()
    assert err == ""
    table = out.splitlines()
    assert table[0].split() == [
        "policy",
        "disk",
        "snapshot",
        "created",
        "status",
        "age",
        "rpo",
        "verdict",
        "open",
        "failed",
    ]
    rows = {line.split()[1]: line.split() for line in table[2:4]}
    made = {
        s["disk_id"]: s["snapshot_id"]
        for s in world.emulator.state.snapshots()
        if s["status"] == "accomplished"
    }
    assert rows[A][2:] == [made[A], "2024-06-02T00:00:00Z", "accomplished", "8h0m", "1d6h", "ok", "-", "-"]
    assert rows[B][2:] == [
        made[B],
        "2024-06-01T00:00:00Z",
        "accomplished",
        "1d8h",
        "1d6h",
        "BREACH",
        "-",
        "1",
    ]
    assert f"daily {B} 20240602: DiskInArrears: " in out  # the failure, with its reason
    assert "at 2024-06-02T08:00:00Z: 2 disk(s), 1 RPO breach(es)" in out

    assert main(report(world, "--json")) == exitcodes.FAILED
    doc = json.loads(capfd.readouterr().out)
    (daily,) = doc["policies"]
    disks = {d["disk_id"]: d for d in daily["disks"]}
    assert (disks[B]["verdict"], disks[B]["age_seconds"], disks[A]["age_seconds"]) == (
        "breach",
        32 * HOUR,
        8 * HOUR,
    )
    (failure,) = disks[B]["failures"]
    assert (failure["error_code"], failure["current"]) == ("DiskInArrears", True)
    assert doc["breaches"] == 1 and doc["now"] == "2024-06-02T08:00:00Z"


def test_the_report_exit_code_follows_what_needs_attention(
    world: World, capfd: pytest.CaptureFixture[str]
) -> None:
    world.configure(policy("daily", A, time_zone="UTC"))
    world.backup("daily")
    assert main(report(world)) == exitcodes.OK  # a new snapshot (progressing); the disk is in its first RPO
    capfd.readouterr()
    world.advance(HOUR)
    world.emulator.state.patch_disk(A, transferring=True)
    world.advance(24 * HOUR)
    world.backup("daily")  # day 2: deferred, open
    assert main(report(world)) == exitcodes.INCOMPLETE
    assert "deferred (IncorrectDiskStatus.Transferring)" in capfd.readouterr().out
    assert main(report(world, "--policy", "weekly")) == exitcodes.USAGE
    assert (
        "--policy weekly: not in the configuration (daily) nor in the token table" in capfd.readouterr().err
    )
    assert main(report(world, "--token-table", f"sqlite:///{Path('/nonexistent')}/t.db")) == exitcodes.USAGE


def test_a_disk_without_a_snapshot_gets_one_rpo_from_its_creation_and_never_started_ones_are_skipped(
    world: World,
) -> None:
    never_started = "d-batch-01-system"  # its instance was never started: nothing to back up
    world.configure(policy("daily", A, never_started, time_zone="UTC"))  # RPO: 1 d + 6 h
    world.advance(30 * HOUR)
    within = world.reconcile()["rpo"]
    assert within["breaches"] == [] and within["policies"][0]["checked"] == 1  # the never-started one is not
    world.advance(1)
    (breach,) = world.reconcile()["rpo"]["breaches"]
    assert (breach["disk_id"], breach["age_seconds"]) == (A, 30 * HOUR + 1)
    assert "no accomplished snapshot of this policy; the disk is 1d6h old" in breach["reason"]
    assert not {"last_snapshot_id", "last_snapshot_time"} & set(breach)  # none to name


def test_a_policy_whose_disks_cannot_be_read_fails_the_run_after_the_others_are_checked(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(policy("daily", A, time_zone="UTC"), policy("web2", B, time_zone="UTC"))
    world.emulator.faults.configure(
        {"apis": {"DescribeDisks": {"errors": [{"code": "Forbidden.RAM", "match": {"DiskIds": f'["{B}"]'}}]}}}
    )
    capsys.readouterr()

    result = world.invoke("reconciler")

    assert result.incomplete and result.summary is not None
    daily, web2 = result.summary["rpo"]["policies"]
    assert (daily["policy"], daily["checked"], "error" in daily) == ("daily", 1, False)
    assert (web2["policy"], web2["checked"], web2["error"].split(":")[0]) == ("web2", 0, "Forbidden.RAM")
    assert result.summary["errors"] == [f"policy web2: {web2['error']}"]
    lines = logged(capsys.readouterr().out)
    unreadable = "RPO check could not read the policy's disks"
    (unread,) = [entry for entry in lines if entry.get("message") == unreadable]
    assert (unread["level"], unread["policy"], unread["error"]) == ("ERROR", "web2", web2["error"])
    checks = {entry["policy"]: entry for entry in lines if "RpoCheckErrors" in entry}
    assert {name: entry["RpoCheckErrors"] for name, entry in checks.items()} == {"daily": 0.0, "web2": 1.0}
    assert (checks["daily"]["RpoDisksChecked"], checks["web2"]["RpoDisksChecked"]) == (1.0, 0.0)
