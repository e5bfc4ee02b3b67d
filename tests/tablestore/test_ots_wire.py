"""The emulator's wire protocol with raw HTTP: what the SDK never sends (or always checks itself).

Requests are signed here from the protocol's description, independently of the emulator's code,
so a shared mistake in signing would show up as a failure rather than cancel out.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
from typing import Any

import tablestore
import tablestore.protobuf.table_store_pb2 as pb
from tablestore.encoder import OTSProtoBufferEncoder

from devkit.tablestore.testing import RunningEmulator
from tests.tablestore.conftest import create_table


def now_date(delta: datetime.timedelta = datetime.timedelta()) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + delta
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def md5_of(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def signed(running: RunningEmulator, path: str, body: bytes, **overrides: str) -> dict[str, str]:
    """Headers of a SignV2 request; ``overrides`` replace headers before signing ("" drops one)."""
    emulator = running.emulator
    headers = {
        "x-ots-date": now_date(),
        "x-ots-apiversion": "2015-12-31",
        "x-ots-accesskeyid": emulator.access_key_id,
        "x-ots-instancename": emulator.instance,
        "x-ots-contentmd5": md5_of(body),
    }
    for name, value in overrides.items():
        headers[name.replace("_", "-")] = value
    headers = {name: value for name, value in headers.items() if value}
    canonical = "\n".join(sorted(f"{name}:{value}" for name, value in headers.items()))
    digest = hmac.new(
        emulator.access_key_secret.encode(), f"{path}\nPOST\n\n{canonical}\n".encode(), hashlib.sha1
    )
    headers["x-ots-signature"] = base64.b64encode(digest.digest()).decode()
    return headers


def post(
    running: RunningEmulator, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", running.emulator.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def error_of(body: bytes) -> tuple[str, str]:
    error = pb.Error()
    error.ParseFromString(body)
    return error.code, error.message


def list_table_body() -> bytes:
    body: bytes = pb.ListTableRequest().SerializeToString()
    return body


def test_a_well_formed_request_gets_a_signed_answer(running: RunningEmulator) -> None:
    body = list_table_body()
    status, headers, answer = post(running, "/ListTable", body, signed(running, "/ListTable", body))

    assert status == 200
    assert headers["x-ots-contentmd5"] == md5_of(answer)
    assert headers["x-ots-contenttype"] == "protocol buffer"
    assert headers["x-ots-requestid"]
    ots = "\n".join(sorted(f"{k}:{v}" for k, v in headers.items() if k.startswith("x-ots-")))
    key = running.emulator.access_key_secret.encode()
    signature = base64.b64encode(hmac.new(key, f"{ots}\n/ListTable".encode(), hashlib.sha1).digest()).decode()
    assert headers["authorization"] == f"OTS {running.emulator.access_key_id}:{signature}"


def test_only_post_is_allowed(running: RunningEmulator) -> None:
    status, _, answer = post(running, "/ListTable", b"", {}, method="GET")
    assert status == 405
    assert error_of(answer)[0] == "OTSMethodNotAllowed"


def test_an_unknown_operation_is_refused(running: RunningEmulator) -> None:
    body = list_table_body()
    status, _, answer = post(running, "/DropEverything", body, signed(running, "/DropEverything", body))
    assert (status, error_of(answer)) == (
        400,
        ("OTSParameterInvalid", "Unsupported operation: 'DropEverything'."),
    )


def test_a_missing_header_is_named(running: RunningEmulator) -> None:
    body = list_table_body()
    headers = signed(running, "/ListTable", body, x_ots_date="")
    status, _, answer = post(running, "/ListTable", body, headers)
    assert (status, error_of(answer)) == (400, ("OTSParameterInvalid", "Missing header: x-ots-date."))


def test_a_malformed_date_is_refused(running: RunningEmulator) -> None:
    body = list_table_body()
    headers = signed(running, "/ListTable", body, x_ots_date="yesterday")
    status, _, answer = post(running, "/ListTable", body, headers)
    assert (status, error_of(answer)) == (400, ("OTSParameterInvalid", "Invalid date format: yesterday."))


def test_a_stale_date_fails_authentication(running: RunningEmulator) -> None:
    body = list_table_body()
    stale = now_date(-datetime.timedelta(minutes=16))
    status, headers, answer = post(
        running, "/ListTable", body, signed(running, "/ListTable", body, x_ots_date=stale)
    )
    assert status == 403
    assert error_of(answer) == ("OTSAuthFailed", f"Mismatch between system time and x-ots-date: {stale}.")
    assert "authorization" not in headers  # nothing is signed for a caller that did not authenticate


def test_a_tampered_signature_fails(running: RunningEmulator) -> None:
    body = list_table_body()
    headers = signed(running, "/ListTable", body)
    headers["x-ots-signature"] = base64.b64encode(b"\0" * 20).decode()
    status, _, answer = post(running, "/ListTable", body, headers)
    assert (status, error_of(answer)) == (403, ("OTSAuthFailed", "Signature mismatch."))


def test_a_body_that_does_not_match_its_md5_fails(running: RunningEmulator) -> None:
    body = list_table_body()
    headers = signed(running, "/ListTable", body, x_ots_contentmd5=md5_of(b"something else"))
    status, _, answer = post(running, "/ListTable", body, headers)
    assert status == 403
    assert error_of(answer) == (
        "OTSAuthFailed",
        "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.",
    )


def test_a_body_that_is_not_protobuf_is_refused(running: RunningEmulator) -> None:
    body = b"\xff\xff\xff not protobuf"
    status, _, answer = post(running, "/PutRow", body, signed(running, "/PutRow", body))
    assert status == 400 and error_of(answer)[0] == "OTSParameterInvalid"


def test_a_row_with_a_bad_checksum_is_refused(running: RunningEmulator, client: Any) -> None:
    create_table(client)
    encoder = OTSProtoBufferEncoder("utf8")
    row = tablestore.Row([("pk", "a")], [("c", "value")])
    request = encoder.encode_request("PutRow", "t", row, None, None, None)
    request.row = request.row[:-1] + bytes([request.row[-1] ^ 0xFF])  # the row checksum byte
    body = request.SerializeToString()

    status, _, answer = post(running, "/PutRow", body, signed(running, "/PutRow", body))
    assert status == 400 and error_of(answer)[0] == "OTSParameterInvalid"
    assert client.get_row("t", [("pk", "a")], max_version=1)[1] is None


def test_an_oversized_body_is_refused_unread(running: RunningEmulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", running.emulator.port, timeout=5)
    try:
        connection.putrequest("POST", "/PutRow")
        connection.putheader("Content-Length", str(6 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert error_of(response.read())[0] == "OTSRequestBodyTooLarge"
    finally:
        connection.close()
