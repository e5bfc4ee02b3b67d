"""Helpers for the emulator tests: SDK calls that return error codes, and raw signed requests.

Raw requests exist only for what the SDK cannot send (malformed or mis-signed requests); they
are signed with the SDK's own signer functions, then altered.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils import Utils
from darabonba.request import DaraRequest
from darabonba.runtime import RuntimeOptions

from devkit.emulator.responses import Credential

RUNTIME = RuntimeOptions()
REGION = "cn-hangzhou"


class HeldLatency:
    """The emulator's latency wait (``emu.app.sleep``): the first request is held until the test
    releases it, later ones pass at once.

    Records the delay each request asked for and signals ``entered`` when the first is in flight,
    so a test orders events (this request is being processed, that one was answered meanwhile)
    instead of timing them.
    """

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.entered = threading.Event()
        self._released = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        if len(self.asked) == 1:
            self.entered.set()
            assert self._released.wait(60), "the test never released the held request"

    def release(self) -> None:
        self._released.set()


class Clock:
    """A monotonic clock the test moves by hand (the emulator's rate-limit clock: ``emu.faults.clock``)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Start ``call`` on a thread; the dict gets ``result`` (or ``error``) when it returns."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except Exception as exc:  # handed to the test, which asserts on it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    """Run an SDK call that must fail; returns (code, HTTP status). 4xx and 5xx map to their classes."""
    with pytest.raises((ClientException, ServerException)) as info:
        call()
    exc = info.value
    expected = ClientException if exc.status_code < 500 else ServerException
    assert isinstance(exc, expected), f"{type(exc).__name__} for status {exc.status_code}"
    return str(exc.code), int(exc.status_code)


def create(client: Any, **kwargs: Any) -> str:
    """CreateSnapshot through the SDK; returns the SnapshotId."""
    response = client.create_snapshot_with_options(ecs.CreateSnapshotRequest(**kwargs), RUNTIME)
    snapshot_id: str = response.body.snapshot_id
    assert response.body.request_id
    return snapshot_id


def tags(*pairs: tuple[str, str]) -> list[ecs.CreateSnapshotRequestTag]:
    """CreateSnapshot tags from (key, value) pairs."""
    return [ecs.CreateSnapshotRequestTag(key=k, value=v) for k, v in pairs]


def now_stamp(offset: timedelta = timedelta()) -> str:
    """An ECS timestamp (UTC, seconds)."""
    return (datetime.now(timezone.utc) + offset).strftime("%Y-%m-%dT%H:%M:%SZ")


def v2_query(cred: Credential, action: str, params: Mapping[str, str], **common: str) -> dict[str, str]:
    """A V2-signed query, signed by tea-openapi's own ``get_rpcsignature``; ``common`` overrides."""
    query = {
        "Action": action,
        "Format": "json",
        "Version": "2014-05-26",
        "Timestamp": now_stamp(),
        "SignatureNonce": uuid.uuid4().hex,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": cred.access_key_id,
        **params,
        **common,
    }
    query["Signature"] = Utils.get_rpcsignature(query, "POST", cred.access_key_secret)
    return query


def v3_headers(
    cred: Credential, endpoint: str, action: str, query: Mapping[str, str], body: bytes = b""
) -> dict[str, str]:
    """V3 headers for a request, signed by tea-openapi's own ``get_authorization``."""
    import hashlib

    request = DaraRequest()
    request.method, request.pathname, request.query = "POST", "/", dict(query)
    request.headers = {
        "host": endpoint,
        "x-acs-version": "2014-05-26",
        "x-acs-action": action,
        "x-acs-date": now_stamp(),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "accept": "application/json",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    request.headers["Authorization"] = Utils.get_authorization(
        request,
        "ACS3-HMAC-SHA256",
        request.headers["x-acs-content-sha256"],
        cred.access_key_id,
        cred.access_key_secret,
    )
    return dict(request.headers)


def raw(
    endpoint: str, query: Mapping[str, str], headers: Mapping[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, Any]]:
    """POST / with this query, headers and body over http.client; returns (status, JSON body)."""
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/?" + urlencode(query), body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()
