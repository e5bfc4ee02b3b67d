"""Which of a disk's snapshots the keep rules keep: ``keep_last``, ``max_age_days`` and the
grandfather-father-son tiers. Pure functions over (id, creation time) points.

Tiers count calendar units *in the policy's time zone*, each creation time converted from UTC
with ``zoneinfo``, so a "day" is the local date, never the UTC one:

- hourly: the local wall-clock hour *and* its UTC offset. On a fall-back night the repeated hour
  is two real hours, so it is two buckets; a spring-forward night's skipped hour has none.
- daily: the local date (DST cannot split or repeat one).
- weekly: the local ISO week (Monday to Sunday).
- monthly, yearly: the local calendar month and year.

Each tier keeps the newest snapshot of each of its N most recent buckets that hold one (the
semantics of borg's and restic's prune). ``max_age_days`` compares elapsed time, in UTC.
Only the caller's candidates count: accomplished snapshots of the policy (a failed snapshot is
no backup, a progressing one is protected elsewhere).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from snapstack.policy.retention import TIERS, Retention


@dataclass(frozen=True)
class Point:
    """A snapshot as the keep rules see it: its id and its (time-zone aware) creation time."""

    snapshot_id: str
    created: datetime


def bucket(tier: str, moment: datetime, zone: ZoneInfo) -> Hashable:
    """The ``tier`` bucket ``moment`` falls in, in ``zone`` (see the module docstring)."""
    local = moment.astimezone(zone)
    if tier == "hourly":
        return local.date(), local.hour, local.utcoffset()
    if tier == "daily":
        return local.date()
    if tier == "weekly":
        year, week, _ = local.isocalendar()
        return year, week
    if tier == "monthly":
        return local.year, local.month
    if tier == "yearly":
        return local.year
    raise ValueError(f"unknown tier {tier!r}; tiers are {', '.join(TIERS)}")


def newest_first(points: Sequence[Point]) -> list[Point]:
    """``points`` newest first; equal times are ordered by id, so the answer never depends on input order."""
    return sorted(points, key=lambda p: (p.created, p.snapshot_id), reverse=True)


def keep_reasons(
    points: Sequence[Point], retention: Retention, zone: ZoneInfo, now: datetime
) -> dict[str, list[str]]:
    """The rules that keep each kept point, by snapshot id (points no rule keeps are absent).

    Rule names: ``keep-last``, ``max-age``, and the tier names. ``now`` (aware) matters only for
    ``max_age_days``.
    """
    ordered = newest_first(points)
    reasons: dict[str, list[str]] = {}

    def keep(point: Point, rule: str) -> None:
        reasons.setdefault(point.snapshot_id, []).append(rule)

    for point in ordered[: retention.keep_last]:
        keep(point, "keep-last")
    if retention.max_age_days:
        # In UTC: an aware local "now" minus a timedelta is wall-clock arithmetic, off by the
        # DST shift whenever a switch lies in between.
        oldest = now.astimezone(timezone.utc) - timedelta(days=retention.max_age_days)
        for point in ordered:
            if point.created > oldest:
                keep(point, "max-age")
    for tier in TIERS:
        count = retention.tier(tier)
        if not count:
            continue
        seen: set[Hashable] = set()
        for point in ordered:
            key = bucket(tier, point.created, zone)
            if key in seen:
                continue
            seen.add(key)
            keep(point, tier)
            if len(seen) == count:
                break
    return reasons
