"""Fixtures: a fresh emulator (sample fleet) per test and an official SDK client for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator


@pytest.fixture
def emu() -> Iterator[EcsEmulator]:
    """The emulator on the sample fleet, no faults."""
    with EcsEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: EcsEmulator) -> Any:
    """An SDK client with the default (V3) signing."""
    return emu.sdk_client()
