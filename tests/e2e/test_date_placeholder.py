"""``{date}`` in snapshot names, for every trigger kind: the slot's date where the slot is a time
(a timer's slot, an alarm's window), else (a deploy, whose slot is a release) the invocation's
date, always on the policy's wall clock."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import EVENTS, ROOT, ours, timer_event

#: UTC+14: its date is a day ahead of UTC's for ten hours of every day, so a UTC date shows.
AHEAD = "Pacific/Kiritimati"
NAME = "snap-{date}-{disk_id}"


def shipped(function: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((ROOT / "functions" / function / "snapstack.json").read_text())
    return config


def dates_shown(emulator) -> set[str]:
    """The ``{date}`` part of every snapshot made (``snap-<date>-<disk>``)."""
    return {s["name"].split("-")[1] for s in ours(emulator)}


def today_in(zone: str) -> set[str]:
    """Today's date in ``zone``, as ``{date}`` shows it (either side of a midnight the test spans)."""
    return {datetime.now(ZoneInfo(zone)).strftime("%Y%m%d")}


@pytest.mark.parametrize(
    "case",
    [
        ("1d", "2026-11-27T20:00:00Z", "20261128"),  # 04:00 on the 28th in Shanghai
        ("6h", "2026-11-27T17:30:00Z", "20261128"),  # the 00:00 slot of the 28th
        ("6h", "2026-11-27T15:59:00Z", "20261127"),  # 23:59: the 18:00 slot of the 27th
        ("1w", "2026-11-27T20:00:00Z", "20261123"),  # the week's slot starts on Monday the 23rd
    ],
)
def test_a_timer_shows_its_slots_date(run, emulator, config_json, case):
    period, when, shown = case
    config = shipped("scheduled_backup")
    daily = config["policies"][0] | {"snapshot_name": NAME, "period": period, "time_zone": "Asia/Shanghai"}
    config_json({"policies": [daily]})
    first = run("scheduled_backup", timer_event(when)).summary
    assert first["created"] and dates_shown(emulator) == {shown}


def test_a_deploy_shows_the_invocations_date_on_the_policys_clock(run, emulator, config_json):
    config = shipped("deploy_hook")
    config["policy"] |= {"snapshot_name": NAME, "time_zone": AHEAD}
    config_json(config)
    before = today_in(AHEAD)
    summary = run("deploy_hook", (EVENTS / "deploy_invoke.json").read_bytes()).summary
    assert summary["created"]
    (shown,) = dates_shown(emulator)
    assert shown in before | today_in(AHEAD)


def test_an_alarm_shows_its_windows_date_on_the_policys_clock(run, emulator, config_json):
    config = shipped("alarm_snapshot")
    config["policy"] |= {"snapshot_name": NAME, "time_zone": AHEAD}
    config_json(config)
    before = today_in(AHEAD)
    summary = run("alarm_snapshot", (EVENTS / "cms_threshold_alarm.form").read_bytes()).summary
    assert summary["created"]
    (shown,) = dates_shown(emulator)
    assert shown in before | today_in(AHEAD)
