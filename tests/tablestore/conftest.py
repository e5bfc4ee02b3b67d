"""Tablestore fixtures: an emulator per test (on a fake clock) and the real SDK pointed at it.

Starting an emulator takes milliseconds, so every test gets a fresh one and nothing leaks between
tests. The SDK is the real ``tablestore.OTSClient``; nothing of it is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import tablestore

from devkit.tablestore.testing import RunningEmulator, start_emulator
from tests.tokens.support import FakeClock

# A fixed, recent instant: cell versions and table TTL run on it, the protocol dates on real time.
EPOCH = 1_760_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(EPOCH)


@pytest.fixture
def running(clock: FakeClock) -> Iterator[RunningEmulator]:
    with start_emulator(clock=clock) as emulator:
        yield emulator


@pytest.fixture
def client(running: RunningEmulator) -> Any:
    return running.client(socket_timeout=5)


def create_table(client: Any, name: str = "t", schema: Any = None, **options: Any) -> str:
    """Create ``name`` with ``schema`` (default: one STRING key ``pk``) and TableOptions(**options)."""
    meta = tablestore.TableMeta(name, schema or [("pk", "STRING")])
    reserved = tablestore.ReservedThroughput(tablestore.CapacityUnit(0, 0))
    client.create_table(meta, tablestore.TableOptions(**options), reserved)
    return name
