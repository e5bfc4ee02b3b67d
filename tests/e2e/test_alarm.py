"""alarm_snapshot end to end: only ALERT acts, one snapshot per disk per cooldown, allow-list kept."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from .conftest import all_calls, ours

WEB01_PROD = {"d-web-01-system", "d-web-01-data"}  # i-web-01's disks tagged env=prod
HOUR_START_MS = 1795770000 * 1000  # 2026-11-27T09:00:00Z: cooldown windows are whole UTC hours


def cms_form(state: str = "ALERT", instance: str = "i-web-01", ts_ms: int = HOUR_START_MS + 300_000) -> bytes:
    return urlencode(
        {
            "alertName": "web01-disk-usage-high",
            "alertState": state,
            "curValue": "95.2",
            "dimensions": f"{{userId=1234567890123456, instanceId={instance}, device=/dev/vda1}}",
            "expression": "$Average>=90",
            "metricName": "diskusage_utilization",
            "metricProject": "acs_ecs_dashboard",
            "namespace": "acs_ecs_dashboard",
            "ruleId": "snapstack_web01_disk_usage",
            "timestamp": str(ts_ms),
            "userId": "1234567890123456",
            "regionId": "cn-hangzhou",
        }
    ).encode()


def created(summary):
    return {d["disk_id"] for d in summary["disks"] if d["outcome"] == "created"}


def test_an_alert_snapshots_the_instances_allowed_disks(run, emulator):
    summary = run("alarm_snapshot", cms_form()).summary
    assert summary["ok"] and created(summary) == WEB01_PROD
    denied = {d["disk_id"] for d in summary["disks"] if d.get("error_code") == "NotAllowed"}
    assert denied and not denied & WEB01_PROD
    assert {s["disk_id"] for s in ours(emulator)} == WEB01_PROD


def test_the_same_alarm_within_the_cooldown_makes_nothing_new(run, emulator):
    run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 60_000))
    again = run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 50 * 60_000)).summary  # 49 min later
    assert again["created"] == 0 and again["deduplicated"] == len(WEB01_PROD)
    assert len(ours(emulator)) == len(WEB01_PROD)


def test_after_the_cooldown_the_alarm_acts_again(run, emulator):
    run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 60_000))
    emulator.state.clock.advance(3600)
    later = run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 3600_000 + 60_000)).summary  # next window
    assert created(later) == WEB01_PROD


def test_ok_and_insufficient_data_do_nothing(run, emulator):
    for state in ("OK", "INSUFFICIENT_DATA"):
        summary = run("alarm_snapshot", cms_form(state)).summary
        assert summary["ok"] and summary["disks"] == [] and "does not act" in summary["notes"][0]
    assert all_calls(emulator) == 0


def test_an_instance_outside_the_allow_list_is_refused(run, emulator):
    summary = run("alarm_snapshot", cms_form(instance="i-batch-01")).summary
    assert summary["disks"] and all(d["error_code"] == "NotAllowed" for d in summary["disks"])
    assert emulator.calls("CreateSnapshot") == 0


def test_an_ecs_event_through_eventbridge_acts_on_its_instance(run, emulator):
    event = {
        "id": "9d1c7f0e-1111-4e7b-a6f5-0d1c2b3a4e5f",
        "source": "acs.ecs",
        "specversion": "1.0",
        "type": "ecs:Instance:SystemMaintenance.Reboot",
        "subject": "acs:ecs:cn-hangzhou:1234567890123456:instance/i-web-01",
        "time": "2026-11-27T09:45:02.318Z",
        "datacontenttype": "application/json;charset=utf-8",
        "data": {
            "instanceId": "i-web-01",
            "eventType": "SystemMaintenance.Reboot",
            "eventStatus": "Scheduled",
        },
    }
    summary = run("alarm_snapshot", json.dumps(event)).summary
    assert summary["ok"] and created(summary) == WEB01_PROD


def test_garbage_is_one_clear_error_and_no_call(run, emulator):
    summary = run("alarm_snapshot", b"alertName=x&alertState=ALERT").summary  # no ruleId, no timestamp
    assert summary["ok"] is False and summary["error"]["rule"]
    assert all_calls(emulator) == 0
