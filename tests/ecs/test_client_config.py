"""EcsConfig from the environment (timeouts, retries, region) and the client's "is there time for
another attempt" rule at its boundary, on a controlled clock."""

from __future__ import annotations

import dataclasses

import pytest

from snapstack.ecs.client import EcsConfig
from snapstack.ecs.credentials import Credentials, resolve_credentials
from snapstack.ecs.errors import EcsError
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.ecs.retry import Deadline, RetryPolicy

REGION = {"SNAPSTACK_REGION": "cn-hangzhou"}
REQ = CreateSnapshotRequest(disk_id="d-1", client_token="tok-1")


def test_the_default_timeouts_are_5_s_to_connect_and_30_s_to_read():
    for config in (EcsConfig("cn-hangzhou"), EcsConfig.from_env(REGION)):
        assert (config.connect_timeout_ms, config.read_timeout_ms) == (5000, 30000)


@pytest.mark.parametrize(
    ("connect", "read", "expected"),
    [("2.5", "0.001", (2500, 1)), ("3600", "60", (3600000, 60000)), ("", "", (5000, 30000))],
)
def test_timeouts_are_seconds_in_the_environment_and_milliseconds_in_the_config(connect, read, expected):
    env = {**REGION, "SNAPSTACK_ECS_CONNECT_TIMEOUT": connect, "SNAPSTACK_ECS_READ_TIMEOUT": read}
    config = EcsConfig.from_env(env)
    assert (config.connect_timeout_ms, config.read_timeout_ms) == expected


@pytest.mark.parametrize("bad", ["0", "-1", "3600.5", "soon", "nan"])
@pytest.mark.parametrize("name", ["SNAPSTACK_ECS_CONNECT_TIMEOUT", "SNAPSTACK_ECS_READ_TIMEOUT"])
def test_a_timeout_outside_0_to_3600_seconds_names_the_variable(name, bad):
    with pytest.raises(EcsError) as caught:
        EcsConfig.from_env({**REGION, name: bad})
    assert caught.value.code == "InvalidParameter"
    assert str(caught.value).endswith(f"{name} must be seconds in (0, 3600], not {bad!r}")


def test_retry_settings_come_from_the_environment_or_the_policy_defaults():
    assert EcsConfig.from_env(REGION).retry == RetryPolicy()
    env = {
        **REGION,
        "SNAPSTACK_RETRY_MAX_ATTEMPTS": "3",
        "SNAPSTACK_RETRY_BASE_DELAY": "0.5",
        "SNAPSTACK_RETRY_MAX_DELAY": "4",
    }
    assert EcsConfig.from_env(env).retry == RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0)
    assert EcsConfig.from_env(env, read_timeout_ms=7).read_timeout_ms == 7  # overrides win


def test_the_region_comes_from_snapstack_then_fc_then_the_sdk_variable():
    env = {"SNAPSTACK_REGION": "a", "FC_REGION": "b", "ALIBABA_CLOUD_REGION_ID": "c"}
    assert EcsConfig.from_env(env).region_id == "a"
    assert EcsConfig.from_env({**env, "SNAPSTACK_REGION": ""}).region_id == "b"
    assert EcsConfig.from_env({"ALIBABA_CLOUD_REGION_ID": "c"}).region_id == "c"


def test_a_config_and_credentials_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EcsConfig("cn-hangzhou").region_id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Credentials("id", "secret").access_key_id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "env",
    [
        {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id"},
        {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret"},
        {"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""},
    ],
)
def test_half_a_key_pair_is_no_credentials(env):
    explicit = Credentials("explicit", "s")
    assert resolve_credentials(None, env=env, explicit=explicit) is explicit


def test_half_a_key_pair_in_the_fc_context_is_no_credentials():
    class Half:
        credentials = type("C", (), {"access_key_id": "id", "access_key_secret": "", "security_token": "t"})()

    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert resolve_credentials(Half(), env=env).access_key_id == "env"


@pytest.mark.parametrize(("token", "expected"), [("sts", "sts"), ("", None)])
def test_an_sts_token_from_the_environment_is_kept_and_an_empty_one_is_none(token, expected):
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s",
        "ALIBABA_CLOUD_SECURITY_TOKEN": token,
    }
    assert resolve_credentials(None, env=env).security_token == expected


@pytest.mark.parametrize(("seconds_left", "attempts"), [(4.6, 2), (4.4, 1)])
def test_a_retry_starts_only_if_its_wait_still_leaves_the_margin(
    server, make_client, sleeps, seconds_left, attempts
):
    # Retry-After makes the wait 2.5 s; the margin is 2 s; the clock stands still. 4.6 - 2.5 > 2:
    # retried. 4.4 - 2.5 < 2 although 4.4 alone is more than the margin: not retried.
    server.answers = [
        server.error(403, "Throttling", **{"x-acs-retry-after": "2500"}),
        server.ok(SnapshotId="s-1"),
    ]
    client = make_client(
        RetryPolicy(base_delay=0.001, max_delay=0.001, deadline_margin=2.0),
        deadline=Deadline(seconds_left, clock=lambda: 100.0),
    )
    if attempts == 2:
        assert client.create_snapshot(REQ).attempts == 2
    else:
        with pytest.raises(EcsError, match="Throttling"):
            client.create_snapshot(REQ)
    assert len(server.requests) == attempts
    assert sleeps.waits == [pytest.approx(2.5)] * (attempts - 1)  # Retry-After is in milliseconds


def test_the_renew_hook_hears_whether_an_earlier_attempt_may_have_acted(server, make_client):
    server.answers = [
        server.error(403, "Throttling"),
        server.error(403, "Throttling"),
        server.ok(SnapshotId="s"),
    ]
    seen = []

    def renew(error, in_doubt):
        seen.append(in_doubt)
        return f"tok-{len(seen) + 1}"

    make_client(RetryPolicy(base_delay=0.001)).create_snapshot(REQ, renew=renew)
    assert seen == [False, False]  # two definitive refusals: nothing was ever in doubt


def test_a_credentials_repr_shows_the_key_id_and_never_the_secret_or_the_token():
    shown = repr(Credentials("LTAI-id", "the-secret", "the-sts-token"))
    assert "LTAI-id" in shown and "the-secret" not in shown and "the-sts-token" not in shown
