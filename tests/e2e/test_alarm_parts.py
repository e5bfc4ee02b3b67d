"""alarm_snapshot's details the broader end-to-end tests leave open: the log line of each unusable
element, and the disks after one the daily cap denies."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from .conftest import EVENTS
from .test_alarm import cms_form, midday_zone, open_window_earlier


def test_each_unusable_batch_element_gets_one_error_line(run, emulator, capsys):
    batch = json.loads((EVENTS / "eventbridge_mns_queue_batch.json").read_text())
    batch[1]["data"]["messageBody"] = "plain text"
    summary = run("alarm_snapshot", json.dumps(batch)).summary
    assert summary["ok"] and [u["index"] for u in summary["unusable"]] == [1]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (error,) = [line for line in lines if line.get("message") == "unusable element: not acted on"]
    assert (error["level"], error["error_code"], error["index"], error["field"]) == (
        "ERROR",
        "BadEvent",
        1,
        "[1].data.messageBody",
    )


def test_the_disks_after_one_the_daily_cap_denies_still_get_their_window(stack, run, emulator, config_json):
    zone = midday_zone()
    config = json.loads((stack.function("alarm_snapshot").source / "snapstack.json").read_text())
    config["policy"]["time_zone"] = zone
    config["max_snapshots_per_day"] = 1
    config_json(config)
    open_window_earlier(stack, run, 2 * 3600, "d-web-01-data", zone=ZoneInfo(zone), cap=1)  # sorts first
    summary = run("alarm_snapshot", cms_form()).summary
    outcome = {d["disk_id"]: (d["outcome"], d.get("error_code")) for d in summary["disks"]}
    assert outcome["d-web-01-data"] == ("denied", "AlarmCapReached")
    assert outcome["d-web-01-system"] == ("created", None)  # after the capped disk: still placed
