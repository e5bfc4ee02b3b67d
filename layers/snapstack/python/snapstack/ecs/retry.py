"""How long to wait before the next attempt, and whether there may be one at all.

Exponential backoff with full jitter (a uniform draw between 0 and the capped exponential),
so a fleet of throttled calls spreads out instead of retrying in lock-step. A server's
``retry-after`` is a floor. Three bounds stop retrying: attempts per call, a budget of retries
shared by every call of one invocation (so a throttling storm cannot multiply load), and the
time left in the invocation.

Two callers use these decisions: the ECS client (``EcsClient._call``) and the token-table calls
of the executor (``call_with_retries`` with ``TABLE_RETRY``), so a transient table error is
retried with backoff before it counts as an outage.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


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


#: Token-table calls: quick retries over about a second, so one dropped connection or one "try
#: again" reply is absorbed, while a table that stays down is declared down within that second.
TABLE_RETRY = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.5, deadline_margin=1.0)


def call_with_retries(
    call: Callable[[], T],
    *,
    retryable: Callable[[BaseException], bool],
    policy: RetryPolicy = TABLE_RETRY,
    deadline: Deadline | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried with ``policy``'s backoff while ``retryable(error)`` holds.

    The last error is raised once the attempts or the deadline run out. ``call`` must be safe to
    repeat (the token table's transitions are: see ``tokens/base.py``).
    """
    draw = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            wait = policy.backoff(attempt, draw)
            left = float("inf") if deadline is None else deadline.remaining()
            if not retryable(exc) or attempt >= policy.max_attempts or left - wait <= policy.deadline_margin:
                raise
        sleep(wait)
