"""Schedule slots: late, retried and DST-doubled fires land in the same slot; slots never overlap."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from snapstack.policy.schedule import floor_to_slot, parse_period, parse_zone

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("15m", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(7)),
    ],
)
def test_periods(text, delta):
    assert parse_period(text) == delta


@pytest.mark.parametrize("text", ["0d", "7h", "25h", "36h", "1y", "", "d", "-1d"])
def test_bad_periods(text):
    with pytest.raises(ValueError, match="period"):
        parse_period(text)


def test_bad_zone_is_named():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse_zone("Mars/Olympus")


def test_daily_slot_is_the_local_date():
    shanghai = parse_zone("Asia/Shanghai")
    day = parse_period("1d")
    # 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is the next local day.
    assert floor_to_slot(at("2026-11-27T15:59:59Z"), day, shanghai).label == "2026-11-27"
    assert floor_to_slot(at("2026-11-27T16:00:00Z"), day, shanghai).label == "2026-11-28"


def test_late_fire_maps_to_the_same_slot():
    zone, day = parse_zone("Asia/Shanghai"), parse_period("1d")
    on_time = floor_to_slot(at("2026-11-27T20:00:00Z"), day, zone)
    late = floor_to_slot(at("2026-11-28T03:59:00Z"), day, zone)
    assert on_time == late


def test_fall_back_double_fire_is_one_daily_slot():
    """CRON_TZ=Europe/Berlin 30 2 * * * fires twice on 2026-10-25 (02:30 CEST and 02:30 CET)."""
    zone, day = parse_zone("Europe/Berlin"), parse_period("1d")
    first, second = at("2026-10-25T00:30:00Z"), at("2026-10-25T01:30:00Z")
    assert floor_to_slot(first, day, zone) == floor_to_slot(second, day, zone)


def test_spring_forward_skipped_hour_still_gets_its_day():
    zone, day = parse_zone("Europe/Berlin"), parse_period("1d")
    # 02:30 does not exist on 2026-03-29; the fire arrives at 03:30 CEST = 01:30Z.
    assert floor_to_slot(at("2026-03-29T01:30:00Z"), day, zone).label == "2026-03-29"


def test_hourly_slots_across_fall_back_are_distinct_and_an_hour_long():
    zone, hour = parse_zone("Europe/Berlin"), parse_period("1h")
    labels = [
        floor_to_slot(at(f"2026-10-25T00:{m:02d}:00Z") + timedelta(hours=h), hour, zone).label
        for h in range(3)
        for m in (0, 59)
    ]
    assert labels == [
        "2026-10-25T02:00+02:00",
        "2026-10-25T02:00+02:00",
        "2026-10-25T02:00+01:00",
        "2026-10-25T02:00+01:00",
        "2026-10-25T03:00+01:00",
        "2026-10-25T03:00+01:00",
    ]


def test_half_hour_offset_zone_aligns_on_local_boundaries():
    slot = floor_to_slot(at("2026-11-27T13:00:00Z"), parse_period("6h"), parse_zone("Asia/Kolkata"))
    assert slot.label == "2026-11-27T18:00+05:30"


def test_weekly_slot_starts_monday():
    slot = floor_to_slot(at("2026-11-27T12:00:00Z"), parse_period("1w"), parse_zone("UTC"))
    assert slot.label == "2026-11-23/7d" and slot.start.weekday() == 0


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        floor_to_slot(datetime(2026, 1, 1), parse_period("1d"), parse_zone("UTC"))


ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


def next_local_midnight(moment: datetime, zone) -> datetime:
    local_day = moment.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(local_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)


@example(datetime(2026, 10, 25, 22, 30, tzinfo=UTC), "2h", "Europe/Berlin")  # a 25-hour local day
@example(datetime(2026, 4, 5, 13, 10, tzinfo=UTC), "1h", "Australia/Lord_Howe")  # a 24.5-hour local day
@given(moments, st.sampled_from(["15m", "1h", "2h", "6h", "1d", "2d", "1w"]), st.sampled_from(ZONES))
def test_slot_contains_the_moment_and_every_moment_in_it_maps_back(moment, period_text, zone_name):
    period, zone = parse_period(period_text), parse_zone(zone_name)
    slot = floor_to_slot(moment, period, zone)
    assert slot.start.astimezone(UTC) <= moment
    if period < timedelta(days=1):
        # Slots restart at local midnight: on a long DST day the last one is cut short.
        end = min(slot.start.astimezone(UTC) + period, next_local_midnight(moment, zone))
        assert moment < end
        assert floor_to_slot(end - timedelta(microseconds=1), period, zone) == slot
        assert floor_to_slot(end, period, zone) != slot
    assert floor_to_slot(slot.start, period, zone) == slot
