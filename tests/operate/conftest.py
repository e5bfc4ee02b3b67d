"""The reconciler and the RPO check, end to end: template.yml's functions through the local runner,
the official SDK against the ECS emulator on its virtual clock, and a real SQLite token table.

Every event is a timer event at the emulator's virtual time, so slot deadlines, snapshot ages and
the RPO are all judged on the one clock the test moves (``World.advance``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.models import iso
from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result, Target, invoke
from devkit.local.template import Template, load_template
from snapstack.tokens import TokenTable, open_table
from tests.e2e.conftest import _tags, ours
from tests.reliability.support import FAST_RETRIES, ROOT
from tests.tokens.conftest import (  # noqa: F401 - the token-table backends, reused here
    clock,
    redis_server,
    redis_url,
    sqlite_url,
    table_factory,
    table_url,
    tablestore_emulator,
    tablestore_url,
)

DISK = "d-web-01-data"


@pytest.fixture(scope="session")
def stack() -> Template:
    return load_template(ROOT / "template.yml")


def policy(name: str, *disks: str, **extra: Any) -> dict[str, Any]:
    """A policy over ``disks`` (by id), daily unless ``period`` says otherwise."""
    return {"name": name, "selector": {"disk_ids": list(disks)}, "period": "1d", **extra}


@dataclass
class World:
    """An emulator, a token table and template.yml's functions, on the emulator's clock."""

    stack: Template
    emulator: EcsEmulator
    token_table: str
    monkeypatch: pytest.MonkeyPatch
    _tables: list[TokenTable] = field(default_factory=list)

    @property
    def now(self) -> float:
        """The emulator's virtual time (epoch seconds)."""
        return self.emulator.state.clock.now()

    def advance(self, seconds: float) -> None:
        """Move the virtual clock: snapshots progress, ages grow, deadlines come closer."""
        self.emulator.state.clock.advance(seconds)

    def configure(self, *policies: dict[str, Any]) -> None:
        """One configuration for scheduled_backup and the reconciler (both read ``policies``)."""
        self.monkeypatch.setenv("SNAPSTACK_CONFIG_JSON", json.dumps({"policies": list(policies)}))

    def event(self, payload: str = "") -> bytes:
        """A timer event fired now (virtual time)."""
        return json.dumps({"triggerTime": iso(self.now), "triggerName": "t", "payload": payload}).encode()

    def invoke(self, function: str, payload: str = "", request_id: str | None = None) -> Result:
        """One invocation, as FC would deliver it now (``request_id``: FC's, the same on its retries)."""
        creds = self.emulator.credentials
        target = Target(self.emulator.endpoint, creds.access_key_id, creds.access_key_secret)
        result = invoke(
            self.stack,
            function,
            self.event(payload),
            target,
            token_table=self.token_table,
            request_id=request_id,
        )
        assert result.error is None, result.error
        return result

    def backup(self, name: str, request_id: str | None = None) -> Result:
        """scheduled_backup of policy ``name``."""
        return self.invoke("scheduled_backup", json.dumps({"policy": name}), request_id)

    def reconcile(self) -> dict[str, Any]:
        """One reconciler run; its summary."""
        result = self.invoke("reconciler")
        assert result.summary is not None and not result.incomplete, result.summary
        return result.summary

    def table(self) -> TokenTable:
        """A connection of the test's own to the token table."""
        table = open_table(self.token_table)
        self._tables.append(table)
        return table

    def close(self) -> None:
        for table in self._tables:
            table.close()


def slots(emu: EcsEmulator, *, status: str | None = None) -> Counter[str]:
    """Our snapshots at the emulator per slot tag (``status``: only those in that status)."""
    return Counter(_tags(s)["snapstack:slot"] for s in ours(emu) if status is None or s["status"] == status)


def assert_never_two(emu: EcsEmulator) -> None:
    """No slot has two snapshots that did not fail (a failed one may be retried in its slot)."""
    live = Counter(_tags(s)["snapstack:slot"] for s in ours(emu) if s["status"] != "failed")
    doubles = {t: n for t, n in live.items() if n > 1}
    assert not doubles, f"slots with two snapshots: {doubles}"


@pytest.fixture
def world(stack: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)
    with EcsEmulator() as emu:
        made = World(stack, emu, f"sqlite:///{tmp_path}/tokens.db", monkeypatch)
        yield made
        made.close()
