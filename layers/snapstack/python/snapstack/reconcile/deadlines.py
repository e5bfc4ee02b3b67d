"""A slot's deadline: until when the reconciler re-drives it, per trigger kind.

- **Timer slots** (scheduled_backup): the slot's end plus ``SNAPSTACK_SLOT_GRACE_SECONDS``
  (default 3600). Once a slot is over the next slot's backup is due, and its snapshot serves the
  disk better than a late one for the old slot; the grace covers a timer that fires near the end
  of its slot. Its end is where the next slot starts on the policy's wall clock
  (``policy/schedule.py``), so a DST switch never moves it.
- **Event slots** (deploy_hook, alarm_snapshot, the CI hook): the first claim plus
  ``SNAPSTACK_EVENT_MAX_AGE_SECONDS`` (default 86400, FC's default ``maxAsyncEventAgeInSeconds``:
  https://www.alibabacloud.com/help/en/functioncompute/fc-2-0/user-guide/retry-policy, FACTS.md
  §4): as long as FC itself could still deliver the event. Set it to the function's
  ``MaxAsyncEventAgeInSeconds`` when the template changes that.

The deadline is computed when the slot is planned and stored in its record (``reconcile/meta.py``);
the first claim's value stays. A slot whose record expires first (the token table keeps records 7
days and 1 hour) is no longer the reconciler's; the RPO check still sees the disk.
"""

from __future__ import annotations

import os
import time as clock
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from snapstack.config import ConfigError

DEFAULT_SLOT_GRACE_SECONDS = 3600.0
DEFAULT_EVENT_MAX_AGE_SECONDS = 86400.0
_DAY = timedelta(days=1)


def slot_end(start: datetime, period: timedelta, zone: ZoneInfo) -> datetime:
    """The end (aware, in ``zone``) of the schedule slot whose wall-clock start in ``zone`` is
    ``start`` (naive, as ``policy.schedule.Slot.start``): where the next slot starts.

    Slots follow the wall clock (``policy/schedule.py``): a slot of whole days ends at the local
    midnight ``period`` days on; a shorter one ends ``period`` of wall-clock time later, or at the
    next local midnight when that comes first (a day's last slot is cut there). A wall time a DST
    switch skips or repeats is read with ``fold=0``.
    """
    if start.tzinfo is not None:
        raise ValueError("a slot's start is a wall-clock reading (naive), as policy.schedule gives it")
    midnight = datetime.combine(start.date() + _DAY, time(0))
    if not period % _DAY:
        end = datetime.combine(start.date() + period, time(0))
    else:
        end = min(start + period, midnight)
    return end.replace(tzinfo=zone)


def slot_deadline(
    trigger: str,
    *,
    end: datetime | None = None,
    now: float | None = None,
    env: Mapping[str, str] | None = None,
) -> float:
    """The deadline (epoch seconds) of a slot planned now: ``end`` + grace for a timer slot whose
    end is known, else ``now`` + the event max age. ``ConfigError`` for a bad setting."""
    source = os.environ if env is None else env
    if trigger == "timer" and end is not None:
        return end.timestamp() + _seconds(source, "SNAPSTACK_SLOT_GRACE_SECONDS", DEFAULT_SLOT_GRACE_SECONDS)
    start = clock.time() if now is None else now
    return start + _seconds(source, "SNAPSTACK_EVENT_MAX_AGE_SECONDS", DEFAULT_EVENT_MAX_AGE_SECONDS)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError("environment", name, f"must be seconds >= 0 (got {text!r})")
    return value
