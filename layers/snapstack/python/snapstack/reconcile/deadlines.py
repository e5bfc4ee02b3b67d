"""A slot's deadline: until when the reconciler re-drives it, per trigger kind.

- **Timer slots** (scheduled_backup): the slot's end plus ``SNAPSTACK_SLOT_GRACE_SECONDS``
  (default 3600). Once a slot is over the next slot's backup is due, and its snapshot serves the
  disk better than a late one for the old slot; the grace covers a timer that fires near the end
  of its slot. A slot of whole days ends at a local midnight (calendar days, as
  ``policy/schedule.py`` counts them, so a DST switch does not move it); a shorter one ends one
  period after its start, in elapsed time.
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
from datetime import datetime, time, timedelta, timezone

from snapstack.config import ConfigError

DEFAULT_SLOT_GRACE_SECONDS = 3600.0
DEFAULT_EVENT_MAX_AGE_SECONDS = 86400.0
_DAY = timedelta(days=1)


def slot_end(start: datetime, period: timedelta) -> datetime:
    """The end of the schedule slot that starts at ``start`` (aware, in the policy's zone)."""
    if start.tzinfo is None:
        raise ValueError("a slot's start must carry a time zone")
    if not period % _DAY:
        # Calendar days in the zone: the wall-clock midnight ``period`` days on.
        return datetime.combine(start.date() + period, time(0), tzinfo=start.tzinfo)
    return (start.astimezone(timezone.utc) + period).astimezone(start.tzinfo)


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
