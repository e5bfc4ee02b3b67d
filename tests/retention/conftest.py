"""Retention tests: the official SDK against the ECS emulator, on a virtual clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result, Target, invoke
from devkit.local.template import load_template
from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.retry import RetryPolicy
from snapstack.observability import get_logger
from snapstack.policy.model import Policy
from snapstack.retention.run import PruneReport, prune_policy

ROOT = Path(__file__).resolve().parents[2]
RETENTION_FLEET = ROOT / "devkit" / "emulator" / "fixtures" / "retention_fleet.json"
#: The stack (FC service) the fleet's snapshots were made by: the template's default ServiceName.
STACK = "snapstack"
#: The retention fleet's virtual "now".
FLEET_NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)


def fleet_data() -> dict[str, Any]:
    """The retention demo fleet (devkit/emulator/fixtures/retention_fleet.json), as data to vary."""
    data: dict[str, Any] = json.loads(RETENTION_FLEET.read_text())
    return data


@pytest.fixture
def emulator() -> Iterator[EcsEmulator]:
    """The emulator on the retention fleet."""
    with EcsEmulator(fleet=RETENTION_FLEET) as emu:
        yield emu


def ecs_for(emu: EcsEmulator, **retry: Any) -> EcsClient:
    """The library's ECS client for ``emu``; quick retries (their arithmetic is tested in tests/ecs)."""
    creds = emu.credentials
    policy = RetryPolicy(**{"base_delay": 0.01, "max_delay": 0.05, **retry})
    config = EcsConfig(region_id=emu.state.region_id, endpoint=emu.endpoint, protocol="http", retry=policy)
    return EcsClient(config, Credentials(creds.access_key_id, creds.access_key_secret))


def daily_policy(**retention: Any) -> Policy:
    """The demo's ``daily`` policy with ``retention`` (default: keep_last 3, daily 7, weekly 4)."""
    rules = retention or {"keep_last": 3, "daily": 7, "weekly": 4}
    return Policy.model_validate(
        {
            "name": "daily",
            "selector": {"disk_tags": {"backup": "daily"}},
            "retention_days": None,
            "time_zone": "Asia/Shanghai",
            "retention": rules,
        }
    )


def prune(
    emu: EcsEmulator,
    policy: Policy,
    *,
    dry_run: str | None = None,
    now: datetime = FLEET_NOW,
    detail: bool = True,
) -> PruneReport:
    """One prune run of ``policy`` against ``emu`` (every decision kept in the report, by default)."""
    region = emu.state.region_id
    logger = get_logger()
    return prune_policy(
        ecs_for(emu), region, policy, stack=STACK, now=now, logger=logger, dry_run=dry_run, detail=detail
    )


def snapshot_ids(emu: EcsEmulator, disk_id: str | None = None) -> set[str]:
    """Ids of the snapshots the emulator holds (of one disk)."""
    return {s["snapshot_id"] for s in emu.state.snapshots(disk_id)}


@pytest.fixture
def run_function(
    emulator: EcsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Invoke a function of template.yml through the local runner, against ``emulator``."""
    monkeypatch.setenv("SNAPSTACK_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_DELAY", "0.05")
    stack = load_template(ROOT / "template.yml")
    creds = emulator.credentials
    target = Target(emulator.endpoint, creds.access_key_id, creds.access_key_secret)

    def run(function: str, event: dict[str, Any], config: dict[str, Any] | None = None) -> Result:
        if config is not None:
            monkeypatch.setenv("SNAPSTACK_CONFIG_JSON", json.dumps(config))
        return invoke(
            stack, function, json.dumps(event).encode(), target, token_table=f"sqlite:///{tmp_path}/t.db"
        )

    return run


def timer(payload: str | None, when: datetime = FLEET_NOW) -> dict[str, Any]:
    """A timer event at ``when`` with ``payload``."""
    return {"triggerTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "t", "payload": payload}


def metrics(out: str) -> dict[str, float]:
    """The EMF metric values printed in ``out`` (the last value of each name)."""
    values: dict[str, float] = {}
    for line in out.splitlines():
        if '"_aws"' in line:
            doc = json.loads(line)
            for definition in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = doc[definition["Name"]]
                values[definition["Name"]] = value[-1] if isinstance(value, list) else value
    return values
