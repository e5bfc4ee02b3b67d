"""A clock the test moves by hand, for code that takes ``clock=`` / ``sleep=`` (never the wall clock)."""

from __future__ import annotations


class Clock:
    """Seconds that move only when told: ``advance`` (or ``sleep``, for code that sleeps on it), and
    ``step`` per reading for a timer that ticks by itself."""

    def __init__(self, now: float = 1_000.0, step: float = 0.0) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> float:
        now = self.now
        self.now += self.step
        return now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
