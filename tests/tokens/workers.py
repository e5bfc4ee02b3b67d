"""Process bodies for the multi-process token tests (spawned children import this module by name)."""

from __future__ import annotations

import time
from typing import Any

from snapstack.tokens import open_table


def claim_at_barrier(url: str, token: str, owner: str, barrier: Any, results: Any) -> None:
    """Open the table, wait for every racer, claim once, report ``(owner, outcome)``."""
    table = open_table(url)
    try:
        table.get(token)  # connect before the barrier, so the race is on the claim itself
        barrier.wait(timeout=60)
        results.put((owner, table.claim(token, owner).outcome.value))
    finally:
        table.close()


def claim_then_hang(url: str, token: str, owner: str, claimed: Any) -> None:
    """Claim, signal, and never complete: the parent kills this process to simulate a crash."""
    open_table(url).claim(token, owner)
    claimed.set()
    time.sleep(120)
