"""A policy's RPO: how old its newest accomplished snapshot of a disk may be before that is a breach.

``rpo`` in a policy is a duration such as ``26h``, ``1d6h`` or ``8d``. Unset, it is the period plus
a grace of a quarter period, at least one hour (``1d`` -> 30 h, ``1h`` -> 2 h, ``15m`` -> 1 h 15 m,
``1w`` -> 8 d 18 h): one missed slot is a breach well before the next slot is missed too, while
a snapshot that takes a while to become ``accomplished`` (a large disk's first full snapshot, a
timer that fires late) is not.
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(days=7),
}
MIN_GRACE = timedelta(hours=1)


def parse_duration(text: str) -> timedelta:
    """``26h``, ``1d6h``, ``90m`` ... -> a positive duration; ValueError naming the rule otherwise."""
    compact = text.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r}: expected numbers with units s, m, h, d or w (e.g. '26h' or '1d6h')")
    total = sum((int(n) * _UNITS[u] for n, u in parts), timedelta())
    if total <= timedelta():
        raise ValueError(f"{text!r}: must be longer than zero")
    return total


def default_rpo(period: timedelta) -> timedelta:
    """The period plus a grace of a quarter period, at least ``MIN_GRACE``."""
    return period + max(period / 4, MIN_GRACE)


def rpo_of(rpo: str | None, period: timedelta) -> timedelta:
    """The policy's ``rpo`` when set, else ``default_rpo(period)``."""
    return parse_duration(rpo) if rpo else default_rpo(period)
