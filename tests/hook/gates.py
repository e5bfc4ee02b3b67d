"""Shared between a test and the test functions it runs in this process (tests/hook/fixtures).

A function ``enter``s a named gate: that marks it entered (the test can wait for it) and blocks
until the test opens the gate. ``count`` numbers the calls per key (for functions that fail a set
number of times).
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_entered: dict[str, threading.Event] = {}
_open: dict[str, threading.Event] = {}
_counts: Counter[str] = Counter()

#: How long a function waits for its gate before giving up (a test that never opens it is a bug).
GATE_TIMEOUT = 60.0


def _event(table: dict[str, threading.Event], name: str) -> threading.Event:
    with _lock:
        return table.setdefault(name, threading.Event())


def enter(name: str) -> None:
    """Called by a function: mark the gate entered, then wait until it is opened."""
    _event(_entered, name).set()
    if not _event(_open, name).wait(GATE_TIMEOUT):
        raise TimeoutError(f"gate {name!r} was never opened")


def wait_entered(name: str, timeout: float = 60.0) -> None:
    """Called by a test: block until a function has entered the gate."""
    if not _event(_entered, name).wait(timeout):
        raise TimeoutError(f"no function entered gate {name!r}")


def entered(name: str) -> bool:
    """Whether a function has entered the gate."""
    return _event(_entered, name).is_set()


def release(name: str) -> None:
    """Called by a test: open the gate."""
    _event(_open, name).set()


def count(key: str) -> int:
    """One more call for ``key``; returns its number (1 for the first)."""
    with _lock:
        _counts[key] += 1
        return _counts[key]
