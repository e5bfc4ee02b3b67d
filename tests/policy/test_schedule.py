"""Schedule slots follow the wall clock: a scheduled time's fires (late, doubled) share one slot
labelled with that wall-clock time; distinct scheduled times never share one.

The rules are checked against a model of the timer (FC's ``CRON_TZ`` cron names wall-clock
times; in the repeated hour it may fire twice, in the skipped hour it fires after the gap or not
at all) for every IANA zone whose UTC offset changes in 2026-2027, on every day it changes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from snapstack.policy.schedule import floor_to_slot, parse_period, parse_zone

UTC = timezone.utc
DAY = timedelta(days=1)
#: Every period shorter than a day that divides it, in whole minutes.
SUB_DAY = [timedelta(minutes=m) for m in range(1, 1440) if 1440 % m == 0]
HOURLY = [timedelta(hours=h) for h in (1, 2, 3, 4, 6, 8, 12)]
FIRST, LAST = datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2028, 1, 1, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


# -- the timer, modelled -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    """One wall-clock time a cron names, and the instants FC fires it at."""

    when: datetime  # naive, in the zone
    fires: tuple[datetime, ...]  # one, or two in a repeated hour
    skipped: bool  # the time does not exist that day; FC fires it (if at all) after the gap


def schedule(zone: ZoneInfo, day: date, period: timedelta) -> list[Scheduled]:
    """The day's scheduled times at every multiple of ``period`` from local midnight."""
    out = []
    when = datetime.combine(day, time(0))
    while when.date() == day:
        fires = []
        for fold in (0, 1):
            instant = when.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if wall(instant, zone) == when and instant not in fires:
                fires.append(instant)
        if fires:
            out.append(Scheduled(when, tuple(sorted(fires)), skipped=False))
        else:  # PEP 495: fold=0 reads a missing time with the offset before the gap: after it
            out.append(Scheduled(when, (when.replace(tzinfo=zone, fold=0).astimezone(UTC),), skipped=True))
        when += period
    return out


def check_day(zone: ZoneInfo, day: date, period: timedelta) -> None:
    """Every rule of the module docstring of snapstack.policy.schedule, for one zone, day and period."""
    runs = schedule(zone, day, period)
    existing = [run for run in runs if not run.skipped]
    labels = {}
    for run in existing:
        slots = {floor_to_slot(fire, period, zone) for fire in run.fires}
        # Doubled fires share one slot, labelled with the scheduled wall-clock time.
        assert len(slots) == 1, (zone, run)
        (slot,) = slots
        assert slot.label == run.when.isoformat(timespec="minutes"), (zone, run, slot)
        assert slot.start == run.when
        labels[run.when] = slot.label
        # A late fire keeps the slot while the wall clock has not reached the next boundary.
        for delay in (timedelta(seconds=1), period / 2, period - timedelta(seconds=1)):
            late = run.fires[0] + delay
            if run.when <= wall(late, zone) < run.when + period:
                assert floor_to_slot(late, period, zone) == slot, (zone, run, delay)
    # Distinct scheduled times, distinct slots.
    assert len(set(labels.values())) == len(labels), (zone, day, period)
    skipped = [run for run in runs if run.skipped]
    boundaries = [r.when for r in runs + (schedule(zone, day + DAY, period) if skipped else [])]
    for run in skipped:
        # A fire for a skipped time reads the clock after the gap: the slot of the last scheduled
        # time at or before that reading (itself maybe skipped, or the next day's).
        reading = wall(run.fires[0], zone)
        owner = max(when for when in boundaries if when <= reading)
        assert floor_to_slot(run.fires[0], period, zone).label == owner.isoformat(timespec="minutes")


# -- every zone with DST, on the days its offset changes ------------------------------------------------


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta | None:
    return moment.astimezone(zone).utcoffset()


def changes(zone: ZoneInfo) -> Iterator[datetime]:
    """Every instant (to the minute) in [FIRST, LAST) at which the zone's UTC offset changes."""
    week = timedelta(days=7)
    moment = FIRST
    while moment < LAST:
        if _offset(zone, moment) != _offset(zone, moment + week):
            low, high = moment, moment + week  # the offset differs at the ends: bisect to the minute
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if _offset(zone, mid) == _offset(zone, low) else (low, mid)
            yield high
            # Two changes in one week (Morocco's Ramadan) are found from the first onwards.
            moment = high
            continue
        moment += week


@functools.cache
def dst_days() -> dict[str, tuple[date, ...]]:
    """Zone name -> the local dates on which its offset changes (before and after the change)."""
    found = {}
    for name in sorted(available_timezones()):
        zone = ZoneInfo(name)
        days = set()
        for instant in changes(zone):
            days |= {wall(instant - timedelta(minutes=1), zone).date(), wall(instant, zone).date()}
        if days:
            found[name] = tuple(sorted(days))
    return found


def test_the_zone_model_finds_the_known_switches():
    days = dst_days()
    assert len(days) > 100  # every DST zone of the tz database, not a sample
    assert date(2026, 3, 8) in days["America/New_York"] and date(2026, 11, 1) in days["America/New_York"]
    assert date(2026, 10, 25) in days["Europe/Berlin"]
    assert "Asia/Shanghai" not in days and "UTC" not in days


def test_every_dst_zone_and_hourly_period_on_every_switch_day_of_two_years():
    checked = 0
    for name, days in dst_days().items():
        zone = ZoneInfo(name)
        for day in days:
            for period in HOURLY:
                check_day(zone, day, period)
                checked += 1
    assert checked == 7 * sum(len(d) for d in dst_days().values())


@st.composite
def zone_day(draw: st.DrawFn) -> tuple[str, date]:
    days = dst_days()
    name = draw(st.sampled_from(sorted(days)))
    if draw(st.booleans()):
        return name, draw(st.sampled_from(days[name]))
    return name, draw(st.dates(min_value=FIRST.date(), max_value=LAST.date() - DAY))


@settings(max_examples=100, deadline=None)
@given(zone_day(), st.sampled_from(SUB_DAY))
@example(("America/New_York", date(2026, 3, 8)), timedelta(minutes=1))
@example(("Australia/Lord_Howe", date(2026, 4, 5)), timedelta(minutes=30))  # a half-hour switch
@example(("America/Havana", date(2026, 3, 8)), timedelta(hours=6))  # local midnight is skipped
@example(("America/Santiago", date(2026, 4, 4)), timedelta(minutes=20))  # falls back at midnight
def test_every_dst_zone_and_every_period_dividing_a_day_over_two_years(where, period):
    name, day = where
    check_day(ZoneInfo(name), day, period)


# -- the field cases' day, and the rules by example ---------------------------------------------------

NEW_YORK = parse_zone("America/New_York")


@pytest.mark.parametrize(
    ("fires", "period", "labels"),
    [
        # 00:30 and 12:30 local on the spring-forward day: two slots (12:30 is not the 00:00 slot).
        (["05:30", "16:30"], "12h", ["00:00", "12:00"]),
        (["05:00", "10:00", "16:00", "22:00"], "6h", ["00:00", "06:00", "12:00", "18:00"]),
    ],
)
def test_the_spring_forward_day_keeps_its_wall_clock_slots(fires, period, labels):
    got = [floor_to_slot(at(f"2026-03-08T{t}:00Z"), parse_period(period), NEW_YORK).label for t in fires]
    assert got == [f"2026-03-08T{label}" for label in labels]


def test_both_passes_through_the_repeated_hour_are_one_slot():
    """CRON_TZ=Europe/Berlin 0 30 2 * * * may fire at 02:30 CEST and 02:30 CET on 2026-10-25."""
    zone = parse_zone("Europe/Berlin")
    for period, label in (("1h", "02:00"), ("30m", "02:30"), ("15m", "02:30")):
        first = floor_to_slot(at("2026-10-25T00:30:00Z"), parse_period(period), zone)
        second = floor_to_slot(at("2026-10-25T01:30:00Z"), parse_period(period), zone)
        assert first == second and first.label == f"2026-10-25T{label}"


def test_a_fire_for_a_skipped_time_is_the_slot_after_the_gap():
    """02:30 does not exist in New York on 2026-03-08; FC's fire for it arrives at 03:30 EDT."""
    fire, three = at("2026-03-08T07:30:00Z"), at("2026-03-08T07:00:00Z")
    hour = parse_period("1h")
    assert floor_to_slot(fire, hour, NEW_YORK) == floor_to_slot(three, hour, NEW_YORK)
    assert floor_to_slot(fire, hour, NEW_YORK).label == "2026-03-08T03:00"
    assert floor_to_slot(fire, parse_period("2h"), NEW_YORK).label == "2026-03-08T02:00"


def test_a_utc_cron_with_a_local_policy_maps_the_repeated_hour_once():
    """The documented cost of mixing zones: two UTC fires an hour apart read the same wall clock."""
    zone, hour = parse_zone("Europe/Berlin"), parse_period("1h")
    assert floor_to_slot(at("2026-10-25T00:10:00Z"), hour, zone) == floor_to_slot(
        at("2026-10-25T01:10:00Z"), hour, zone
    )


def test_half_hour_offset_zone_aligns_on_local_boundaries():
    slot = floor_to_slot(at("2026-11-27T13:00:00Z"), parse_period("6h"), parse_zone("Asia/Kolkata"))
    assert slot.label == "2026-11-27T18:00"


# -- whole days ----------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("text", ["0d", "7h", "25h", "36h", "1y", "", "d", "-1d", "367d", "53w", "1234567m"])
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


def test_weekly_slot_starts_monday():
    slot = floor_to_slot(at("2026-11-27T12:00:00Z"), parse_period("1w"), parse_zone("UTC"))
    assert slot.label == "2026-11-23/7d" and slot.start.weekday() == 0


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        floor_to_slot(datetime(2026, 1, 1), parse_period("1d"), parse_zone("UTC"))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1969, 12, 31, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Niue", "UTC"])
def test_extreme_times_are_a_value_error_not_an_overflow(moment, zone):
    with pytest.raises(ValueError, match="outside the years"):
        floor_to_slot(moment, parse_period("6h"), parse_zone(zone))


@pytest.mark.parametrize(
    ("text", "delta"),
    [(" 2 d ", timedelta(days=2)), ("48h", timedelta(days=2)), ("366d", timedelta(days=366)), ("1440m", DAY)],
)
def test_periods_at_the_edges_of_the_rules(text, delta):
    """Spaces around the parts; whole days given in hours; the longest period; a day in minutes."""
    assert parse_period(text) == delta


@pytest.mark.parametrize(
    ("period", "day", "first"),
    [
        ("2d", "2026-11-27", "2026-11-27"),
        ("2d", "2026-11-28", "2026-11-27"),
        ("3d", "2026-11-27", "2026-11-25"),
        ("3d", "2026-11-28", "2026-11-28"),
        ("14d", "2026-11-28", "2026-11-23"),  # blocks count from 0001-01-01, a Monday
    ],
)
def test_blocks_of_days_count_from_the_first_day_of_the_calendar(period, day, first):
    slot = floor_to_slot(at(f"{day}T12:00:00Z"), parse_period(period), parse_zone("UTC"))
    assert slot.label == f"{first}/{period}" and slot.start == datetime.fromisoformat(f"{first}T00:00")


def test_a_sub_day_slot_starts_at_its_wall_clock_boundary():
    slot = floor_to_slot(at("2026-11-27T17:29:59Z"), parse_period("15m"), parse_zone("Asia/Shanghai"))
    assert slot.start == datetime(2026, 11, 28, 1, 15) and slot.label == "2026-11-28T01:15"


@pytest.mark.parametrize(
    ("moment", "label"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01"),
        (datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC), "9998-12-31"),
    ],
)
def test_the_first_and_last_moments_a_slot_may_fall_in(moment, label):
    assert floor_to_slot(moment, DAY, parse_zone("UTC")).label == label


def test_the_first_moment_after_the_last_year_is_refused():
    with pytest.raises(ValueError, match="outside the years"):
        floor_to_slot(datetime(9999, 1, 1, tzinfo=UTC), DAY, parse_zone("UTC"))
