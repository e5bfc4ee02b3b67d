"""scheduled_backup's details the broader end-to-end tests leave open: how much of the slot a
snapshot name shows for each period, and the "selected no disks" note only when none was."""

from __future__ import annotations

import json

import pytest

from .conftest import ours, timer_event

DISK = "d-web-01-data"


@pytest.mark.parametrize(
    ("period", "slot"),
    [("1h", "20261128T0400"), ("1d", "20261128"), ("1w", "20261123")],  # Asia/Shanghai; weeks start Monday
)
def test_a_name_shows_the_slots_time_only_when_the_period_is_under_a_day(
    run, emulator, config_json, period, slot
):
    policy = {"name": "p", "selector": {"disk_ids": [DISK]}, "period": period, "time_zone": "Asia/Shanghai"}
    config_json({"policies": [policy]})
    summary = run("scheduled_backup", timer_event("2026-11-27T20:00:00Z", policy=None)).summary
    assert summary["created"] == 1 and summary["notes"] == []  # a listing with disks: no "no disks" note
    (snapshot,) = ours(emulator)
    assert snapshot["name"] == f"snapstack-p-{slot}-{DISK}"


def test_the_inline_allow_list_narrows_only_inline_policies(run, emulator, config_json):
    other = "d-db-01-data"
    config_json(
        {
            "policies": [{"name": "p", "selector": {"disk_ids": [DISK]}}],
            "inline_policies": {"allow": {"disk_ids": [other]}, "max_retention_days": 30},
        }
    )
    named = run("scheduled_backup", timer_event(policy="p")).summary
    assert (named["created"], named["denied"]) == (1, 0)  # a configured policy is not narrowed
    inline = {"name": "adhoc", "selector": {"disk_ids": [DISK, other]}}
    summary = run("scheduled_backup", timer_event(policy=inline)).summary
    assert {d["disk_id"]: d["outcome"] for d in summary["disks"]} == {DISK: "denied", other: "created"}


def test_the_throttled_metric_counts_both_throttling_codes(run, emulator, config_json, capfd):
    """Every Throttling answer a retry later got past counts: the API-wide and the per-user code."""
    emulator.faults.configure(
        {
            "apis": {
                "CreateSnapshot": {
                    "errors": [{"code": "Throttling", "times": 2}, {"code": "Throttling.User", "times": 1}]
                }
            }
        }
    )
    config_json({"policies": [{"name": "p", "selector": {"disk_ids": [DISK]}}]})
    capfd.readouterr()
    assert run("scheduled_backup", timer_event(policy="p")).summary["created"] == 1
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["Throttled"], line["SnapshotsCreated"]) for line in lines if "_aws" in line] == [(3.0, 1.0)]
    assert emulator.calls("CreateSnapshot") == 4  # two Throttling, one Throttling.User, the create
