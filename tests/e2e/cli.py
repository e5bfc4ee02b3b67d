"""Run the ``snapstack`` command as a user does: a subprocess, in a checkout, output captured.

``workspace`` is a fresh folder that looks like the repository root (symlinks to the venv,
events/, template.yml, functions/ and layers/) so relative paths in commands work as written
while the local token table (``.snapstack/``) starts empty for each test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devkit.emulator.testing import EcsEmulator

ROOT = Path(__file__).resolve().parents[2]
SNAPSTACK = Path(sys.executable).parent / "snapstack"
LINKED = (".venv", "events", "template.yml", "functions", "layers")

# What varies from run to run, and what it reads as once normalised.
VARYING = (
    (re.compile(r"\bs-[0-9a-z]{20}\b"), "s-<snapshot>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"(/[^\s/]+)*/tmp[0-9a-z_]{8}\b"), "<tmpdir>"),
)


def endpoint_args(emulator: EcsEmulator, *, secret: str | None = None) -> list[str]:
    """``--endpoint`` and the credentials of a running emulator (``secret`` overrides its secret)."""
    creds = emulator.credentials
    key_secret = creds.access_key_secret if secret is None else secret
    return [
        "--endpoint",
        emulator.endpoint,
        "--access-key-id",
        creds.access_key_id,
        "--access-key-secret",
        key_secret,
    ]


def make_workspace(path: Path) -> Path:
    """``path`` laid out like the repository root (symlinks); returns it."""
    path.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        target = ROOT / name
        if target.exists():
            (path / name).symlink_to(target)
    return path


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without cloud credentials or snapstack settings, plus ``extra``."""
    # MAKE*: a make run from these tests must not think it is a sub-make of `make test`.
    dropped = ("ALIBABA_CLOUD_ACCESS_KEY", "ALIBABA_CLOUD_SECURITY_TOKEN", "SNAPSTACK_", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update({"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true"})
    env.update(extra)
    return env


def snapstack(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``snapstack ARGS`` in ``cwd``; stdout, stderr and the exit code."""
    return subprocess.run(
        [str(SNAPSTACK), *args],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def normalise(text: str) -> str:
    """``text`` with the varying parts (snapshot ids, ports, temporary folders) replaced."""
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text


def parse_json(stdout: str) -> Any:
    """stdout as one JSON document, checked by Python's parser and, as a user would, by jq."""
    value = json.loads(stdout)
    jq = shutil.which("jq")
    assert jq is not None, "jq is missing: `make test` installs it (Makefile, system-deps)"
    piped = subprocess.run([jq, "-c", "."], input=stdout, capture_output=True, text=True, check=True)
    assert json.loads(piped.stdout) == value
    return value


def one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The single stderr line of a refused command: no traceback, nothing on stdout."""
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"snapstack {command}: "), lines[0]
    return lines[0]
