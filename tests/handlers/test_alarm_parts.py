"""handlers/alarm.py piece by piece: which alarms act and what the notes say (batch positions as
ranges, the alarm-time note against the receipt time), which disks each alarm names, and the
reason a window carries. Quick on purpose: ``make mutation`` runs these first for alarm's
mutants (tests/e2e/test_alarm.py runs whole invocations, with sample events days old)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from snapstack.config import AlarmConfig
from snapstack.events.alarms import AlarmSignal
from snapstack.handlers.alarm import SignalNotes, _acts, _joined, _merge, _reason
from snapstack.handlers.cooldown import Assignment
from snapstack.targets import Disk

CONFIG = AlarmConfig.model_validate({"policy": {"name": "alarm", "selector": {"all_disks": True}}})
TIME_NOTE = (
    "rule: the alarm's own time is over an hour before its receipt (or ahead of it); "
    "the cooldown counts from receipt, so that time chooses nothing"
)


def signal(**fields: Any) -> AlarmSignal:
    base: dict[str, Any] = {
        "source": "cms_alarm",
        "rule": "rule",
        "state": "ALERT",
        "carried": "direct",
        "instance_ids": ("i-1",),
        "occurred_at": datetime.now(timezone.utc),
        "dedupe_id": "a-1",
    }
    return AlarmSignal(**{**base, **fields})


def noted(*positions: int | None) -> list[str]:
    notes = SignalNotes()
    for index in positions:
        notes.add(signal(index=index), "same")
    return notes.lines()


@pytest.mark.parametrize(
    ("positions", "line"),
    [
        ((None,), "same"),
        ((3,), "element 3: same"),
        ((0, 1, 2, 7), "elements 0-2, 7: same"),
        ((0, 2, 3), "elements 0, 2-3: same"),
        ((4, 0, 1, 3), "elements 0-1, 3-4: same"),
    ],
)
def test_a_note_names_the_batch_positions_it_is_about_as_ranges(positions, line):
    assert noted(*positions) == [line]


@pytest.mark.parametrize(
    ("age", "note"),
    [
        (timedelta(minutes=30), False),  # within the hour before receipt
        (timedelta(minutes=-2), False),  # a little ahead of receipt: clocks differ
        (timedelta(minutes=-4, seconds=-10), False),
        (timedelta(minutes=-5, seconds=-50), True),
        (timedelta(minutes=90), True),
        (timedelta(minutes=-30), True),
    ],
)
def test_an_alarm_time_far_from_its_receipt_acts_with_a_note(age, note):
    notes = SignalNotes()
    assert _acts(signal(occurred_at=datetime.now(timezone.utc) - age), CONFIG, notes) is True
    assert notes.lines() == ([TIME_NOTE] if note else [])


def test_an_alarm_in_another_state_or_naming_nothing_does_not_act():
    notes = SignalNotes()
    assert _acts(signal(state="OK", carried="cms"), CONFIG, notes) is False
    assert _acts(signal(instance_ids=(), index=4), CONFIG, notes) is False
    assert notes.lines() == [
        "rule: carried cms, alarm state OK, which does not act (acting: ALERT)",
        "element 4: rule: names no instance or disk",
    ]


def test_an_alarm_names_its_disks_or_its_instances_disks():
    found = [
        Disk(disk_id="d-1", instance_id="i-1"),
        Disk(disk_id="d-2", instance_id="i-1"),
        Disk(disk_id="d-3", instance_id="i-2"),
    ]
    by_disk = signal(instance_ids=(), disk_ids=("d-3",))
    on_instance = signal(instance_ids=("i-1",), disk_ids=("d-2", "d-3"), rule="r2")
    whole = signal(instance_ids=("i-1", "i-9"), rule="r3")
    notes = SignalNotes()
    asked = _merge([by_disk, on_instance, whole], found, "cn-hangzhou", notes)
    assert {k: [s.rule for s in v[1]] for k, v in asked.items()} == {
        "d-1": ["r3"],
        "d-2": ["r2", "r3"],
        "d-3": ["rule"],
    }
    assert notes.lines() == [
        "r2: no disk d-3 on instance i-1 in region cn-hangzhou",
        "r3: instance i-9 has no disks in cn-hangzhou",
    ]


def test_a_windows_reason_is_its_first_alarm_within_100_characters():
    assert _reason([signal()]) == "cms_alarm rule"
    assert _reason([signal(), signal(rule="other"), signal(rule="third")]) == "cms_alarm rule (+2 more)"
    long = signal(rule="r" * 200)
    assert _reason([long]) == ("cms_alarm " + "r" * 200)[:100]
    assert _reason([long, signal()]) == ("cms_alarm " + "r" * 200)[:90] + " (+1 more)"
    assert len(_reason([long, signal()])) == 100


def test_a_disk_placed_in_a_window_already_open_is_told_which_and_why():
    event = Assignment(disk_id="d-1", how="event", window="w-1")
    joined = Assignment(disk_id="d-1", how="joined", window="w-1")
    assert _joined(event, CONFIG.policy) == "d-1: this alarm already has the window opened at w-1"
    assert _joined(joined, CONFIG.policy) == (
        "d-1: within the cooldown (1d) of the window opened at w-1: no new snapshot"
    )
