"""``snapstack hook`` as a CI job runs it (a process, real sockets) against the local FC endpoint's
test functions: what it sends, what it prints, and one documented exit code per way it can fail."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from devkit import exitcodes
from devkit.fc.models import ScriptedAnswer
from devkit.fc.testing import LocalFc
from devkit.hook.request import build_request
from tests.hook import gates
from tests.hook.conftest import FIXTURES, NO_ECS, Hook, caller_env, run_snapstack

DISKS = ("--disk", "d-web-01-data", "--disk", "d-web-02-data")


def deploy(tag: str = "rel") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


# --- submitting ---------------------------------------------------------------------------------------------


def test_submits_the_d4_payload_under_the_derived_id_and_says_so(hook: Hook, test_fc: LocalFc) -> None:
    release = deploy()
    ran = hook("--function", "echo", *DISKS, "--instance", "i-web-01", "--tag", "app=web", "--reason",
               "release 42", "--deploy-id", release)  # fmt: skip
    assert ran.code == exitcodes.OK, ran.stderr
    expected = build_request(
        release,
        "release 42",
        instances=["i-web-01"],
        disks=["d-web-01-data", "d-web-02-data"],
        tags=["app=web"],
    )
    test_fc.wait_idle()
    [record] = test_fc.state.invocations()
    assert record.invocation_id == expected.invocation_id()
    assert json.loads(record.payload) == {
        "deploy_id": release,
        "reason": "release 42",
        "instance_ids": ["i-web-01"],
        "disk_ids": ["d-web-01-data", "d-web-02-data"],
        "disk_tags": {"app": "web"},
    }
    lines = ran.stdout.splitlines()
    assert lines[0] == f"echo (service hooktest, LATEST) at {test_fc.url}"
    assert f"  invocation id  {expected.invocation_id()}" in lines
    assert "  disks          d-web-01-data, d-web-02-data" in lines
    assert lines[-1] == f"submitted (request id {record.request_id})"
    assert ran.stderr == ""


def test_a_rerun_is_already_submitted_and_still_succeeds(hook: Hook, test_fc: LocalFc) -> None:
    args = ("--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy())
    first, second = hook(*args), hook(*args)
    assert (first.code, second.code) == (exitcodes.OK, exitcodes.OK)
    assert second.stdout.splitlines()[-1].startswith("already submitted: FC has invocation snapstack-")
    assert "StatefulAsyncInvocationAlreadyExists" in second.stdout
    test_fc.wait_idle()
    assert len(test_fc.state.invocations()) == 1


def test_json_result_on_stdout_only(hook: Hook, test_fc: LocalFc) -> None:
    release = deploy()
    ran = hook("--function", "echo", "--tag", "app=web", "--reason", "r", "--deploy-id", release, "--json")
    assert ran.code == exitcodes.OK
    result = ran.json()
    test_fc.wait_idle()
    [record] = test_fc.state.invocations()
    assert result == {
        "service": "hooktest",
        "function": "echo",
        "qualifier": None,
        "payload": {"deploy_id": release, "reason": "r", "disk_tags": {"app": "web"}},
        "invocation_id": record.invocation_id,
        "endpoint": test_fc.url,
        "already_submitted": False,
        "request_id": record.request_id,
        "error": None,
        "exit_code": 0,
    }


def test_explicit_invocation_id_overrides_the_derived_one(hook: Hook, test_fc: LocalFc) -> None:
    ran = hook(
        "--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy(), "--invocation-id", "retry_2"
    )
    assert ran.code == exitcodes.OK
    test_fc.wait_idle()
    assert [r.invocation_id for r in test_fc.state.invocations()] == ["retry_2"]


def test_profile_credentials_from_the_aliyun_cli_config(hook: Hook, test_fc: LocalFc, tmp_path: Path) -> None:
    config = {
        "current": "default",
        "profiles": [
            {
                "name": "ci",
                "mode": "AK",
                "access_key_id": test_fc.credentials.access_key_id,
                "access_key_secret": test_fc.credentials.access_key_secret,
            }
        ],
    }
    (tmp_path / ".aliyun").mkdir()
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in hook.env.items() if not k.startswith("ALIBABA_CLOUD_ACCESS_KEY")}
    env.pop("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")
    env["HOME"] = str(tmp_path)
    ran = hook(
        "--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy(), "--profile", "ci", env=env
    )
    assert ran.code == exitcodes.OK, ran.stderr
    test_fc.wait_idle()
    assert len(test_fc.state.invocations()) == 1


# --- --wait ----------------------------------------------------------------------------------------------


def test_wait_prints_the_functions_summary(hook: Hook) -> None:
    summary = {
        "ok": True,
        "created": 1,
        "deduplicated": 1,
        "disks": [
            {"disk_id": "d-web-01-data", "outcome": "created", "snapshot_id": "s-1"},
            {"disk_id": "d-web-02-data", "outcome": "deduplicated", "snapshot_id": "s-0"},
        ],
    }
    ran = hook("--function", "summary", *DISKS, "--reason", json.dumps(summary), "--deploy-id", deploy(),
               "--wait", "--poll-interval", "0.05")  # fmt: skip
    assert ran.code == exitcodes.OK, ran.stderr
    out = ran.stdout.splitlines()
    assert "invocation Succeeded: 1 created, 1 deduplicated" in out
    assert any(line.split() == ["d-web-01-data", "created", "s-1"] for line in out)


@pytest.mark.parametrize(
    ("summary", "code", "headline"),
    [
        ({"ok": True, "failed": 1, "disks": []}, exitcodes.FAILED, "1 disk(s) failed"),
        (
            {"ok": True, "denied": 2, "disks": []},
            exitcodes.BAD_INPUT,
            "2 disk(s) outside deploy_hook's allow-list",
        ),
        ({"ok": True, "deferred": 1, "disks": []}, exitcodes.INCOMPLETE, "1 disk(s) not finished"),
        (
            {"ok": False, "error": {"source": "event", "field": "deploy_id", "rule": "required"}},
            exitcodes.BAD_INPUT,
            "deploy_hook refused the request: source=event field=deploy_id rule=required",
        ),
    ],
)
def test_wait_verdicts_become_exit_codes(
    hook: Hook, summary: dict[str, object], code: int, headline: str
) -> None:
    ran = hook("--function", "summary", *DISKS, "--reason", json.dumps(summary), "--deploy-id", deploy(),
               "--wait", "--poll-interval", "0.05", "--json")  # fmt: skip
    assert ran.code == code
    result = ran.json()
    assert (result["status"], result["verdict"], result["exit_code"]) == ("Succeeded", headline, code)
    assert result["summary"] == summary


def test_wait_on_a_failed_invocation_is_failed_with_its_error(hook: Hook) -> None:
    ran = hook("--function", "fail", *DISKS, "--reason", "r", "--deploy-id", deploy(), "--wait",
               "--poll-interval", "0.05")  # fmt: skip
    assert ran.code == exitcodes.FAILED
    assert ran.stdout.splitlines()[-1] == "invocation Failed: RuntimeError: deliberate failure for the test"


def test_wait_timeout_is_incomplete_and_the_invocation_goes_on(hook: Hook, test_fc: LocalFc) -> None:
    release = deploy("gate")
    ran = hook("--function", "gate", *DISKS, "--reason", "r", "--deploy-id", release, "--wait",
               "--wait-timeout", "0.3", "--poll-interval", "0.1")  # fmt: skip
    assert ran.code == exitcodes.INCOMPLETE
    assert "still not finished after 0.3 s" in ran.stderr
    assert gates.entered(release)
    gates.release(release)
    test_fc.wait_idle()
    assert test_fc.state.invocations()[0].status == "Succeeded"


def test_a_rerun_with_wait_follows_the_first_invocation(hook: Hook, test_fc: LocalFc) -> None:
    release = deploy("gate")
    args = ("--function", "gate", *DISKS, "--reason", "r", "--deploy-id", release)
    assert hook(*args).code == exitcodes.OK
    gates.wait_entered(release)
    gates.release(release)
    again = hook(*args, "--wait", "--poll-interval", "0.05", "--json")
    assert again.code == exitcodes.OK
    assert (again.json()["already_submitted"], again.json()["status"]) == (True, "Succeeded")
    assert len(test_fc.state.invocations()) == 1


# --- one exit code per failure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--reason", "r", "--deploy-id", "d"), "name at least one target"),
        (("--tag", "novalue", "--reason", "r", "--deploy-id", "d"), "--tag 'novalue': expected KEY=VALUE"),
        (("--tag", "a=1", "--tag", "a=2", "--reason", "r", "--deploy-id", "d"), "given twice"),
        (("--disk", "d-1", "--reason", "r", "--deploy-id", " "), "--deploy-id: must not be empty"),
        (
            ("--disk", "d-1", "--reason", "r", "--deploy-id", "d", "--invocation-id", "1abc"),
            "--invocation-id",
        ),
        (
            (
                *[a for n in range(6000) for a in ("--disk", f"d-{n:020d}")],
                "--reason",
                "r",
                "--deploy-id",
                "d",
            ),
            "FC takes at most 131072",
        ),
    ],
)
def test_usage_errors(hook: Hook, test_fc: LocalFc, args: tuple[str, ...], message: str) -> None:
    ran = hook("--function", "echo", *args)
    assert ran.code == exitcodes.USAGE
    assert message in ran.stderr
    assert ran.stderr.startswith("snapstack hook: usage: ")
    assert test_fc.state.invocations() == []


def test_missing_option_is_argparse_usage(hook: Hook) -> None:
    ran = hook("--function", "echo", "--disk", "d-1", "--reason", "r")
    assert ran.code == exitcodes.USAGE
    assert "--deploy-id" in ran.stderr


def test_no_endpoint_is_usage(hook: Hook) -> None:
    args = ["hook", "--service", "s", "--function", "f", "--disk", "d-1", "--reason", "r", "--deploy-id", "d"]
    ran = run_snapstack(args, hook.env)
    assert ran.code == exitcodes.USAGE
    assert "--endpoint URL, or --account-id and --region" in ran.stderr


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [("LTAI5tLocalFcKey0001", "wrong", "SignatureNotMatch"), ("LTAI5tNobody", "x", "InvalidAccessKeyID")],
)
def test_refused_credentials_are_auth(
    hook: Hook, test_fc: LocalFc, key_id: str, secret: str, code: str
) -> None:
    ran = hook(
        "--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy(), env=caller_env(key_id, secret)
    )
    assert ran.code == exitcodes.AUTH
    [line] = ran.stderr.splitlines()
    assert line.startswith(f"snapstack hook: auth: FC answered 403 {code}: ")
    assert "(request id " in line
    assert secret not in ran.stdout + ran.stderr
    assert test_fc.state.invocations() == []


def test_no_credentials_at_all_is_auth(hook: Hook) -> None:
    env = {k: v for k, v in hook.env.items() if not k.startswith("ALIBABA_CLOUD_ACCESS_KEY")}
    ran = hook("--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy(), env=env)
    assert ran.code == exitcodes.AUTH
    assert "no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID" in ran.stderr


@pytest.mark.parametrize(("function", "service"), [("nope", None), ("echo", "nosuchservice")])
def test_unknown_function_or_service_is_not_found(hook: Hook, function: str, service: str | None) -> None:
    ran = hook(
        "--function", function, *DISKS, "--reason", "r", "--deploy-id", deploy(), "--json", service=service
    )
    assert ran.code == exitcodes.NOT_FOUND
    error = ran.json()["error"]
    assert (error["kind"], error["status"], error["exit_code"]) == ("not_found", 404, exitcodes.NOT_FOUND)
    assert error["code"] in ("FunctionNotFound", "ServiceNotFound")


@pytest.mark.parametrize(
    ("answer", "code", "shown"),
    [
        (
            ScriptedAnswer(429, "ResourceExhausted", "too many"),
            exitcodes.THROTTLED,
            "throttled: FC answered 429",
        ),
        (ScriptedAnswer(503, "ResourceThrottled", "busy"), exitcodes.THROTTLED, "throttled: FC answered 503"),
        (ScriptedAnswer(500, "InternalServerError", "oops"), exitcodes.SERVER, "server: FC answered 500"),
        (
            ScriptedAnswer(502, body="<html><h1>502 Bad Gateway</h1></html>"),
            exitcodes.SERVER,
            "not JSON: <html>",
        ),
    ],
)
def test_fc_failures_get_their_exit_code(
    hook: Hook, test_fc: LocalFc, answer: ScriptedAnswer, code: int, shown: str
) -> None:
    test_fc.app.answers.add([answer])
    ran = hook("--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy())
    assert ran.code == code
    [line] = ran.stderr.splitlines()
    assert shown in line
    assert test_fc.state.invocations() == []


def test_server_down_is_network() -> None:
    with LocalFc(FIXTURES / "template.yml", NO_ECS) as fc:
        url, service, env = fc.url, fc.service, Hook(fc).env
    args = ["hook", "--endpoint", url, "--service", service, "--function", "echo", *DISKS, "--reason", "r"]
    ran = run_snapstack([*args, "--deploy-id", deploy(), "--connect-retries", "0", "--json"], env)
    assert ran.code == exitcodes.NETWORK
    error = ran.json()["error"]
    assert error["kind"] == "network"
    assert "cannot reach FC" in error["message"]
    assert "Connection refused" in error["message"]


def test_transient_status_failures_are_waited_through(hook: Hook, test_fc: LocalFc) -> None:
    test_fc.app.answers.add([ScriptedAnswer(503, "ServiceUnavailable", "blip", action="status")])
    ran = hook("--function", "echo", *DISKS, "--reason", "r", "--deploy-id", deploy(), "--wait",
               "--poll-interval", "0.05")  # fmt: skip
    assert ran.code == exitcodes.OK
    assert "server: FC answered 503 ServiceUnavailable: blip" in ran.stderr
