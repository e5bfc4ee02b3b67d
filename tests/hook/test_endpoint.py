"""The local FC endpoint through the official aliyun-fc2 client, over sockets (devkit/fc/README.md)."""

from __future__ import annotations

import email.utils
import http.client
import json
import threading
import uuid
from typing import Any

import fc2
import pytest

from devkit.emulator.responses import Credential
from devkit.fc.execution import RunSettings
from devkit.fc.models import FcApiError, ScriptedAnswer
from devkit.fc.responses import FcAuthenticator
from devkit.fc.server import DEFAULT_CREDENTIALS
from devkit.fc.testing import LocalFc
from devkit.hook.client import FcHook
from snapstack.ecs.credentials import Credentials
from tests.hook import gates
from tests.hook.conftest import FIXTURES, NO_ECS

ASYNC = "x-fc-invocation-type"
TASK_ID = "x-fc-stateful-async-invocation-id"


def status_of(fc: LocalFc, function: str, invocation_id: str) -> dict[str, Any]:
    """GetStatefulAsyncInvocation, signed by fc2's signer (the hook's own call)."""
    creds = Credentials(fc.credentials.access_key_id, fc.credentials.access_key_secret)
    return FcHook(fc.url, creds, timeout=10).status(fc.service, function, None, invocation_id)


def submit(fc: LocalFc, function: str, event: dict[str, Any], task: str | None = None) -> Any:
    headers = {ASYNC: "Async", **({TASK_ID: task} if task else {})}
    return fc.fc2_client().invoke_function(fc.service, function, payload=json.dumps(event), headers=headers)


# --- synchronous ---------------------------------------------------------------------------------------


def test_sync_invoke_returns_the_function_result_with_fc_context(test_fc: LocalFc) -> None:
    answer = test_fc.fc2_client().invoke_function("hooktest", "echo", payload=b'{"a": 1}')
    result = json.loads(answer.data)
    assert result["event"] == {"a": 1}
    assert result["function"] == "echo"
    assert result["environment"] == "echo"  # the template's EnvironmentVariables reach the function
    assert result["request_id"] == answer.headers["x-fc-request-id"]  # context.request_id is FC's


def test_sync_function_error_is_fc_unhandled_invocation_error(test_fc: LocalFc) -> None:
    with pytest.raises(fc2.FcError) as caught:
        test_fc.fc2_client().invoke_function("hooktest", "fail", payload=b"{}")
    assert caught.value.status_code == 200
    detail = json.loads(caught.value.message)
    assert detail["errorType"] == "RuntimeError"
    assert detail["errorMessage"] == "deliberate failure for the test"
    assert any("deliberate failure" in line for line in detail["stackTrace"])


def test_sts_caller_signs_with_its_token(test_fc: LocalFc) -> None:
    answer = test_fc.fc2_client(DEFAULT_CREDENTIALS[1]).invoke_function(
        "hooktest", "echo", payload=b'{"return": "ok"}', qualifier="LATEST"
    )
    assert answer.data == b"ok"  # a str result is the body as it is


# --- asynchronous ------------------------------------------------------------------------------------------


def test_async_answers_202_at_once_and_runs_the_function_afterwards(test_fc: LocalFc) -> None:
    gate = f"g-{uuid.uuid4().hex}"
    answer = submit(test_fc, "gate", {"gate": gate}, task="task-1")
    # The function has not finished (its gate is shut), yet the answer is already here.
    assert answer.data == b""
    gates.wait_entered(gate)
    running = status_of(test_fc, "gate", "task-1")
    assert running["status"] == "Running"
    assert running["endTime"] == 0
    gates.release(gate)
    test_fc.wait_idle()
    done = status_of(test_fc, "gate", "task-1")
    assert done["status"] == "Succeeded"
    assert json.loads(done["returnPayload"]) == {"gate": gate, "environment": "gate"}
    assert done["invocationPayload"] == json.dumps({"gate": gate})
    assert done["requestId"] == answer.headers["x-fc-request-id"]
    assert done["endTime"] >= done["startedTime"] > 0


def test_repeated_stateful_id_is_refused_with_409_and_runs_once(test_fc: LocalFc) -> None:
    gate = f"g-{uuid.uuid4().hex}"
    submit(test_fc, "gate", {"gate": gate}, task="deploy-7")
    with pytest.raises(fc2.FcError) as caught:
        submit(test_fc, "gate", {"gate": gate}, task="deploy-7")
    assert caught.value.status_code == 409
    assert caught.value.err_code == "StatefulAsyncInvocationAlreadyExists"
    gates.release(gate)
    test_fc.wait_idle()
    assert [r.invocation_id for r in test_fc.state.invocations()] == ["deploy-7"]


def test_concurrent_submissions_of_one_id_accept_exactly_one(test_fc: LocalFc) -> None:
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        try:
            submit(test_fc, "echo", {"return": 1}, task="same-id")
            code = 202
        except fc2.FcError as exc:
            code = exc.status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    test_fc.wait_idle()
    assert sorted(statuses) == [202] + [409] * 7
    assert len(test_fc.state.invocations()) == 1


def test_async_without_id_is_tracked_under_its_request_id(test_fc: LocalFc) -> None:
    answer = submit(test_fc, "echo", {"return": {"x": 1}})
    test_fc.wait_idle()
    record = status_of(test_fc, "echo", answer.headers["x-fc-request-id"])
    assert record["status"] == "Succeeded"


def test_async_function_error_is_retried_then_failed() -> None:
    with LocalFc(FIXTURES / "template.yml", NO_ECS, RunSettings(max_async_retries=2, retry_delay=0)) as fc:
        submit(fc, "fail", {}, task="always-fails")
        fc.wait_idle()
        record = status_of(fc, "fail", "always-fails")
    assert record["status"] == "Failed"
    assert record["alreadyRetriedTimes"] == 2
    assert record["invocationErrorMessage"] == "RuntimeError: deliberate failure for the test"
    assert "returnPayload" not in record


def test_async_retry_reaches_a_later_success() -> None:
    key = f"k-{uuid.uuid4().hex}"
    with LocalFc(FIXTURES / "template.yml", NO_ECS, RunSettings(max_async_retries=3, retry_delay=0)) as fc:
        submit(fc, "flaky", {"key": key, "failures": 2}, task="flaky-1")
        fc.wait_idle()
        record = status_of(fc, "flaky", "flaky-1")
    assert record["status"] == "Succeeded"
    assert record["alreadyRetriedTimes"] == 2
    assert json.loads(record["returnPayload"]) == {"key": key, "attempt": 3}


def test_another_function_waits_its_turn_with_its_own_environment(test_fc: LocalFc) -> None:
    gate = f"g-{uuid.uuid4().hex}"
    submit(test_fc, "gate", {"gate": gate}, task="a")
    gates.wait_entered(gate)  # gate runs, with its environment laid over the process's
    results: list[bytes] = []

    def echo() -> None:
        results.append(test_fc.fc2_client().invoke_function("hooktest", "echo", payload=b"{}").data)

    other = threading.Thread(target=echo)
    other.start()
    gates.release(gate)
    other.join()
    test_fc.wait_idle()
    assert json.loads(results[0])["environment"] == "echo"
    assert status_of(test_fc, "gate", "a")["status"] == "Succeeded"


def test_one_function_runs_side_by_side(test_fc: LocalFc) -> None:
    first, second = f"g-{uuid.uuid4().hex}", f"g-{uuid.uuid4().hex}"
    submit(test_fc, "gate", {"gate": first}, task="a")
    submit(test_fc, "gate", {"gate": second}, task="b")
    gates.wait_entered(first)
    gates.wait_entered(second)  # both runs are in at once, neither gate open yet
    gates.release(first)
    gates.release(second)
    test_fc.wait_idle()


def test_status_of_an_unknown_id_is_404(test_fc: LocalFc) -> None:
    from devkit.hook.errors import HookError

    with pytest.raises(HookError) as caught:
        status_of(test_fc, "echo", "never-submitted")
    assert (caught.value.status, caught.value.code) == (404, "StatefulAsyncInvocationNotFound")


# --- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "function", "qualifier", "code"),
    [
        ("hooktest", "nope", None, "FunctionNotFound"),
        ("other", "echo", None, "ServiceNotFound"),
        ("hooktest", "echo", "prod", "AliasNotFound"),
    ],
)
def test_unknown_function_service_or_alias_is_404(
    test_fc: LocalFc, service: str, function: str, qualifier: str | None, code: str
) -> None:
    with pytest.raises(fc2.FcError) as caught:
        test_fc.fc2_client().invoke_function(service, function, payload=b"{}", qualifier=qualifier)
    assert (caught.value.status_code, caught.value.err_code) == (404, code)


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        (Credential("LTAI5tLocalFcKey0001", "wrong-secret"), "SignatureNotMatch"),
        (Credential("LTAI5tSomebodyElse", "local-fc-secret-0001"), "InvalidAccessKeyID"),
        (Credential("STS.LocalFcKey0001", "local-fc-sts-secret-0001", "stolen-token"), "AccessDenied"),
    ],
)
def test_bad_signatures_are_403(test_fc: LocalFc, credential: Credential, code: str) -> None:
    with pytest.raises(fc2.FcError) as caught:
        test_fc.fc2_client(credential).invoke_function("hooktest", "echo", payload=b"{}")
    assert (caught.value.status_code, caught.value.err_code) == (403, code)
    assert test_fc.state.invocations() == []


def test_async_payload_over_128_kb_is_entity_too_large(test_fc: LocalFc) -> None:
    with pytest.raises(fc2.FcError) as caught:
        submit(test_fc, "echo", {"pad": "x" * (128 * 1024)}, task="big")
    assert (caught.value.status_code, caught.value.err_code) == (400, "EntityTooLarge")


def test_invalid_stateful_id_is_invalid_argument(test_fc: LocalFc) -> None:
    with pytest.raises(fc2.FcError) as caught:
        submit(test_fc, "echo", {}, task="9-starts-with-a-digit")
    assert (caught.value.status_code, caught.value.err_code) == (400, "InvalidArgument")


def test_scripted_answers_come_first_then_service_resumes(test_fc: LocalFc) -> None:
    test_fc.app.answers.add([ScriptedAnswer(429, "ResourceExhausted", "slow down", action="invoke")])
    with pytest.raises(fc2.FcError) as caught:
        test_fc.fc2_client().invoke_function("hooktest", "echo", payload=b'{"return": 1}')
    assert (caught.value.status_code, caught.value.err_code) == (429, "ResourceExhausted")
    assert test_fc.fc2_client().invoke_function("hooktest", "echo", payload=b'{"return": 1}').data == b"1"


def test_control_api_scripts_answers_over_http(test_fc: LocalFc) -> None:
    host, port = test_fc.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps([{"status": 502, "body": "<html>bad gateway</html>"}])
    conn.request("POST", "/_fc/answers", body=body, headers={"Content-Type": "application/json"})
    assert json.loads(conn.getresponse().read()) == {"waiting": 1}
    conn.request("POST", "/_fc/answers", body=json.dumps([{"status": 500, "colour": "red"}]))
    refused = conn.getresponse()
    assert refused.status == 400
    assert "colour" in json.loads(refused.read())["error"]
    conn.close()
    with pytest.raises(Exception) as caught:  # fc2 chokes on the non-JSON error body
        test_fc.fc2_client().invoke_function("hooktest", "echo", payload=b"{}")
    assert type(caught.value).__name__ == "JSONDecodeError"


# --- the signature rule itself ------------------------------------------------------------------------------


def _signed(secret: str, date: str) -> dict[str, str]:
    auth = fc2.auth.Auth("AK1", secret)
    headers = {"date": date, "content-type": "application/json", "x-fc-invocation-type": "Async"}
    headers["authorization"] = auth.sign_request(
        "POST", "/2016-08-15/services/s/functions/f/invocations", headers
    )
    return headers


def test_signature_from_fc2_verifies_and_a_stale_date_does_not() -> None:
    now = 1_800_000_000.0
    auth = FcAuthenticator([Credential("AK1", "s3cret")], clock=lambda: now)
    path = "/2016-08-15/services/s/functions/f/invocations"
    fresh = _signed("s3cret", email.utils.formatdate(now - 899, usegmt=True))
    assert auth.verify("POST", path, fresh).access_key_id == "AK1"
    stale = _signed("s3cret", email.utils.formatdate(now - 901, usegmt=True))
    with pytest.raises(FcApiError) as caught:
        auth.verify("POST", path, stale)
    assert (caught.value.status, caught.value.code) == (403, "AccessDenied")
    tampered = {**fresh, "x-fc-invocation-type": "Sync"}  # x-fc-* headers are signed
    with pytest.raises(FcApiError) as caught:
        auth.verify("POST", path, tampered)
    assert caught.value.code == "SignatureNotMatch"
    no_date = {k: v for k, v in fresh.items() if k != "date"}
    with pytest.raises(FcApiError) as caught:
        auth.verify("POST", path, no_date)
    assert (caught.value.status, caught.value.code) == (400, "MissingRequiredHeader")
