"""The local FC endpoint and ``snapstack hook`` as a CI job runs it: a real process, real sockets.

- ``test_fc``: the endpoint serving the test functions of ``fixtures/template.yml`` (no ECS);
- ``stack_fc``: the endpoint serving template.yml's functions against a fresh ECS emulator (sample
  fleet) and a fresh SQLite token table;
- ``hook``: runs the installed ``snapstack`` console script (``snapstack hook ...``) with the
  endpoint's key pair in the ``ALIBABA_CLOUD_*`` variables, and returns its exit code and output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.fc.execution import RunSettings
from devkit.fc.testing import LocalFc
from devkit.local.runner import Target

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SNAPSTACK = Path(sys.executable).parent / "snapstack"
#: No ECS behind the test functions: they never call it.
NO_ECS = Target("127.0.0.1:9", "unused", "unused")


@dataclass(frozen=True)
class Ran:
    """A finished ``snapstack`` process."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as JSON (``--json`` runs)."""
        return json.loads(self.stdout)


def run_snapstack(args: list[str], env: Mapping[str, str], *, cwd: Path = ROOT, timeout: float = 120) -> Ran:
    """Run the console script to completion."""
    done = subprocess.run(
        [str(SNAPSTACK), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def caller_env(access_key_id: str, secret: str, token: str | None = None) -> dict[str, str]:
    """The process environment of a CI job that signs with this key (and nothing else of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "SNAPSTACK_"))}
    env.update(
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
        ALIBABA_CLOUD_CLI_PROFILE_DISABLED="true",
        ALIBABA_CLOUD_ACCESS_KEY_ID=access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret,
    )
    if token:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = token
    return env


class Hook:
    """``snapstack hook`` against one endpoint, signed with its default key pair."""

    def __init__(self, fc: LocalFc) -> None:
        self.fc = fc
        self.env = caller_env(fc.credentials.access_key_id, fc.credentials.access_key_secret)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None, service: str | None = None) -> Ran:
        base = ["hook", "--endpoint", self.fc.url, "--service", service or self.fc.service]
        return run_snapstack([*base, *args], self.env if env is None else env)


@pytest.fixture
def test_fc() -> Iterator[LocalFc]:
    with LocalFc(FIXTURES / "template.yml", NO_ECS, RunSettings(max_async_retries=0)) as fc:
        yield fc


@pytest.fixture
def emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator() as emu:
        yield emu


@pytest.fixture
def stack_fc(emulator: EcsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalFc]:
    # Real backoff arithmetic, shorter waits (as tests/e2e does).
    monkeypatch.setenv("SNAPSTACK_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_DELAY", "0.05")
    creds = emulator.credentials
    target = Target(emulator.endpoint, creds.access_key_id, creds.access_key_secret, creds.security_token)
    with LocalFc(
        ROOT / "template.yml", target, RunSettings(f"sqlite:///{tmp_path}/tokens.db", retry_delay=0)
    ) as fc:
        yield fc


@pytest.fixture
def hook(test_fc: LocalFc) -> Hook:
    return Hook(test_fc)
