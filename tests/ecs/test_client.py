"""The ECS client through the official SDK over a real loopback socket."""

from __future__ import annotations

import dataclasses
import random
import socket
from types import SimpleNamespace

import pytest

from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials, CredentialsNotFound, resolve_credentials
from snapstack.ecs.errors import Disposition, EcsApiError, EcsTransportError
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.ecs.retry import Deadline, RetryBudget, RetryPolicy

from .conftest import CREDS, DROP, Answer

REQ = CreateSnapshotRequest(
    disk_id="d-bp1test",
    snapshot_name="nightly-1",
    client_token="tok-1",
    tags=({"key": "app", "value": "web"},),
)


def test_create_sends_every_parameter_and_returns_the_id(server, make_client):
    server.answers = [server.ok(SnapshotId="s-123")]
    result = make_client().create_snapshot(REQ)
    assert (result.snapshot_id, result.attempts, result.client_token) == ("s-123", 1, "tok-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.snapshot_id = "s-other"  # type: ignore[misc]  # what ECS answered stays as answered
    sent = server.requests[0]
    assert sent.headers["x-acs-action"] == "CreateSnapshot"
    assert sent.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=AKIDtest,")
    assert {
        k: sent.query[k] for k in ("DiskId", "SnapshotName", "ClientToken", "Tag.1.Key", "Tag.1.Value")
    } == {
        "DiskId": "d-bp1test",
        "SnapshotName": "nightly-1",
        "ClientToken": "tok-1",
        "Tag.1.Key": "app",
        "Tag.1.Value": "web",
    }


def test_legacy_v2_signing_and_sts_token_reach_the_wire(server, make_client):
    server.answers = [server.ok(SnapshotId="s-1")]
    sts = Credentials("STS.id", "sts-secret", "sts-token-value")
    make_client(signature_algorithm="v2", credentials=sts).create_snapshot(REQ)
    q = server.requests[0].query
    assert (q["SignatureMethod"], q["SignatureVersion"], q["AccessKeyId"], q["SecurityToken"]) == (
        "HMAC-SHA1",
        "1.0",
        "STS.id",
        "sts-token-value",
    )


def test_a_token_is_generated_when_none_is_given_and_reused_on_retry(server, make_client, sleeps):
    server.answers = [server.error(500, "InternalError"), server.ok(SnapshotId="s-9")]
    result = make_client().create_snapshot(REQ.model_copy(update={"client_token": None}))
    tokens = [r.query["ClientToken"] for r in server.requests]
    assert len(tokens) == 2 and tokens[0] == tokens[1] == result.client_token
    assert result.attempts == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        # No answer / 5xx / in flight: nothing is known about the token, so it is sent again.
        ([(500, "InternalError"), (503, "ServiceUnavailable"), (403, "IdempotentProcessing")], [0, 0, 0, 0]),
        # A definitive answer: the next attempt uses the next generation, never the answered token.
        ([(403, "Throttling"), (403, "IncorrectDiskStatus.CreatingSnapshot")], [0, 1, 2]),
        ([(500, "InternalError"), (403, "Throttling"), (500, "InternalError")], [0, 0, 1, 1]),
    ],
)
def test_a_definitive_answer_moves_the_token_to_the_next_generation(server, make_client, answers, expected):
    server.answers = [server.error(status, code) for status, code in answers] + [server.ok(SnapshotId="s-7")]
    result = make_client().create_snapshot(REQ)
    sent = [r.query["ClientToken"] for r in server.requests]
    names = ["tok-1", "tok-1-g1", "tok-1-g2"]
    assert sent == [names[g] for g in expected]
    assert result.client_token == sent[-1] and result.snapshot_id == "s-7"


def test_the_renew_hook_chooses_the_next_token_or_stops(server, make_client):
    server.answers = [
        server.error(500, "InternalError"),
        server.error(403, "Throttling"),
        server.ok(SnapshotId="s-8"),
    ]
    seen = []

    def renew(error, in_doubt):
        seen.append((error.code, in_doubt))
        return "recorded-gen-1"

    result = make_client().create_snapshot(REQ, renew=renew)
    assert seen == [("Throttling", True)]  # the 500 before may have acted: the hook is told
    assert [r.query["ClientToken"] for r in server.requests] == ["tok-1", "tok-1", "recorded-gen-1"]
    assert result.client_token == "recorded-gen-1"

    server.answers = [server.error(403, "Throttling")]
    with pytest.raises(EcsApiError, match="Throttling"):
        make_client().create_snapshot(REQ, renew=lambda error, in_doubt: None)
    assert len(server.requests) == 4  # None stops: no second attempt


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "Throttling"), (500, "InternalError"), (403, "IdempotentProcessing"), (503, "ServiceUnavailable")],
)
def test_retryable_codes_are_retried_then_succeed(server, make_client, status, code):
    server.answers = [server.error(status, code), server.error(status, code), server.ok(SnapshotId="s-2")]
    result = make_client().create_snapshot(REQ)
    assert result.snapshot_id == "s-2" and result.attempts == 3
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "code", "disposition"),
    [
        (403, "QuotaExceed.Snapshot", Disposition.FAIL),
        (404, "InvalidDiskId.NotFound", Disposition.FAIL),
        (403, "IncorrectDiskStatus.NeverUsed", Disposition.SKIP),
        (403, "InstanceLockedForSecurity", Disposition.FAIL),
    ],
)
def test_non_retryable_codes_raise_once_with_everything_named(server, make_client, status, code, disposition):
    server.answers = [server.error(status, code, "the service said so")]
    with pytest.raises(EcsApiError) as info:
        make_client().create_snapshot(REQ)
    err = info.value
    assert (err.code, err.status, err.request_id, err.disposition, err.attempts) == (
        code,
        status,
        "req-err",
        disposition,
        1,
    )
    assert err.message == "the service said so"
    assert len(server.requests) == 1


def test_unknown_code_fails_with_the_code_preserved(server, make_client):
    server.answers = [server.error(400, "Brand.New.Code")]
    with pytest.raises(EcsApiError) as info:
        make_client().create_snapshot(REQ)
    assert info.value.code == "Brand.New.Code" and not info.value.retryable


def test_retry_after_is_a_floor_for_the_wait(server, make_client, sleeps):
    server.answers = [
        server.error(403, "Throttling", **{"x-acs-retry-after": "1500"}),
        server.ok(SnapshotId="s"),
    ]
    make_client(RetryPolicy(base_delay=0.01)).create_snapshot(REQ)
    assert sleeps.waits[0] >= 1.5


def test_backoff_is_full_jitter_under_a_growing_cap():
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(7)
    for attempt, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits)
        assert max(waits) > cap * 0.8 and min(waits) < cap * 0.2  # spread over the whole range


def test_attempts_are_capped(server, make_client):
    server.answers = [server.error(403, "Throttling")] * 5
    with pytest.raises(EcsApiError) as info:
        make_client(RetryPolicy(max_attempts=3)).create_snapshot(REQ)
    assert info.value.attempts == 3 and len(server.requests) == 3


def test_shared_budget_stops_a_retry_storm(server, make_client):
    budget = RetryBudget(ratio=0.0, floor=2)
    client = make_client(budget=budget)
    server.answers = [server.error(403, "Throttling")] * 10
    with pytest.raises(EcsApiError):
        client.create_snapshot(REQ)
    with pytest.raises(EcsApiError) as info:
        client.create_snapshot(REQ)
    assert budget.retries == 2 and info.value.attempts == 1  # the second call got no retry at all
    assert len(server.requests) == 4


def test_deadline_stops_retries_with_time_to_spare(server, make_client):
    server.answers = [server.error(500, "InternalError")] * 3
    with pytest.raises(EcsApiError) as info:
        make_client(RetryPolicy(deadline_margin=2.0), deadline=Deadline(1.0)).create_snapshot(REQ)
    assert info.value.attempts == 1


def test_drop_after_send_is_ambiguous_and_retried_with_the_same_token(server, make_client):
    server.answers = [DROP, server.ok(SnapshotId="s-same")]
    result = make_client().create_snapshot(REQ)
    assert result.snapshot_id == "s-same" and result.attempts == 2
    assert [r.query["ClientToken"] for r in server.requests] == ["tok-1", "tok-1"]


def test_drop_every_time_surfaces_an_ambiguous_transport_error(server, make_client):
    server.answers = [DROP] * 3
    with pytest.raises(EcsTransportError) as info:
        make_client(RetryPolicy(max_attempts=3)).create_snapshot(REQ)
    assert info.value.ambiguous and info.value.retryable and info.value.code == "Transport.Ambiguous"


def test_refused_connection_is_not_ambiguous():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    config = EcsConfig(
        "cn-hangzhou", endpoint=f"127.0.0.1:{port}", protocol="http", retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(EcsTransportError) as info:
        EcsClient(config, CREDS).create_snapshot(REQ)
    assert info.value.code == "Transport.ConnectionFailed" and not info.value.ambiguous


def test_a_non_api_body_is_a_bad_response(server, make_client):
    server.answers = [Answer(502, b"<html>bad gateway</html>")] * 2
    with pytest.raises(EcsTransportError) as info:
        make_client(RetryPolicy(max_attempts=2)).create_snapshot(REQ)
    assert info.value.code in {"Transport.BadResponse", "Transport.Ambiguous"}
    assert len(server.requests) == 2


def test_describe_goes_through_the_same_loop(server, make_client):
    from alibabacloud_ecs20140526 import models

    server.answers = [
        server.error(403, "Throttling"),
        server.ok(TotalCount=0, NextToken="", Disks={"Disk": []}),
    ]
    body = make_client().call("describe_disks", models.DescribeDisksRequest(region_id="cn-hangzhou"))
    assert body.total_count == 0 and server.requests[-1].headers["x-acs-action"] == "DescribeDisks"


def test_config_from_env_requires_a_region():
    assert EcsConfig.from_env({"FC_REGION": "cn-beijing"}).region_id == "cn-beijing"
    cfg = EcsConfig.from_env(
        {"SNAPSTACK_REGION": "r", "SNAPSTACK_ECS_ENDPOINT": "127.0.0.1:1", "SNAPSTACK_ECS_PROTOCOL": "http"}
    )
    assert (cfg.endpoint, cfg.protocol) == ("127.0.0.1:1", "http")
    with pytest.raises(Exception, match="no region"):
        EcsConfig.from_env({})
    assert EcsConfig.from_env({}, fallback_region="cn-shanghai").region_id == "cn-shanghai"
    assert (
        EcsConfig.from_env({"FC_REGION": "cn-beijing"}, fallback_region="cn-shanghai").region_id
        == "cn-beijing"
    )


class TestCredentials:
    ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"}

    def test_fc_context_wins(self):
        ctx = SimpleNamespace(
            credentials=SimpleNamespace(access_key_id="ctx", access_key_secret="s", security_token="t")
        )
        assert resolve_credentials(ctx, env=self.ENV) == Credentials("ctx", "s", "t")

    def test_camel_case_context_attributes(self):
        ctx = SimpleNamespace(
            credentials=SimpleNamespace(accessKeyId="c", accessKeySecret="s", securityToken="t")
        )
        assert resolve_credentials(ctx, env={}) == Credentials("c", "s", "t")

    def test_env_then_explicit(self):
        explicit = Credentials("x", "y")
        assert (
            resolve_credentials(SimpleNamespace(), env=self.ENV, explicit=explicit).access_key_id == "env-id"
        )
        assert resolve_credentials(None, env={}, explicit=explicit) is explicit

    def test_none_found_is_a_typed_error(self):
        with pytest.raises(CredentialsNotFound) as info:
            resolve_credentials(None, env={})
        assert info.value.code == "Credentials.Missing" and not info.value.retryable

    def test_repr_hides_secrets(self):
        text = repr(Credentials("id", "very-secret", "very-token"))
        assert "very-secret" not in text and "very-token" not in text


def test_pace_runs_before_every_attempt_retries_included(server, make_client):
    server.answers = [
        server.error(403, "Throttling"),
        server.error(403, "Throttling"),
        server.ok(SnapshotId="s"),
    ]
    paced = []
    make_client().create_snapshot(REQ, pace=lambda: paced.append(len(server.requests)))
    assert paced == [0, 1, 2]  # one token before each of the three requests


@pytest.mark.parametrize("message", [None, 5])
def test_an_error_body_without_a_text_message_keeps_the_sdks_own_text(server, make_client, message):
    """No usable "Message" in the body: the error still carries its code and the SDK's text,
    which names the request id to quote to support."""
    body = {"RequestId": "req-x", "Code": "InvalidParameter"} | (
        {} if message is None else {"Message": message}
    )
    server.answers = [Answer(400, body)]
    with pytest.raises(EcsApiError) as caught:
        make_client().create_snapshot(REQ)
    assert caught.value.code == "InvalidParameter"
    assert "req-x" in caught.value.message and caught.value.message != str(message)
