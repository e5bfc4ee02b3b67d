"""The README's CI example ("Snapshot on deploy from CI") runs as shown against the local FC endpoint.

``snapstack local start-fc`` runs as its own process (any free port, a private token table); the
CI step is the README's ``sh`` block, verbatim, run by bash with the variables the README says the
job sets and a ``deploy`` function standing in for the job's deploy step. Its output must be the
README's, apart from the endpoint and the request id.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devkit import exitcodes
from tests.hook.conftest import ROOT, SNAPSTACK

SECTION = "## Snapshot on deploy from CI"


def readme_blocks() -> tuple[str, str]:
    """The section's CI step (its ``sh`` block) and the output it says the step prints."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    step = next(body for lang, body in blocks if lang == "sh")
    printed = section[section.index("prints (ids vary):") :]
    output = re.search(r"```\n(.*?)```", printed, flags=re.S)
    assert output is not None
    return step, output[1]


@dataclass
class Endpoint:
    """A ``snapstack local start-fc`` process and what it printed."""

    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSTACK_")}
    argv = [str(SNAPSTACK), "local", "start-fc", "--port", "0", "--retry-delay", "0"]
    argv += ["--token-table", f"sqlite:///{tmp_path}/tokens.db"]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.match(r"FC endpoint on (http://\S+)", first)
    assert match, first + (proc.stdout.read() if proc.poll() is not None else "")
    running = Endpoint(proc, match[1], [first])
    # Keep draining: the functions log to this pipe, and a full pipe would stall them.
    drain = threading.Thread(target=lambda: running.lines.extend(proc.stdout or []), daemon=True)
    drain.start()
    yield running
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    drain.join(timeout=10)


def test_readme_ci_step_runs_as_shown(endpoint: Endpoint, tmp_path: Path) -> None:
    step, expected = readme_blocks()
    banner = "".join(endpoint.lines)
    key_id = re.search(r"access key id\s+(\S+)", banner)
    secret = re.search(r"access key secret\s+(\S+)", banner)
    assert key_id and secret
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "SNAPSTACK_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        SNAPSTACK_FC_ENDPOINT=endpoint.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID=key_id[1],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=secret[1],
        ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
        RELEASE="1.4.2",
    )
    script = 'deploy() { echo "deployed $1"; }\n' + step

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=180, check=False
        )

    first = run()
    assert first.returncode == exitcodes.OK, first.stdout + first.stderr
    *printed, deployed = first.stdout.splitlines()
    assert deployed == "deployed 1.4.2"
    assert normalise(printed) == normalise(expected.splitlines())
    again = run()  # a re-run of the job: nothing new is submitted, the deploy still goes ahead
    assert again.returncode == exitcodes.OK, again.stdout + again.stderr
    assert any(line.startswith("already submitted: FC has invocation") for line in again.stdout.splitlines())
    assert again.stdout.splitlines()[-1] == "deployed 1.4.2"


def normalise(lines: list[str]) -> list[str]:
    """The lines with what varies from run to run (endpoint, request id, snapshot ids) replaced.

    Snapshot ids vary (the README says so): the emulator numbers them in the order the creates
    arrive, and the two disks' creates run concurrently.
    """
    at_endpoint = [re.sub(r" at \S+$", " at <endpoint>", line) for line in lines]
    ids = [re.sub(r"\bs-[0-9a-z]{20}\b", "s-<id>", line) for line in at_endpoint]
    return [re.sub(r"request id [0-9a-f-]{36}", "request id <id>", line) for line in ids]
