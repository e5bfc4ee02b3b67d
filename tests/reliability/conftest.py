"""Reliability scenarios: duplicate storms, injected faults, crashes, hostile input, secrets, outages.

They run template.yml's functions through the local runner (in this process, in worker
processes, or through ``snapstack local invoke``) against the ECS emulator over real sockets, with
real token tables (a SQLite file, a private ``redis-server``). Sizes fit ``make test`` (about a
minute on two cores, within a two-minute budget); ``pytest --long`` (option defined in
tests/conftest.py) scales every scenario up for manual runs. Measurements are printed at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result, Target, invoke
from devkit.local.template import Template, load_template
from devkit.redis_server import RedisServer
from tests.e2e.conftest import moto_endpoint, oss  # noqa: F401 - fixtures reused here
from tests.reliability.support import FAST_RETRIES, MEASUREMENTS, ROOT

SUMMARY_DISKS = "SNAPSTACK_SUMMARY_DISKS"


@pytest.fixture(autouse=True, scope="package")
def _every_disk_in_the_summary() -> Iterator[None]:
    """The scenarios check every disk's outcome in the summary, whose per-disk detail is bounded
    (1,000 by default, snapstack/summary.py); the --long sizes exceed that. Workers inherit it."""
    saved = os.environ.get(SUMMARY_DISKS)
    os.environ[SUMMARY_DISKS] = "100000"
    yield
    if saved is None:
        os.environ.pop(SUMMARY_DISKS, None)
    else:
        os.environ[SUMMARY_DISKS] = saved


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    storm_disks: int  # the generated fleet of the duplicate storm
    storm_processes: int  # concurrent worker processes, one invocation each
    storm_concurrency: int  # the policy's threads per invocation
    fault_disks: int
    fault_concurrency: int  # 1 keeps the seeded fault sequence identical on every run
    fault_max_attempts: int  # per CreateSnapshot call; few enough that some disks need a redelivery
    crash_disks: int
    crash_kill_after: int  # snapshots at the emulator when the runner is killed
    bad_input_examples: int  # hypothesis examples per trigger shape (and for arbitrary bytes)
    table_outage_disks: int
    ecs_outage_disks: int


NORMAL = Sizes(
    storm_disks=200,
    storm_processes=16,
    storm_concurrency=8,
    fault_disks=200,
    fault_concurrency=1,
    fault_max_attempts=3,
    crash_disks=240,
    crash_kill_after=50,
    bad_input_examples=500,
    table_outage_disks=32,
    ecs_outage_disks=60,
)
LONG = Sizes(
    storm_disks=1000,
    storm_processes=64,
    storm_concurrency=16,
    fault_disks=2000,
    fault_concurrency=8,
    fault_max_attempts=4,
    crash_disks=1500,
    crash_kill_after=400,
    bad_input_examples=20000,
    table_outage_disks=200,
    ecs_outage_disks=600,
)


@pytest.fixture(scope="session")
def sizes(request: pytest.FixtureRequest) -> Sizes:
    """The scenario sizes: NORMAL, or LONG under ``--long``."""
    return LONG if request.config.getoption("--long") else NORMAL


@pytest.fixture(scope="session")
def stack() -> Template:
    return load_template(ROOT / "template.yml")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST_RETRIES.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for one test (tests may stop or pause it)."""
    with RedisServer() as server:
        yield server


@dataclass
class Runner:
    """Invoke a function of the stack in this process against ``emulator``."""

    stack: Template
    emulator: EcsEmulator
    token_table: str
    target: Target | None = None  # default: the emulator's first credentials

    def __call__(self, function: str, event: bytes | dict[str, Any]) -> Result:
        if isinstance(event, dict):
            event = json.dumps(event).encode()
        target = self.target or target_of(self.emulator)
        return invoke(self.stack, function, event, target, token_table=self.token_table)


def target_of(emu: EcsEmulator) -> Target:
    creds = emu.credentials
    return Target(emu.endpoint, creds.access_key_id, creds.access_key_secret, creds.security_token)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/tokens.db"


def set_config(monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> None:
    """Replace the function's shipped configuration (SNAPSTACK_CONFIG_JSON) for one test."""
    monkeypatch.setenv("SNAPSTACK_CONFIG_JSON", json.dumps(config))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What the scenarios measured (sizes, wall times, outcome counts), once, after the run."""
    if MEASUREMENTS:
        terminalreporter.section("reliability measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)
