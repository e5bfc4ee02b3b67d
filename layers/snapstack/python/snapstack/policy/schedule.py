"""Schedule slots: a trigger time floored to the policy's period, in the policy's time zone.

A slot is what a scheduled snapshot is *for*: "the 2026-11-27 daily backup in Asia/Shanghai".
Every fire of the timer inside one slot — late, retried, or doubled by a DST switch — maps to
the same slot and so to the same ClientToken, which is what makes it run once.

- Periods of whole days count calendar days in the zone: ``1d`` is the local date, ``7d``
  (or ``1w``) the local ISO week starting Monday, ``Nd`` blocks of N days since 0001-01-01 (a
  Monday). DST cannot split or repeat a local date, so daily slots are DST-safe by
  construction.
- Shorter periods must divide a day. They count *elapsed* time from local midnight, computed
  in UTC (aware datetimes sharing one tzinfo subtract as wall clocks, which is wrong across a
  DST switch). On a 23- or 25-hour day the slots stay the period long; the label carries the
  UTC offset, so the repeated wall-clock hour of a fall-back night gets two distinct slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = timedelta(days=1)
_PERIOD = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": DAY, "w": timedelta(days=7)}


@dataclass(frozen=True)
class Slot:
    """One schedule slot: when it starts (in the policy's zone) and its stable label."""

    start: datetime
    label: str


def parse_period(text: str) -> timedelta:
    """``15m``, ``6h``, ``1d``, ``1w`` ... -> a period that divides a day or is whole days."""
    match = _PERIOD.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"period {text!r}: expected a positive number and a unit m, h, d or w (e.g. '1d')")
    period = int(match.group(1)) * _UNITS[match.group(2)]
    if period < DAY and DAY % period:
        raise ValueError(f"period {text!r}: a period shorter than a day must divide 24 hours")
    if period > DAY and period % DAY:
        raise ValueError(f"period {text!r}: a period longer than a day must be whole days")
    return period


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone, with a clear error for a wrong name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"time zone {name!r} is not an IANA zone name (e.g. 'Asia/Shanghai', 'UTC')"
        ) from exc


def floor_to_slot(moment: datetime, period: timedelta, zone: ZoneInfo) -> Slot:
    """The slot containing ``moment`` (which must be time-zone aware)."""
    if moment.tzinfo is None:
        raise ValueError("trigger time must carry a time zone")
    local = moment.astimezone(zone)
    if not period % DAY:
        days = period // DAY
        ordinal = local.date().toordinal()
        first = date.fromordinal(ordinal - (ordinal - 1) % days)
        start = datetime.combine(first, time(0), tzinfo=zone)
        return Slot(start, first.isoformat() if days == 1 else f"{first.isoformat()}/{days}d")
    midnight_utc = datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(timezone.utc)
    elapsed = moment.astimezone(timezone.utc) - midnight_utc
    start = (midnight_utc + (elapsed // period) * period).astimezone(zone)
    return Slot(start, start.isoformat(timespec="minutes"))
