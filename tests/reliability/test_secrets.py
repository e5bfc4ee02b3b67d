"""Secrets: no log line, metric, summary or traceback carries the credentials the function runs with.

The emulator accepts one STS triple with distinctive values; the FC context hands it to the
function, as FC does with the service role's credentials. Every sample event runs through its
function (the deploy manifests through oss2 and moto), then failing runs (refused and throttled
snapshots, a failing DescribeDisks, a wrong secret, a wrong token, an unknown key, an endpoint
that does not answer) and bad input. Everything written to stdout/stderr (JSON logs, EMF metrics,
the servers' own request logs) is captured at the file-descriptor level and searched, together
with the returned summaries and any traceback.

The AccessKey secret and the security token must never appear, whole or in part. The AccessKey
*id* is not a secret (it is sent in clear in every signed request and listed in the RAM console);
we still never write it ourselves, so it must not appear either, with one exception: when ECS
refuses an unknown key, its error message names the key it did not find, and the function
reports ECS's message as it is. That scenario allows the id only inside that error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.responses import Credential
from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Result, Target, invoke
from devkit.local.template import Template
from devkit.redis_server import free_port
from snapstack.ecs.errors import ERRORS, SEED_CODES, Disposition
from tests.e2e.conftest import Oss
from tests.reliability.support import EVENTS

KEY_ID = "STS.RelKeyId4Qx7Wm2Zp9"
SECRET = "RelSecret-8hTq3Lk5Vb1Nc7Xz0Pw6"
TOKEN = "RelStsToken-Jm2Fd9Gs4Kr7Yt1Uq8Ei3Ow5"
WRONG_SECRET = "RelWrongSecret-3Vz8Qa1Lm6"
WRONG_TOKEN = "RelWrongToken-7Bn2Xc5Dk9"
UNKNOWN_KEY = "STS.RelUnknownKey6Hj3"
SECRETS = (SECRET, TOKEN, WRONG_SECRET, WRONG_TOKEN)
SAMPLES = sorted(p for p in EVENTS.iterdir() if p.is_file() and p.name != "README.md")
FAIL_CODE = next(c for c in sorted(SEED_CODES) if ERRORS[c].disposition is Disposition.FAIL)


def function_for(name: str) -> str:
    if name.startswith("timer"):
        return "scheduled_backup"
    return "deploy_hook" if name.startswith("oss_") else "alarm_snapshot"


def fragments(value: str) -> list[str]:
    """The value and its 10-character pieces: a truncated or partly masked copy still counts."""
    return [value, *(value[i : i + 10] for i in range(0, len(value) - 9, 5))]


@pytest.fixture
def emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator(credentials=[Credential(KEY_ID, SECRET, TOKEN)]) as emu:
        yield emu


@pytest.fixture
def call(stack: Template, emulator: EcsEmulator, sqlite_url: str) -> Callable[..., Result]:
    def run(function: str, event: bytes, **target: Any) -> Result:
        settings = {"endpoint": emulator.endpoint, "key": KEY_ID, "secret": SECRET, "token": TOKEN} | target
        where = Target(settings["endpoint"], settings["key"], settings["secret"], settings["token"])
        return invoke(stack, function, event, where, token_table=sqlite_url)

    return run


def sample_event(path: Path, oss: Oss) -> bytes:
    event = path.read_bytes()
    if path.name.startswith("oss_"):  # the manifest the event points at, stored for real
        data = json.loads(event)
        obj = data["events"][0]["oss"]["object"]
        stored = oss.put(obj["key"], b'{"instance_ids": ["i-web-01"], "reason": "sample deploy"}')
        obj.update(stored["events"][0]["oss"]["object"])
        event = json.dumps(data).encode()
    return event


def scenario(name: str, emu: EcsEmulator, oss: Oss, call: Callable[..., Result]) -> list[Result]:
    timer = (EVENTS / "timer.json").read_bytes()
    if name.startswith("sample:"):
        path = EVENTS / name.removeprefix("sample:")
        return [call(function_for(path.name), sample_event(path, oss))]
    if name == "snapshots refused and throttled":
        emu.faults.configure(
            {"apis": {"CreateSnapshot": {"errors": [{"code": FAIL_CODE, "times": 2}], "throttling": 1.0}}}
        )
        return [call("scheduled_backup", timer)]
    if name == "describe fails":
        emu.faults.configure({"apis": {"DescribeDisks": {"internal_error": 1.0}}})
        return [call("scheduled_backup", timer)]
    if name == "wrong secret":
        return [call("scheduled_backup", timer, secret=WRONG_SECRET)]
    if name == "wrong token":
        return [call("scheduled_backup", timer, token=WRONG_TOKEN)]
    if name == "unknown key":
        return [call("scheduled_backup", timer, key=UNKNOWN_KEY)]
    if name == "endpoint down":
        return [call("scheduled_backup", timer, endpoint=f"127.0.0.1:{free_port()}")]
    assert name == "bad input"
    events = [b"", b"\xff\xfe", b'{"triggerTime": "soon"}', b'{"events": []}', b'{"alertState": "x"}']
    return [call(f, e) for f in ("scheduled_backup", "deploy_hook", "alarm_snapshot") for e in events]


SCENARIOS = [
    *(f"sample:{p.name}" for p in SAMPLES),
    "snapshots refused and throttled",
    "describe fails",
    "wrong secret",
    "wrong token",
    "unknown key",
    "endpoint down",
    "bad input",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_credentials_never_leak(
    name: str, emulator: EcsEmulator, oss: Oss, call: Callable[..., Result], capfd: pytest.CaptureFixture[str]
) -> None:
    results = scenario(name, emulator, oss, call)
    captured = capfd.readouterr()
    returned = [json.dumps(r.summary) for r in results] + [r.error or "" for r in results]
    text = "\n".join([captured.out, captured.err, *returned])

    # The scenario really ran: logs were written, and it ended the way it was meant to.
    assert '"level":' in captured.out
    if name.startswith("sample:"):
        assert all(r.error is None and r.summary is not None for r in results)
    elif name == "snapshots refused and throttled":
        (result,) = results
        assert result.incomplete and result.summary is not None
        assert result.summary["failed"] >= 1 and result.summary["deferred"] >= 1
        assert '"_aws"' in captured.out  # the EMF metrics were printed and searched too
    elif name == "bad input":
        assert all(r.summary is not None and r.summary["ok"] is False for r in results)
    else:  # no disk could be decided: the invocation raises for FC to retry, with a traceback
        (result,) = results
        assert result.error is not None

    for secret in SECRETS:
        leaked = [piece for piece in fragments(secret) if piece in text]
        assert not leaked, f"{name}: {leaked[0]!r} (part of a secret or token) was written out"
    if name == "unknown key":
        # ECS names the key it did not find; the function passes ECS's message on. Only there.
        assert "InvalidAccessKeyId.NotFound" in text
        lines = [line for line in text.splitlines() if UNKNOWN_KEY in line]
        assert lines and all(f"access key is not found. ({UNKNOWN_KEY})" in line for line in lines)
    else:
        assert KEY_ID not in text, f"{name}: the AccessKey id was written out"
        assert UNKNOWN_KEY not in text
