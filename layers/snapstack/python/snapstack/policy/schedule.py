"""Schedule slots: which scheduled run a timer fire belongs to, on the policy's wall clock.

A slot is what a scheduled snapshot is *for*: "the 2026-11-27 daily backup in Asia/Shanghai",
"the 06:00 run of 2026-03-08 in America/New_York". Every fire of the timer for one scheduled
time — late, retried, or doubled by a DST switch — maps to the same slot and so to the same
ClientToken, which is what makes it run once; distinct scheduled times map to distinct slots.

A timer's cron names wall-clock times in its zone: FC reads ``CRON_TZ=<IANA zone>`` before the
cron fields, else UTC, and warns that a DST switch can double or skip a run
(https://help.aliyun.com/document_detail/2513615.html; FACTS.md §1a). So slots are wall-clock
too, read in the policy's ``time_zone`` — give it the cron's ``CRON_TZ`` (``UTC`` for a UTC cron
and for ``@every`` triggers, which count elapsed time, not the clock):

- Periods of whole days count calendar days in the zone: ``1d`` is the local date, ``7d``
  (or ``1w``) the local ISO week starting Monday, ``Nd`` blocks of N days since 0001-01-01 (a
  Monday). Label: ``2026-11-27`` (``2026-11-23/7d`` for longer periods).
- Shorter periods must divide a day. The slot is the fire's local wall-clock time floored to a
  multiple of the period since local midnight, and its label is that wall-clock boundary:
  ``2026-03-08T06:00`` for a 6 h policy's 06:00 run, whatever the UTC offset that day. A DST
  day therefore keeps its boundaries (00:00, 06:00, 12:00, 18:00), and a 12:30 fire is the
  12:00 slot even on the 23-hour day.
- **Repeated local hour** (clocks go back): both passes through 01:00-01:59 (New York) read the
  same wall clock, so they are one slot each period-step — the doubled fire FC may send for a
  scheduled 01:30 is deduplicated. A cron in a *different* zone than the policy (say UTC) firing
  in both passes also lands twice on the same slot: one snapshot for that hour, not two.
- **Skipped local hour** (clocks go forward): no fire ever reads a wall-clock time in the gap.
  A fire FC sends for a skipped time (02:30 in New York on the spring-forward day arrives at
  03:30 EDT) reads the clock after the gap and is the slot that reading falls in: 03:00 for a
  1 h policy (the 03:00 run's slot: one snapshot for both), 02:00 for a 2 h one (the 02:00
  run's slot, whose first hour was skipped).
- **Late fires** stay in their slot while the wall clock has not reached the next boundary. In
  the repeated hour a fire delayed past the clock change reads as the earlier slot's second
  pass; nothing can tell the two apart.

``Slot.start`` is the slot's first wall-clock reading (a naive datetime in the policy's zone;
on a DST day that reading may not exist, or exist twice). Times outside years 1970-9998 are
refused with ValueError before any arithmetic (the event decoders refuse them first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = timedelta(days=1)
_PERIOD = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": DAY, "w": timedelta(days=7)}
#: Longest period a policy may have (a period is a schedule step or an alarm cooldown).
MAX_PERIOD = timedelta(days=366)
#: Moments a slot may be computed for (see the module docstring).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Slot:
    """One schedule slot: its first wall-clock reading in the policy's zone, and its stable label."""

    start: datetime
    label: str


def parse_period(text: str) -> timedelta:
    """``15m``, ``6h``, ``1d``, ``1w`` ... -> a period that divides a day or is whole days.

    At most ``MAX_PERIOD``. Raises ValueError naming the rule broken.
    """
    match = _PERIOD.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"period {text!r}: expected a positive number and a unit m, h, d or w (e.g. '1d')")
    period = int(match.group(1)) * _UNITS[match.group(2)]
    if period > MAX_PERIOD:
        raise ValueError(f"period {text!r}: at most {MAX_PERIOD.days} days")
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
    """The slot of a fire at ``moment`` (time-zone aware), by the rules of the module docstring.

    Raises ValueError for a naive moment or one outside [EARLIEST, LATEST).
    """
    if moment.tzinfo is None:
        raise ValueError("trigger time must carry a time zone")
    if not EARLIEST <= moment < LATEST:
        raise ValueError(
            f"time {moment.isoformat()} is outside the years a schedule slot may fall in (1970-9998)"
        )
    wall = moment.astimezone(zone).replace(tzinfo=None, fold=0)
    if not period % DAY:
        days = period // DAY
        ordinal = wall.date().toordinal()
        first = date.fromordinal(ordinal - (ordinal - 1) % days)
        return Slot(datetime.combine(first, time(0)), first.isoformat() if days == 1 else f"{first}/{days}d")
    midnight = datetime.combine(wall.date(), time(0))
    start = midnight + ((wall - midnight) // period) * period
    return Slot(start, start.isoformat(timespec="minutes"))
