"""End to end: template.yml's functions through the local runner, the official SDK and the emulator.

Each test gets a fresh ECS emulator (sample fleet) and its own SQLite token table; OSS is
moto's S3-compatible server, read by the function through oss2.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result, Target, invoke
from devkit.local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@pytest.fixture(scope="session")
def stack() -> Template:
    return load_template(ROOT / "template.yml")


@pytest.fixture
def emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator() as emu:
        yield emu


def target_of(emu: EcsEmulator) -> Target:
    creds = emu.credentials
    return Target(emu.endpoint, creds.access_key_id, creds.access_key_secret, creds.security_token)


def all_calls(emu: EcsEmulator) -> int:
    """Requests of any action the emulator received."""
    return sum(entry["total"] for entry in emu.counters.to_dict().values())


def ours(emu: EcsEmulator) -> list[dict[str, Any]]:
    """Snapshots snapstack made (they carry the provenance tags)."""
    return [s for s in emu.state.snapshots() if "snapstack:slot" in _tags(s)]


def _tags(snapshot: dict[str, Any]) -> dict[str, str]:
    tags = snapshot.get("tags") or {}
    return tags if isinstance(tags, dict) else {t["key"]: t["value"] for t in tags}


@dataclass
class Runner:
    stack: Template
    emulator: EcsEmulator
    token_table: str

    def __call__(self, function: str, event: bytes | str | dict[str, Any], **kwargs: Any) -> Result:
        if isinstance(event, dict):
            event = json.dumps(event)
        if isinstance(event, str):
            event = event.encode()
        return invoke(
            self.stack, function, event, target_of(self.emulator), token_table=self.token_table, **kwargs
        )


@pytest.fixture
def run(stack: Template, emulator: EcsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    # Real backoff arithmetic, shorter waits: the retry loop itself is tested in tests/ecs.
    monkeypatch.setenv("SNAPSTACK_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_DELAY", "0.05")
    return Runner(stack, emulator, f"sqlite:///{tmp_path}/tokens.db")


def deliver_at_once(run: Runner, function: str, event: Any, times: int) -> list[Result]:
    """``times`` deliveries of ``event`` released together; every one must return a result.

    A delivery that raises outside the handler (in the runner, or in the test's own code) fails
    the test here instead of dying quietly on its thread.
    """
    barrier = threading.Barrier(times)

    def deliver() -> Result:
        barrier.wait(timeout=60)
        return run(function, event)

    with ThreadPoolExecutor(max_workers=times) as pool:
        futures = [pool.submit(deliver) for _ in range(times)]
        results = [future.result(timeout=300) for future in futures]
    assert len(results) == times
    return results


def timer_event(when: str = "2026-11-27T20:00:00Z", policy: str | None = "daily") -> dict[str, Any]:
    payload = None if policy is None else json.dumps({"policy": policy})
    return {"triggerTime": when, "triggerName": "daily-backup", "payload": payload}


@pytest.fixture
def config_json(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], None]:
    """Replace the function's shipped configuration for one test."""

    def use(config: dict[str, Any]) -> None:
        monkeypatch.setenv("SNAPSTACK_CONFIG_JSON", json.dumps(config))

    return use


BUCKET = "snapstack-deploys"


@dataclass
class Oss:
    """moto's S3-compatible server as the deploy bucket, and OSS events for objects put there."""

    endpoint: str

    def bucket(self) -> Any:
        import oss2

        return oss2.Bucket(oss2.Auth("AKIDoss", "oss-secret"), self.endpoint, BUCKET, is_path_style=True)

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        """Store ``body`` and return the OSS event FC would deliver for it."""
        etag = self.bucket().put_object(key, body).etag
        return oss_event(key, etag.upper(), len(body))


def oss_event(key: str, etag: str, size: int) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "oss_put_object.json").read_text())
    obj = event["events"][0]["oss"]["object"]
    obj.update({"key": key, "eTag": etag, "size": size, "deltaSize": size})
    return event


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from devkit.local.oss import moto_s3

    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def oss(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Oss:
    # No SNAPSTACK_OSS_PATH_STYLE: an IP endpoint is path-style in every oss2, as in FC's 2.16.0.
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", moto_endpoint)
    store = Oss(moto_endpoint)
    # Every test starts from an empty deploy bucket: moto's control API forgets every object.
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    store.bucket().create_bucket()
    return store
