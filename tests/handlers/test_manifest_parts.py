"""handlers/manifest.py piece by piece: how the OSS client addresses and signs (seen on the wire,
through a recording HTTP proxy), and read_manifest's limits and answers against moto's S3 server.
Quick on purpose: ``make mutation`` runs these first for the manifest reader's mutants."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import oss2
import pytest

from devkit.local.oss import moto_s3
from snapstack.config import ManifestSettings, OssEndpoint
from snapstack.events.decode import decode_event
from snapstack.handlers.manifest import open_bucket, read_manifest
from snapstack.handlers.runtime import BadInput, DependencyUnavailable
from tests.e2e.conftest import BUCKET, oss_event

SETTINGS = ManifestSettings(max_bytes=64, missing_grace_seconds=900)
BODY = b'{"disk_ids": ["d-web-01-data"]}'


def runtime(token: str | None = None) -> Any:
    """What the manifest reader reads of a Runtime: the FC context's credentials."""
    creds = SimpleNamespace(access_key_id="AKIDoss", access_key_secret="oss-secret", security_token=token)
    return SimpleNamespace(invocation=SimpleNamespace(context=SimpleNamespace(credentials=creds)))


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = b"<Error><Code>NoSuchKey</Code><Message>none</Message><RequestId>r</RequestId></Error>"
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """A loopback HTTP proxy that records each request's URL and headers and answers NoSuchKey."""
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("NO_PROXY", "")
    yield _Recorder.seen
    server.shutdown()
    server.server_close()


def fetched(endpoint: OssEndpoint, token: str | None = None) -> tuple[str, dict[str, str]]:
    bucket = open_bucket(endpoint, "deploys", runtime(token))
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("m.json")
    (request,) = _Recorder.seen
    return request


def test_a_bucket_is_addressed_by_host_unless_path_style_is_configured(proxy):
    url, _ = fetched(OssEndpoint("http://oss-cn-hangzhou.example", path_style=False))
    assert url == "http://deploys.oss-cn-hangzhou.example/m.json"
    proxy.clear()
    url, _ = fetched(OssEndpoint("http://oss-cn-hangzhou.example", path_style=True))
    assert url == "http://oss-cn-hangzhou.example/deploys/m.json"


def test_sts_credentials_send_their_token(proxy):
    _, headers = fetched(OssEndpoint("http://oss.example", path_style=False), token="sts-token")
    assert headers["x-oss-security-token"] == "sts-token"
    assert headers["authorization"].startswith("OSS AKIDoss:")
    proxy.clear()
    _, headers = fetched(OssEndpoint("http://oss.example", path_style=False))
    assert "x-oss-security-token" not in headers and headers["authorization"].startswith("OSS AKIDoss:")


# --- read_manifest against moto's S3 server ---------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[OssEndpoint, Any]]:
    with moto_s3() as url:
        bucket = oss2.Bucket(oss2.Auth("AKIDoss", "oss-secret"), url, BUCKET)
        bucket.create_bucket()
        yield OssEndpoint(url, path_style=False), bucket


def record(key: str, etag: str, size: int, *, age: timedelta = timedelta(0)) -> Any:
    event = oss_event(key, etag, size)
    event["events"][0]["eventTime"] = (datetime.now(timezone.utc) - age).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    (found,) = decode_event(json.dumps(event).encode(), expect="deploy").records
    return found


def put(moto: tuple[OssEndpoint, Any], key: str, body: bytes) -> str:
    return str(moto[1].put_object(key, body).etag)


def read(moto: tuple[OssEndpoint, Any], rec: Any) -> Any:
    return read_manifest(rec, SETTINGS, moto[0], runtime())


def refusal(moto: tuple[OssEndpoint, Any], rec: Any) -> tuple[str, str]:
    with pytest.raises(BadInput) as caught:
        read(moto, rec)
    return caught.value.field, caught.value.rule


def test_a_manifest_of_the_events_etag_is_read_whatever_its_quotes_and_case(moto):
    etag = put(moto, "a/manifest.json", BODY)
    for given in (etag.lower(), etag.upper(), f'"{etag}"'):
        found = read(moto, record("a/manifest.json", given, len(BODY)))
        assert (found.key, found.manifest.disk_ids) == ("a/manifest.json", ("d-web-01-data",))


def test_a_found_manifest_is_immutable(moto):
    etag = put(moto, "g/manifest.json", BODY)
    found = read(moto, record("g/manifest.json", etag, len(BODY)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.key = "elsewhere"


def test_a_manifest_overwritten_since_the_event_is_left_to_the_newer_event(moto):
    put(moto, "b/manifest.json", BODY)
    for other in ("0" * 32, "F" * 32):  # sorting before or after the object's own
        assert read(moto, record("b/manifest.json", other, len(BODY))) is None


def test_the_size_limit_holds_for_the_event_and_for_the_bytes_read(moto):
    body = BODY + b" " * (SETTINGS.max_bytes - len(BODY))
    etag = put(moto, "c/manifest.json", body)
    assert read(moto, record("c/manifest.json", etag, SETTINGS.max_bytes)).manifest.disk_ids
    assert refusal(moto, record("c/manifest.json", etag, SETTINGS.max_bytes + 1)) == (
        "size",
        f"{SETTINGS.max_bytes + 1} bytes is over the {SETTINGS.max_bytes}-byte limit",
    )
    bigger = body + b" "  # one byte more than the limit, while the event claims a small object
    etag = put(moto, "d/manifest.json", bigger)
    assert refusal(moto, record("d/manifest.json", etag, 10)) == (
        "size",
        f"over the {SETTINGS.max_bytes}-byte limit",
    )


def test_a_missing_manifest_is_awaited_within_the_grace_then_reported(moto):
    with pytest.raises(DependencyUnavailable) as caught:
        read(moto, record("e/manifest.json", "A" * 32, 10))
    assert caught.value.code == "OSS.NoSuchKey"
    assert "not readable yet under 'e/manifest.json'; FC will deliver the event again" in str(caught.value)
    field, rule = refusal(moto, record("e/manifest.json", "A" * 32, 10, age=timedelta(hours=1)))
    assert field == "key" and rule.startswith("no object under the key(s) tried: 'e/manifest.json' (36")


def test_an_oss_failure_other_than_a_missing_key_is_a_dependency_failure(moto):
    endpoint, _ = moto
    rec = record("f/manifest.json", "A" * 32, 10)
    with pytest.raises(DependencyUnavailable) as caught:
        read_manifest(rec.model_copy(update={"bucket_name": "no-such-bucket"}), SETTINGS, endpoint, runtime())
    assert (caught.value.code, caught.value.message) == (
        "OSS.NoSuchBucket",
        "manifest oss://no-such-bucket/f/manifest.json: The specified bucket does not exist",
    )
    closed = OssEndpoint("http://127.0.0.1:1", path_style=False)  # nothing listens: no answer at all
    with pytest.raises(DependencyUnavailable) as caught:
        read_manifest(rec, SETTINGS, closed, runtime())
    assert (caught.value.code, caught.value.message) == (
        "OSS.RequestError",
        f"manifest oss://{BUCKET}/f/manifest.json: RequestError",
    )


def test_the_key_candidate_that_carries_the_events_etag_is_the_one_read(moto):
    put(moto, "h/a b/manifest.json", b'{"disk_ids": ["d-other"]}')  # the form-decoded reading
    etag = put(moto, "h/a+b/manifest.json", BODY)  # the key as delivered
    found = read(moto, record("h/a+b/manifest.json", etag, len(BODY)))
    assert (found.key, found.manifest.disk_ids) == ("h/a+b/manifest.json", ("d-web-01-data",))
