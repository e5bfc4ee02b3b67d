"""No value from an event chooses where deploy_hook sends its credentials (issue #10 item 1).

A TCP listener on another loopback port stands for the attacker's host: it records every
connection. A hostile region, bucket or key must make zero connections to it, no ECS call, and
exactly one structured ERROR line naming the field and the rule.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from .conftest import ROOT, all_calls, oss_event


class Listener:
    """Accepts and counts connections on a loopback port, then hangs up."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self._thread.join(timeout=10)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def invoke_logged(run, event):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = run("deploy_hook", event)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip().startswith("{")]
    return result, [line for line in lines if line.get("level") == "ERROR"]


def manifest_event(**record):
    event = oss_event("releases/web/2026-11-27/manifest.json", "5D41402ABC4B2A76B9719D911017C592", 64)
    item = event["events"][0]
    for path, value in record.items():
        target = item
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return event


def assert_refused(result, errors, emulator, listener, field):
    assert result.error is None, result.error
    assert result.summary["ok"] is False and result.summary["error"]["field"] == field
    assert len(errors) == 1 and errors[0]["field"] == field and errors[0]["rule"]
    assert listener.connections == 0
    assert all_calls(emulator) == 0


@pytest.mark.parametrize("region", ["x@127.0.0.1:{port}/", "127.0.0.1:{port}/#", "cn-shanghai"])
def test_a_hostile_region_never_becomes_a_host(run, emulator, listener, monkeypatch, region):
    monkeypatch.delenv("SNAPSTACK_OSS_ENDPOINT", raising=False)  # the default: the function's own region
    event = manifest_event(region=region.format(port=listener.port))
    result, errors = invoke_logged(run, event)
    assert_refused(result, errors, emulator, listener, "region")


@pytest.mark.parametrize("bucket", ["someone-elses-bucket", "127.0.0.1:{port}", "x.attacker.example"])
def test_a_bucket_outside_the_allow_list_is_never_read(run, emulator, listener, monkeypatch, bucket):
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", f"http://127.0.0.1:{listener.port}")
    name = bucket.format(port=listener.port)
    event = manifest_event(**{"oss.bucket.name": name, "oss.bucket.arn": f"acs:oss:cn-hangzhou:1:{name}"})
    result, errors = invoke_logged(run, event)
    assert_refused(result, errors, emulator, listener, "oss.bucket.name")


def test_an_arn_that_names_another_bucket_is_refused(run, emulator, listener, monkeypatch):
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", f"http://127.0.0.1:{listener.port}")
    event = manifest_event(**{"oss.bucket.arn": "acs:oss:cn-hangzhou:1:other-bucket"})
    result, errors = invoke_logged(run, event)
    assert_refused(result, errors, emulator, listener, "oss.bucket.arn")


@pytest.mark.parametrize(
    "key",
    [
        "../../other-bucket/manifest.json",
        "releases/../../../manifest.json",
        "%2E%2E/%2E%2E/other-bucket/manifest.json",
        "/releases/manifest.json",
        "releases/web/\r\nHost: attacker.example/manifest.json",
        "releases//manifest.json",
    ],
)
def test_a_key_that_is_not_a_plain_object_key_is_never_read(run, emulator, listener, monkeypatch, key):
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", f"http://127.0.0.1:{listener.port}")
    result, errors = invoke_logged(run, manifest_event(**{"oss.object.key": key}))
    assert_refused(result, errors, emulator, listener, "oss.object.key")


def test_a_non_final_event_for_a_manifest_reads_nothing(run, emulator, listener, monkeypatch):
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", f"http://127.0.0.1:{listener.port}")
    result, errors = invoke_logged(run, manifest_event(eventName="ObjectCreated:InitiateMultipartUpload"))
    assert result.summary["ok"] and errors == []
    assert listener.connections == 0 and all_calls(emulator) == 0


def test_a_configured_endpoint_is_where_the_manifest_is_read(run, emulator, listener, monkeypatch):
    """The control: a trusted event does reach the configured endpoint (so the zeros above mean something)."""
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", f"http://127.0.0.1:{listener.port}")
    result = run("deploy_hook", manifest_event())
    assert listener.connections >= 1
    assert result.summary is None and "OSS." in result.error  # the listener hangs up: FC retries
    assert all_calls(emulator) == 0


def test_with_no_deploy_bucket_configured_every_oss_event_is_refused(
    run, emulator, listener, config_json, monkeypatch
):
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", f"http://127.0.0.1:{listener.port}")
    shipped = json.loads((ROOT / "functions" / "deploy_hook" / "snapstack.json").read_text())
    config_json({k: v for k, v in shipped.items() if k != "buckets"})
    result, errors = invoke_logged(run, manifest_event())
    assert_refused(result, errors, emulator, listener, "oss.bucket.name")
    assert "no deploy bucket" in result.summary["error"]["rule"]
