"""The keep rules over years of snapshots, in many time zones, across every DST switch.

The oracle states each tier the way a person would: group the snapshots by the label their
creation time carries on a local wall clock (``strftime`` in the policy's zone, with the UTC
offset for hours), take the N most recent groups, keep the newest of each. It never calls the
code under test's bucket function.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapstack.policy.retention import TIERS, Retention
from snapstack.retention.tiers import Point, keep_reasons

#: DST in both hemispheres, and a 30-minute DST shift (Lord Howe) ...
DST_ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
]
#: ... 30- and 45-minute offsets without DST, and none at all.
ZONES = [*DST_ZONES, "UTC", "Asia/Kathmandu", "Asia/Kolkata", "Asia/Shanghai"]
LABEL = {
    "hourly": "%Y-%m-%d %H %z",
    "daily": "%Y-%m-%d",
    "weekly": "%G-%V",
    "monthly": "%Y-%m",
    "yearly": "%Y",
}
HOUR = timedelta(hours=1)


def oracle(points: list[Point], tier: str, count: int, zone: ZoneInfo) -> set[str]:
    if not count:
        return set()
    groups: dict[str, Point] = {}
    for p in points:
        key = datetime.fromtimestamp(p.created.timestamp(), zone).strftime(LABEL[tier])
        best = groups.get(key)
        if best is None or (p.created, p.snapshot_id) > (best.created, best.snapshot_id):
            groups[key] = p
    recent = sorted(groups.values(), key=lambda p: (p.created, p.snapshot_id), reverse=True)[:count]
    return {p.snapshot_id for p in recent}


def hourly_series(end: datetime, hours: int) -> list[Point]:
    return [Point(f"s-{n:06d}", end - (hours - 1 - n) * HOUR) for n in range(hours)]


def kept_by(reasons: dict[str, list[str]], rule: str) -> set[str]:
    return {sid for sid, rules in reasons.items() if rule in rules}


ends = st.datetimes(
    min_value=datetime(2019, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(timezone.utc)
)
tier_counts = st.fixed_dictionaries({t: st.integers(0, 60) for t in TIERS})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    end=ends,
    series=st.fixed_dictionaries(
        {"days": st.integers(370, 800), "drop": st.floats(0, 0.6), "jitter": st.integers(0, 59)}
    ),
    rules=st.fixed_dictionaries(
        {"keep_last": st.integers(0, 30), "max_age_days": st.integers(0, 90), "tiers": tier_counts}
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_each_rule_keeps_what_it_says_and_nothing_else(zone, end, series, rules, seed):
    """Years of hourly snapshots with gaps and jitter: every tier equals the oracle; keep-last and
    max-age are exact; the keep-set does not depend on input order or on the zone ``now`` is in."""
    tiers, keep_last, max_age = rules["tiers"], rules["keep_last"], rules["max_age_days"]
    if not (keep_last or max_age or any(tiers.values())):
        keep_last = 1
    rng = random.Random(seed)
    tz = ZoneInfo(zone)
    points = [
        Point(p.snapshot_id, p.created + timedelta(minutes=series["jitter"]))
        for p in hourly_series(end, series["days"] * 24)
        if rng.random() >= series["drop"]
    ]
    retention = Retention(keep_last=keep_last, max_age_days=max_age, **tiers)
    now = end + timedelta(hours=rng.randint(0, 48))
    reasons = keep_reasons(points, retention, tz, now)

    for tier in TIERS:
        assert kept_by(reasons, tier) == oracle(points, tier, tiers[tier], tz), tier
    newest = sorted(points, key=lambda p: (p.created, p.snapshot_id), reverse=True)
    assert kept_by(reasons, "keep-last") == {p.snapshot_id for p in newest[:keep_last]}
    young = {p.snapshot_id for p in points if max_age and now - p.created < timedelta(days=max_age)}
    assert kept_by(reasons, "max-age") == young
    assert len(reasons) <= keep_last + len(young) + sum(tiers.values())

    shuffled = points[:]
    rng.shuffle(shuffled)
    assert keep_reasons(shuffled, retention, tz, now.astimezone(tz)) == reasons


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES), end=ends, tiers=tier_counts, keep_last=st.integers(0, 30), seed=st.integers()
)
def test_pruning_the_kept_set_again_keeps_all_of_it(zone, end, tiers, keep_last, seed):
    """A second run over what the first kept deletes nothing: the rules are stable."""
    if not (keep_last or any(tiers.values())):
        keep_last = 1
    rng = random.Random(seed)
    tz = ZoneInfo(zone)
    points = [p for p in hourly_series(end, 400 * 24) if rng.random() < 0.7]
    retention = Retention(keep_last=keep_last, **tiers)
    first = keep_reasons(points, retention, tz, end)
    again = keep_reasons([p for p in points if p.snapshot_id in first], retention, tz, end)
    assert again == first


def transitions(zone: ZoneInfo, year: int) -> list[datetime]:
    """The UTC instants in ``year`` at which ``zone``'s offset changes."""
    found = []
    moment = datetime(year, 1, 1, tzinfo=timezone.utc)
    while moment.year == year:
        step = moment + timedelta(minutes=30)
        if moment.astimezone(zone).utcoffset() != step.astimezone(zone).utcoffset():
            found.append(step)
        moment = step
    return found


DST_CASES = [(zone, when) for zone in ZONES for when in transitions(ZoneInfo(zone), 2026)]


def test_every_dst_zone_has_switches():
    assert {z for z, _ in DST_CASES} == set(DST_ZONES)


@pytest.mark.parametrize(("zone", "switch"), DST_CASES, ids=str)
@pytest.mark.parametrize("after_hours", [0, 3, 23])
def test_hourly_snapshots_across_a_dst_switch(zone, switch, after_hours):
    """Hourly snapshots through a switch: ``hourly: 48`` keeps exactly the 48 newest (a repeated
    wall-clock hour is two hours, not one); ``daily: 5`` keeps the last snapshot of each of the
    last 5 local dates, on 5 consecutive local dates (a 23- or 25-hour day is one day)."""
    tz = ZoneInfo(zone)
    end = switch + timedelta(hours=after_hours)
    points = hourly_series(end, 24 * 10)
    reasons = keep_reasons(points, Retention(hourly=48, daily=5), tz, end)

    assert kept_by(reasons, "hourly") == {p.snapshot_id for p in points[-48:]}
    daily = sorted((p for p in points if p.snapshot_id in kept_by(reasons, "daily")), key=lambda p: p.created)
    dates = [p.created.astimezone(tz).date() for p in daily]
    assert len(dates) == 5 and all(b - a == timedelta(days=1) for a, b in itertools.pairwise(dates))
    for p in daily:  # the next hourly snapshot is on another local date, or there is none
        later = p.created + HOUR
        assert later > end or later.astimezone(tz).date() != p.created.astimezone(tz).date()
