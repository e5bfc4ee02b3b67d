"""In-process helpers of the token-table tests: hand-moved clocks and a thread race."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar

from snapstack.tokens import ClaimOutcome, TokenTable

TableFactory = Callable[..., TokenTable]
R = TypeVar("R")


class FakeClock:
    """A clock the test moves by hand; by default it starts at the real time, so Redis key expiry
    stays ahead of it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MovingClock:
    """The table's clock; while ``moving``, each reading first lets ``move`` write the record."""

    def __init__(self, clock: FakeClock, move: Callable[[], object]) -> None:
        self.clock, self.move = clock, move
        self.moving = False
        self.moves = 0

    def __call__(self) -> float:
        if self.moving:
            self.moves += 1
            self.move()
        return self.clock()


def together(tables: Sequence[TokenTable], attempt: Callable[[TokenTable, str], R]) -> list[R]:
    """Run ``attempt(table, owner)`` on one thread per table, all released at once; their results."""
    barrier = threading.Barrier(len(tables))
    results: list[R] = []
    errors: list[BaseException] = []

    def run(table: TokenTable, owner: str) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(attempt(table, owner))
        except BaseException as exc:  # surfaced below: a thread's exception must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t, f"owner-{i}")) for i, t in enumerate(tables)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def race(tables: Sequence[TokenTable], attempt: Callable[[TokenTable, str], ClaimOutcome]) -> Counter[str]:
    """Run ``attempt(table, owner)`` on one thread per table, all released at once; count outcomes."""
    return Counter(outcome.value for outcome in together(tables, attempt))
