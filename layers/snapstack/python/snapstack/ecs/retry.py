"""How long to wait before the next attempt, and whether there may be one at all.

Exponential backoff with full jitter (a uniform draw between 0 and the capped exponential),
so a fleet of throttled calls spreads out instead of retrying in lock-step. A server's
``retry-after`` is a floor. Three bounds stop retrying: attempts per call, a budget of retries
shared by every call of one invocation (so a throttling storm cannot multiply load), and the
time left in the invocation.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Per-call retry settings."""

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 8.0
    #: Stop retrying when less than this is left before the deadline (room to record the outcome).
    deadline_margin: float = 2.0

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        delay = rng.uniform(0.0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


class RetryBudget:
    """Retries allowed across one invocation: ``floor`` plus ``ratio`` of the calls made.

    Thread-safe: the fan-out shares one budget.
    """

    def __init__(self, *, ratio: float = 0.5, floor: int = 20) -> None:
        self._ratio = ratio
        self._floor = floor
        self._calls = 0
        self._retries = 0
        self._lock = threading.Lock()

    def record_call(self) -> None:
        """Count a first attempt."""
        with self._lock:
            self._calls += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is exhausted."""
        with self._lock:
            if self._retries >= self._floor + self._ratio * self._calls:
                return False
            self._retries += 1
            return True

    @property
    def retries(self) -> int:
        """Retries spent so far."""
        return self._retries


class Deadline:
    """The end of the invocation on the monotonic clock (``None`` = no limit)."""

    def __init__(self, seconds_left: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = None if seconds_left is None else clock() + seconds_left

    def remaining(self) -> float:
        """Seconds left (infinity when there is no limit)."""
        return float("inf") if self._end is None else self._end - self._clock()
