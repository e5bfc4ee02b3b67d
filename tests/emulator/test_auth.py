"""Signatures: V3 (ACS3-HMAC-SHA256) and V2 (HMAC-SHA1), plain keys and STS triples, and failures."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params

from devkit.emulator.responses import Credential
from devkit.emulator.testing import EcsEmulator

from .support import REGION, RUNTIME, create, error_of, now_stamp, raw, v2_query, v3_headers


def _describe(client: Any) -> int:
    request = ecs.DescribeDisksRequest(region_id=REGION, disk_type="system")
    total: int = client.describe_disks_with_options(request, RUNTIME).body.total_count
    return total


@pytest.mark.parametrize("signing", [None, "v2"])
@pytest.mark.parametrize("sts", [False, True], ids=["access-key", "sts"])
def test_the_sdk_signs_and_the_emulator_accepts(emu: EcsEmulator, signing: str | None, sts: bool) -> None:
    cred = emu.sts_credentials if sts else emu.credentials
    client = emu.sdk_client(signing, credentials=cred)
    assert _describe(client) == 7
    # Parameter values that need percent-encoding survive both signatures.
    snapshot_id = create(client, disk_id="d-web-02-data", description="a b+c/é~*&=;", snapshot_name="x:y_z-1")
    assert emu.state.snapshot(snapshot_id)["description"] == "a b+c/é~*&=;"  # type: ignore[index]


WRONG: list[tuple[str, Credential, str, int]] = [
    ("unknown key", Credential("LTAInobody", "whatever"), "InvalidAccessKeyId.NotFound", 404),
    ("wrong secret", Credential("LTAI5tEmulatorKey0001", "not-the-secret"), "SignatureDoesNotMatch", 400),
    (
        "STS token of another session",
        Credential("STS.EmulatorKey0001", "emulator-sts-secret-0001", "someone-elses-token"),
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    ),
    (
        "STS key without its token",
        Credential("STS.EmulatorKey0001", "emulator-sts-secret-0001"),
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    ),
    (
        "a token on a plain key",
        Credential("LTAI5tEmulatorKey0001", "emulator-secret-0001", "stray-token"),
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    ),
]


@pytest.mark.parametrize(("cred", "code", "status"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
@pytest.mark.parametrize("signing", [None, "v2"])
def test_wrong_credentials_are_refused(
    emu: EcsEmulator, signing: str | None, cred: Credential, code: str, status: int
) -> None:
    client = emu.sdk_client(signing, credentials=cred)
    assert error_of(lambda: create(client, disk_id="d-web-02-data")) == (code, status)
    assert emu.state.snapshots("d-web-02-data") == []
    assert emu.counters.to_dict()["CreateSnapshot"] == {"total": 1, "outcomes": {code: 1}}


def test_an_unknown_action_is_unsupported(emu: EcsEmulator) -> None:
    # The SDK's generic call_api, signed like any other call.
    client = emu.sdk_client()
    params = Params(
        action="RebootInstance",
        version="2014-05-26",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = OpenApiRequest(query={"InstanceId": "i-web-01"})
    assert error_of(lambda: client.call_api(params, request, RUNTIME)) == ("InvalidAction.NotFound", 404)


# --- raw requests: what the SDK never sends ----------------------------------------------------------


def test_no_signature_at_all(emu: EcsEmulator) -> None:
    status, body = raw(emu.endpoint, {"Action": "CreateSnapshot", "DiskId": "d-web-02-data"})
    assert (status, body["Code"]) == (400, "IncompleteSignature")


@pytest.mark.parametrize(
    "authorization",
    [
        "ACS3-HMAC-SHA256 garbage",
        "ACS3-HMAC-SHA256 Credential=LTAI5tEmulatorKey0001,SignedHeaders=host",
        "ACS3-HMAC-SM3 Credential=LTAI5tEmulatorKey0001,SignedHeaders=host,Signature=00",
        "Bearer abc",
    ],
)
def test_garbled_v3_authorization(emu: EcsEmulator, authorization: str) -> None:
    headers = v3_headers(emu.credentials, emu.endpoint, "CreateSnapshot", {"DiskId": "d-web-02-data"})
    headers["Authorization"] = authorization
    status, body = raw(emu.endpoint, {"DiskId": "d-web-02-data"}, headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_v3_request_changed_after_signing(emu: EcsEmulator) -> None:
    signed_query = {"DiskId": "d-web-02-data"}
    headers = v3_headers(emu.credentials, emu.endpoint, "CreateSnapshot", signed_query)
    status, body = raw(emu.endpoint, {"DiskId": "d-web-01-data"}, headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    # A body that does not match x-acs-content-sha256.
    headers = v3_headers(emu.credentials, emu.endpoint, "CreateSnapshot", signed_query)
    status, body = raw(emu.endpoint, signed_query, headers, body=b"DiskId=d-web-01-data")
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    # The unaltered request goes through.
    headers = v3_headers(emu.credentials, emu.endpoint, "CreateSnapshot", signed_query)
    assert raw(emu.endpoint, signed_query, headers)[0] == 200
    assert len(emu.state.snapshots("d-web-02-data")) == 1


def test_v3_form_body_is_hashed_and_read(emu: EcsEmulator) -> None:
    body = b"DiskId=d-web-02-data"
    headers = v3_headers(emu.credentials, emu.endpoint, "CreateSnapshot", {}, body)
    headers["content-type"] = "application/x-www-form-urlencoded"
    assert hashlib.sha256(body).hexdigest() == headers["x-acs-content-sha256"]
    # content-type was added after signing, but it is not an x-acs-* header: still valid.
    assert raw(emu.endpoint, {}, headers, body)[0] == 200
    assert len(emu.state.snapshots("d-web-02-data")) == 1


def test_v3_unsigned_acs_header(emu: EcsEmulator) -> None:
    headers = v3_headers(emu.credentials, emu.endpoint, "CreateSnapshot", {"DiskId": "d-web-02-data"})
    headers["x-acs-security-token"] = "smuggled"
    status, body = raw(emu.endpoint, {"DiskId": "d-web-02-data"}, headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_v2_tampered_replayed_and_stale(emu: EcsEmulator) -> None:
    cred = emu.credentials
    query = v2_query(cred, "DescribeDisks", {"RegionId": REGION})
    assert raw(emu.endpoint, query)[0] == 200
    assert raw(emu.endpoint, query)[1]["Code"] == "SignatureNonceUsed"
    tampered = {**v2_query(cred, "DescribeDisks", {"RegionId": REGION}), "RegionId": "cn-beijing"}
    assert raw(emu.endpoint, tampered)[1]["Code"] == "SignatureDoesNotMatch"
    stale = v2_query(cred, "DescribeDisks", {"RegionId": REGION}, Timestamp=now_stamp(timedelta(minutes=-20)))
    assert raw(emu.endpoint, stale)[1]["Code"] == "InvalidTimeStamp.Expired"
    sha256 = v2_query(cred, "DescribeDisks", {"RegionId": REGION}, SignatureMethod="HMAC-SHA256")
    assert raw(emu.endpoint, sha256)[1]["Code"] == "IncompleteSignature"
    no_action = v2_query(cred, "", {"RegionId": REGION})
    assert raw(emu.endpoint, no_action)[1]["Code"] == "MissingParameter"


def test_v2_sts_token_is_part_of_the_signature(emu: EcsEmulator) -> None:
    sts = emu.sts_credentials
    assert sts.security_token
    good = v2_query(sts, "DescribeDisks", {"RegionId": REGION}, SecurityToken=sts.security_token)
    assert raw(emu.endpoint, good)[0] == 200
    swapped = {**v2_query(sts, "DescribeDisks", {"RegionId": REGION}, SecurityToken=sts.security_token)}
    swapped["SecurityToken"] = "other"
    assert raw(emu.endpoint, swapped)[1]["Code"] == "InvalidSecurityToken.MismatchWithAccessKey"


def test_custom_credentials() -> None:
    mine = Credential("LTAImine", "my-secret")
    with EcsEmulator(credentials=[mine]) as emu:
        assert emu.credentials == mine
        assert _describe(emu.sdk_client()) == 7
        with pytest.raises(LookupError):
            _ = emu.sts_credentials
        other = Credential("LTAI5tEmulatorKey0001", "emulator-secret-0001")
        assert (
            error_of(lambda: _describe(emu.sdk_client(credentials=other)))[0] == "InvalidAccessKeyId.NotFound"
        )
