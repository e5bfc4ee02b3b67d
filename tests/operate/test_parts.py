"""The reconciler's parts: slot deadlines, RPO settings, what a record carries to be re-driven, and
the reconciler's own input (its timer payload and configuration)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapstack.config import ConfigError
from snapstack.policy.model import Policy
from snapstack.policy.rpo import default_rpo, parse_duration
from snapstack.reconcile.config import ReconcilerConfig
from snapstack.reconcile.deadlines import slot_deadline, slot_end
from snapstack.reconcile.meta import slot_meta
from snapstack.reconcile.rpo import duration
from tests.e2e.conftest import ours
from tests.operate.conftest import DISK, World, policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def test_a_daily_slot_ends_at_the_next_local_midnight_even_across_a_dst_switch() -> None:
    start = datetime(2026, 3, 8)  # a 23-hour day in New York
    end = slot_end(start, timedelta(days=1), NEW_YORK)
    assert end == datetime(2026, 3, 9, tzinfo=NEW_YORK)
    assert end.timestamp() - start.replace(tzinfo=NEW_YORK).timestamp() == 23 * 3600
    week = slot_end(datetime(2026, 11, 23), timedelta(days=7), SHANGHAI)
    assert week == datetime(2026, 11, 30, tzinfo=SHANGHAI)


def test_a_shorter_slot_ends_where_the_next_starts_on_the_wall_clock() -> None:
    # The fall-back night: both 01:30s are in the 01:00 slot, which ends at 02:00 EST, two hours on.
    start = datetime(2026, 11, 1, 1, 0)
    end = slot_end(start, timedelta(hours=1), NEW_YORK)
    assert (end.hour, end.utcoffset()) == (2, timedelta(hours=-5))
    assert end.timestamp() - start.replace(tzinfo=NEW_YORK, fold=0).timestamp() == 2 * 3600
    # A 7-hour policy's day is 00:00, 07:00, 14:00, 21:00: the last slot ends at midnight.
    assert slot_end(datetime(2026, 11, 28, 21), timedelta(hours=7), SHANGHAI) == datetime(
        2026, 11, 29, tzinfo=SHANGHAI
    )
    with pytest.raises(ValueError, match="wall-clock"):
        slot_end(datetime(2026, 11, 28, tzinfo=SHANGHAI), timedelta(hours=7), SHANGHAI)


def test_deadlines_per_trigger_kind() -> None:
    end = datetime(2026, 11, 28, tzinfo=SHANGHAI)
    assert slot_deadline("timer", end=end, env={}) == end.timestamp() + 3600
    assert (
        slot_deadline("timer", end=end, env={"SNAPSTACK_SLOT_GRACE_SECONDS": "600"}) == end.timestamp() + 600
    )
    assert slot_deadline("oss", now=1000.0, env={}) == 1000.0 + 86400  # FC's default max event age
    assert slot_deadline("alarm", now=1000.0, env={"SNAPSTACK_EVENT_MAX_AGE_SECONDS": "3600"}) == 4600.0
    with pytest.raises(ConfigError, match="SNAPSTACK_SLOT_GRACE_SECONDS"):
        slot_deadline("timer", end=end, env={"SNAPSTACK_SLOT_GRACE_SECONDS": "-1"})
    with pytest.raises(ConfigError, match="SNAPSTACK_EVENT_MAX_AGE_SECONDS"):
        slot_deadline("oss", env={"SNAPSTACK_EVENT_MAX_AGE_SECONDS": "soon"})


def test_a_weekly_slot_ends_at_local_midnight_across_a_dst_switch() -> None:
    start = datetime(2026, 3, 2)  # the week holds the 23-hour day
    assert slot_end(start, timedelta(days=7), NEW_YORK) == datetime(2026, 3, 9, tzinfo=NEW_YORK)


def test_deadline_settings_take_zero_and_refuse_what_is_not_finite_seconds() -> None:
    end = datetime(2026, 11, 28, tzinfo=SHANGHAI)
    assert slot_deadline("timer", end=end, env={"SNAPSTACK_SLOT_GRACE_SECONDS": "0"}) == end.timestamp()
    for bad in ("inf", "nan", "-0.5"):
        with pytest.raises(ConfigError, match="SNAPSTACK_SLOT_GRACE_SECONDS"):
            slot_deadline("timer", end=end, env={"SNAPSTACK_SLOT_GRACE_SECONDS": bad})


def test_only_a_timer_slot_ends_with_its_schedule() -> None:
    end = datetime(2026, 11, 28, tzinfo=SHANGHAI)
    for trigger in ("alarm", "deploy", "oss", "zzz"):  # an end given for an event slot is not used
        assert slot_deadline(trigger, end=end, now=1000.0, env={}) == 1000.0 + 86400
    timer = "".join(["ti", "mer"])  # equal, not the same object
    assert slot_deadline(timer, end=end, env={}) == end.timestamp() + 3600


def test_the_default_rpo_is_the_period_plus_a_quarter_at_least_an_hour() -> None:
    hours = {p: default_rpo(parse_duration(p)) / timedelta(hours=1) for p in ("15m", "1h", "6h", "1d", "1w")}
    assert hours == {"15m": 1.25, "1h": 2.0, "6h": 7.5, "1d": 30.0, "1w": 210.0}
    assert Policy.model_validate({"name": "d", "selector": {"all_disks": True}}).rpo_delta == timedelta(
        hours=30
    )
    set_rpo = Policy.model_validate({"name": "d", "selector": {"all_disks": True}, "rpo": "1d2h"})
    assert set_rpo.rpo_delta == timedelta(hours=26)


def test_an_rpo_counts_every_unit() -> None:
    assert parse_duration("45s") == timedelta(seconds=45)
    assert parse_duration("1w1d1h1m1s") == timedelta(days=8, hours=1, minutes=1, seconds=1)
    assert parse_duration("1h 30m") == timedelta(minutes=90)


@pytest.mark.parametrize("text", ["", "0h", "26", "h", "1d-2h", "1.5h", "26 hours"])
def test_an_rpo_that_is_not_a_duration_is_refused_when_the_policy_loads(text: str) -> None:
    with pytest.raises(ValueError, match="rpo"):
        Policy.model_validate({"name": "d", "selector": {"all_disks": True}, "rpo": text})


@given(st.floats(min_value=0, max_value=10**8))
def test_durations_are_one_word_and_never_overstate(seconds: float) -> None:
    text = duration(seconds)
    assert " " not in text
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    total, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        else:
            total, number = total + int(number) * units[char], ""
    assert total <= seconds < total + units[text[-1]]


def test_a_record_carries_the_whole_request_and_the_deadline(world: World) -> None:
    world.configure(policy("daily", DISK, time_zone="UTC", tags={"team": "sre"}))
    (made,) = world.backup("daily").summary["disks"]  # type: ignore[index]
    record = world.table().get(made["token"])
    assert record is not None
    slot = slot_meta(record)
    assert slot is not None and slot.request is not None
    (snapshot,) = ours(world.emulator)
    assert slot.request.snapshot_name == snapshot["name"] and slot.request.disk_id == DISK
    assert {t.key: t.value for t in slot.request.tags} == snapshot["tags"]
    assert slot.request.client_token is None  # the token is the slot's, at the record's generation
    assert (slot.instance_id, slot.labels["policy"], slot.labels["trigger"]) == ("i-web-01", "daily", "timer")
    assert slot.deadline == datetime(2024, 6, 2, 1, tzinfo=timezone.utc).timestamp()  # day end + 1 h


@pytest.mark.parametrize(
    ("queue", "payload", "refused"),
    [("", json.dumps({"policy": "hourly"}), ("policy", "hourly")),
     ("https://mns.example.com/failed", "", ("SNAPSTACK_FAILURE_QUEUE", "mns://HOST/QUEUE"))],
)  # fmt: skip
def test_a_bad_timer_payload_or_queue_url_is_bad_input_with_no_ecs_call(
    world: World, capsys: pytest.CaptureFixture[str], queue: str, payload: str, refused: tuple[str, str]
) -> None:
    field, named = refused
    world.configure(policy("daily", DISK))
    world.monkeypatch.setenv("SNAPSTACK_FAILURE_QUEUE", queue)
    capsys.readouterr()
    result = world.invoke("reconciler", payload)
    assert result.summary is not None and result.summary["ok"] is False
    assert result.summary["error"]["field"] == field and named in result.summary["error"]["rule"]
    errors = [line for line in capsys.readouterr().out.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1
    assert sum(entry["total"] for entry in world.emulator.counters.to_dict().values()) == 0


@pytest.mark.parametrize(
    ("payload", "chosen"),
    [("", ["daily", "weekly"]), ("weekly", ["weekly"]), ('{"policy": "daily"}', ["daily"]),
     ('{"policies": ["weekly", "daily"]}', ["weekly", "daily"]), ('["weekly"]', ["weekly"])],
)  # fmt: skip
def test_the_payload_narrows_the_rpo_check(payload: str, chosen: list[str]) -> None:
    from snapstack.handlers.reconciler import chosen_policies

    config = ReconcilerConfig.model_validate({"policies": [policy("daily", DISK), policy("weekly", DISK)]})
    assert [p.name for p in chosen_policies(config, payload)] == chosen


@pytest.mark.parametrize(
    "payload",
    ['{"policy": "daily", "extra": 1}', '{"policy": "daily", "policies": ["daily"]}', "[]",
     '{"policies": [1]}', "{}"],
)  # fmt: skip
def test_a_payload_that_names_no_policy_is_refused(payload: str) -> None:
    from snapstack.handlers.reconciler import chosen_policies
    from snapstack.handlers.runtime import BadInput

    config = ReconcilerConfig.model_validate({"policies": [policy("daily", DISK)]})
    with pytest.raises(BadInput):
        chosen_policies(config, payload)


def test_the_shipped_reconciler_checks_the_policies_the_scheduled_backup_runs() -> None:
    from snapstack.config import ScheduledConfig, load_config
    from tests.reliability.support import ROOT

    scheduled = load_config(ScheduledConfig, ROOT / "functions/scheduled_backup", {})
    checked = load_config(ReconcilerConfig, ROOT / "functions/reconciler", {})
    keys = ("name", "selector", "period", "time_zone")
    assert [p.model_dump(include=set(keys)) for p in checked.policies] == [
        p.model_dump(include=set(keys)) for p in scheduled.policies
    ]
    with pytest.raises(ConfigError, match="cadence: Extra inputs are not permitted"):
        load_config(ReconcilerConfig, None, {"SNAPSTACK_CONFIG_JSON": '{"policies": [], "cadence": "15m"}'})
