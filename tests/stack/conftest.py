"""The built function zips, FC's python3.10 image as a clean environment, and the servers they talk to.

``artifacts`` builds ``dist``-style zips once per session with ``devkit.package`` (the same build
``make package`` runs); ``fc`` runs one invocation of an unzipped function in the image environment
(``make fc-image-env``: a python3.10 venv holding exactly FC's preinstalled modules), as a child
process with the function's directory as FC's code directory.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.template import load_template
from devkit.package import Artifact, build
from devkit.tablestore.testing import RunningEmulator, start_emulator
from tests.e2e.conftest import Oss, moto_endpoint  # noqa: F401 - the fixture, shared

ROOT = Path(__file__).resolve().parents[2]
#: The function names template.yml deploys (every packaged artifact is one of them).
FUNCTIONS = frozenset(spec.name for spec in load_template(ROOT / "template.yml").functions.values())
FC_PYTHON = ROOT / ".snapstack" / "fc-python310" / "bin" / "python"
CHILD = Path(__file__).with_name("fc_child.py")
REGION = "cn-hangzhou"
TOKEN_TABLE = "tokens"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Artifact]:
    out = tmp_path_factory.mktemp("dist")
    return {a.function: a for a in build(out)}


@pytest.fixture(scope="session")
def code_dirs(artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each zip unpacked, as FC unpacks it into /code."""
    root = tmp_path_factory.mktemp("code")
    dirs = {}
    for name, artifact in artifacts.items():
        with zipfile.ZipFile(artifact.path) as zf:
            zf.extractall(root / name)
        dirs[name] = root / name
    return dirs


@pytest.fixture(scope="session")
def fc_python() -> Path:
    if not FC_PYTHON.is_file():
        pytest.fail(f"{FC_PYTHON} is missing: `make fc-image-env` builds FC's python3.10 image environment")
    return FC_PYTHON


@pytest.fixture
def ecs() -> Iterator[EcsEmulator]:
    with EcsEmulator() as emu:
        yield emu


@pytest.fixture
def tablestore(ecs: EcsEmulator) -> Iterator[RunningEmulator]:
    """The local Tablestore, signing in with the same STS credentials FC gives the functions."""
    creds = ecs.sts_credentials
    with start_emulator(
        access_key_id=creds.access_key_id,
        access_key_secret=creds.access_key_secret,
        security_token=creds.security_token,
    ) as running:
        running.table_url(TOKEN_TABLE)  # the stack creates the table; here the test does
        yield running


@pytest.fixture
def oss_bucket(moto_endpoint: str) -> Oss:  # noqa: F811 - the shared fixture by name
    store = Oss(moto_endpoint)
    store.bucket().create_bucket()
    return store


@dataclass
class FcRun:
    """One invocation's outcome, and which copy of each module the function imported."""

    summary: dict[str, Any] | None
    error: str | None
    incomplete: bool
    modules: dict[str, tuple[str | None, str | None]]
    output: str


@dataclass
class FcImage:
    """Invoke an unzipped function in FC's image environment against the given servers."""

    python: Path
    code_dirs: dict[str, Path]
    ecs: EcsEmulator
    token_table: str
    extra_env: dict[str, str]

    def invoke(self, function: str, event: bytes) -> FcRun:
        creds = self.ecs.sts_credentials
        code = self.code_dirs[function]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(code),  # FC's code directory, ahead of the image's site-packages
            "PYTHONDONTWRITEBYTECODE": "1",  # /code is read-only on FC
            "FC_REGION": REGION,
            "FC_FUNCTION_NAME": function,
            "SNAPSTACK_ECS_ENDPOINT": self.ecs.endpoint,
            "SNAPSTACK_ECS_PROTOCOL": "http",
            "SNAPSTACK_TOKEN_TABLE": self.token_table,
            "SNAPSTACK_RETRY_BASE_DELAY": "0.01",
            "SNAPSTACK_RETRY_MAX_DELAY": "0.05",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": creds.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds.access_key_secret,
            "ALIBABA_CLOUD_SECURITY_TOKEN": creds.security_token or "",
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            **self.extra_env,
        }
        request = {
            "handler": "index.handler",
            "event": base64.b64encode(event).decode(),
            "context": {
                "request_id": str(uuid.uuid4()),
                "function": function,
                "handler": "index.handler",
                "service": "snapstack",
                "region": REGION,
                "credentials": {
                    "access_key_id": creds.access_key_id,
                    "access_key_secret": creds.access_key_secret,
                    "security_token": creds.security_token,
                },
            },
        }
        done = subprocess.run(
            [str(self.python), str(CHILD)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=code,
            env=env,
            timeout=240,
            check=False,
        )
        result_lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        output = done.stdout + done.stderr
        assert result_lines, f"no result (exit {done.returncode}):\n{output[-6000:]}"
        answer = json.loads(result_lines[-1][len("RESULT ") :])
        return FcRun(answer["summary"], answer["error"], answer["incomplete"], answer["modules"], output)


@pytest.fixture
def fc(fc_python: Path, code_dirs: dict[str, Path], ecs: EcsEmulator, tablestore: RunningEmulator) -> FcImage:
    """FC's image with the production-default token table: Tablestore."""
    return FcImage(fc_python, code_dirs, ecs, tablestore.url(TOKEN_TABLE), {})
