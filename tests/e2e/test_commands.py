"""The ``snapstack`` command as a user runs it: a subprocess; stdout, stderr and the exit code.

stdout holds only the result (``--json`` parses, with Python and with jq); the function's log
goes to stderr; exit codes follow ``devkit/exitcodes.py``; a mistake is one line, never a
traceback.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pty
import socket
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from devkit import exitcodes
from devkit.commands.plan import next_run
from devkit.emulator.testing import EcsEmulator
from devkit.local.oss import objects_in
from snapstack.execute import Intent
from snapstack.tokens import TokenRecord, open_table

from .cli import (
    ROOT,
    SNAPSTACK,
    endpoint_args,
    environment,
    make_workspace,
    one_line_error,
    parse_json,
    snapstack,
)
from .conftest import BUCKET, EVENTS, Oss

TIMER = ["local", "invoke", "scheduled_backup", "--event", "events/timer.json"]
# Sample-fleet disks whose CreateSnapshot fails for good (account state, KMS, lock, device type...).
FAILING = [
    "d-arrears-01",
    "d-ephemeral-01",
    "d-invalid-01",
    "d-kms-gone-01",
    "d-kms-off-01",
    "d-local-01",
    "d-locked-01-system",
    "d-orphan-01",
]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "checkout")


def with_policy(*disk_ids: str, **extra: str) -> dict[str, str]:
    """The environment with scheduled_backup's "daily" policy narrowed to ``disk_ids``."""
    policy = {"name": "daily", "selector": {"disk_ids": list(disk_ids)}}
    return environment(SNAPSTACK_CONFIG_JSON=json.dumps({"policies": [policy]}), **extra)


def log_lines(stderr: str) -> list[dict[str, object]]:
    """stderr as the function's JSON lines; fails on any line that is not one."""
    return [json.loads(line) for line in stderr.splitlines()]


# --- local invoke: stdout, stderr, exit codes ------------------------------------------------------


def test_json_output_is_alone_on_stdout_and_the_log_is_on_stderr(ws):
    result = snapstack(*TIMER, "--json", cwd=ws)
    assert result.returncode == exitcodes.FAILED  # the locked instance's disk failed
    summary = parse_json(result.stdout)
    assert (summary["created"], summary["failed"]) == (7, 1)
    lines = log_lines(result.stderr)
    assert sum(line.get("message") == "snapshot decision" for line in lines) == 8
    assert any("_aws" in line for line in lines)  # the EMF metrics line


def test_quiet_leaves_only_the_result(ws):
    result = snapstack(*TIMER, "--quiet", cwd=ws)
    assert result.returncode == exitcodes.FAILED
    assert result.stderr == ""  # no log, and no progress line: stderr is not a terminal
    assert result.stdout.splitlines()[0] == "scheduled_backup: 7 created, 1 failed"


def test_log_level_shows_only_lines_at_or_above_it(ws):
    result = snapstack(*TIMER, "--log-level", "error", cwd=ws)
    lines = log_lines(result.stderr)
    assert [(line["level"], line["disk_id"]) for line in lines] == [("ERROR", "d-locked-01-system")]


def test_every_disk_failed_is_failed_not_success(ws):
    result = snapstack(*TIMER, "--json", "-q", cwd=ws, env=with_policy(*FAILING))
    assert result.returncode == exitcodes.FAILED
    summary = parse_json(result.stdout)
    assert (summary["failed"], summary["created"]) == (8, 0)


def test_deferred_disks_are_incomplete(ws):
    env = with_policy("d-transfer-01", SNAPSTACK_RETRY_MAX_ATTEMPTS="1")
    result = snapstack(*TIMER, "--log-level", "ERROR", cwd=ws, env=env)
    assert result.returncode == exitcodes.INCOMPLETE
    assert "1 deferred" in result.stdout
    assert result.stderr.splitlines()[-1].startswith("1 disk(s) not finished: FC would deliver this event")


def test_max_deliveries_of_one_turns_a_deferred_disk_into_a_failed_one(ws):
    """SNAPSTACK_MAX_DELIVERIES=1: this delivery is the last, so a retryable answer ends ``failed``."""
    env = with_policy("d-transfer-01", SNAPSTACK_RETRY_MAX_ATTEMPTS="1", SNAPSTACK_MAX_DELIVERIES="1")
    result = snapstack(*TIMER, "--json", "-q", cwd=ws, env=env)
    assert result.returncode == exitcodes.FAILED and result.stderr == ""
    summary = parse_json(result.stdout)
    assert (summary["failed"], summary["deferred"]) == (1, 0)
    assert [d["error_code"] for d in summary["disks"]] == ["IncorrectDiskStatus.Transferring"]


def test_a_bad_max_deliveries_is_a_configuration_error(ws):
    result = snapstack(*TIMER, "-q", cwd=ws, env=environment(SNAPSTACK_MAX_DELIVERIES="0"))
    assert result.returncode == exitcodes.BAD_INPUT and result.stdout == ""
    line = one_line_error(result, "local invoke")
    assert "configuration error: environment: SNAPSTACK_MAX_DELIVERIES: must be a whole number >= 1" in line


def test_a_failed_disk_outranks_an_unfinished_one(ws):
    env = with_policy("d-transfer-01", "d-locked-01-system", SNAPSTACK_RETRY_MAX_ATTEMPTS="1")
    result = snapstack(*TIMER, "-q", cwd=ws, env=env)
    assert result.returncode == exitcodes.FAILED
    assert result.stdout.splitlines()[0] == "scheduled_backup: 1 deferred, 1 failed"


def test_bad_input_is_reported_on_stdout_with_its_own_code(ws):
    (ws / "bad.json").write_text('{"triggerTime": "not a time", "triggerName": "x"}')
    human = snapstack("local", "invoke", "scheduled_backup", "--event", "bad.json", "-q", cwd=ws)
    assert human.returncode == exitcodes.BAD_INPUT
    assert human.stdout.startswith(
        "scheduled_backup: bad input, nothing was done: event (timer) triggerTime: "
    )
    as_json = snapstack("local", "invoke", "scheduled_backup", "--event", "bad.json", "--json", cwd=ws)
    assert as_json.returncode == exitcodes.BAD_INPUT
    summary = parse_json(as_json.stdout)
    assert summary["ok"] is False and summary["error"]["field"] == "triggerTime"
    assert [line["error_code"] for line in log_lines(as_json.stderr) if line.get("level") == "ERROR"] == [
        "BadEvent"
    ]


def test_a_broken_configuration_fails_loudly_and_is_not_bad_input(ws):
    env = environment(SNAPSTACK_CONFIG_JSON='{"policies": []}')
    result = snapstack(*TIMER, cwd=ws, env=env)
    assert result.returncode == exitcodes.BAD_INPUT and result.stdout == ""
    *logged, last = result.stderr.splitlines()
    assert last.startswith("snapstack local invoke: configuration error: SNAPSTACK_CONFIG_JSON: ")
    assert "give at least one policy" in last  # the field and the rule the configuration broke
    lines = [json.loads(line) for line in logged]
    assert [line["error_code"] for line in lines if line.get("level") == "ERROR"] == ["ConfigError"]
    assert [line["ConfigErrors"] for line in lines if "_aws" in line] == [1.0]
    assert "Traceback" not in result.stderr


# --- every sample in events/, with one command -----------------------------------------------------

SAMPLES = sorted(p.name for p in EVENTS.iterdir() if p.is_file() and p.name != "README.md")


def function_for(name: str) -> str:
    if name.startswith("timer"):
        return "scheduled_backup"
    return "deploy_hook" if name.startswith(("oss_", "deploy_")) else "alarm_snapshot"


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_runs_end_to_end_with_one_command(ws, sample):
    result = snapstack(
        "local", "invoke", function_for(sample), "--event", f"events/{sample}", "--json", "-q", cwd=ws
    )
    summary = parse_json(result.stdout)
    assert result.stderr == ""
    if sample == "mns_topic_stream_raw.txt":  # a plain STREAM body: not an alarm (events/README.md)
        assert result.returncode == exitcodes.BAD_INPUT and summary["ok"] is False
        return
    assert summary["ok"] and summary["created"] >= 1, summary
    expected = exitcodes.FAILED if summary["failed"] else exitcodes.OK
    assert result.returncode == expected


def test_sample_oss_events_name_the_shipped_objects_by_their_md5():
    stored = {(bucket, key): file.read_bytes() for bucket, key, file in objects_in(EVENTS / "objects")}
    for name in ("oss_put_object.json", "oss_put_object_fc3.json"):
        obj = json.loads((EVENTS / name).read_text())["events"][0]["oss"]
        data = stored[(obj["bucket"]["name"], obj["object"]["key"])]
        assert obj["object"]["eTag"] == hashlib.md5(data).hexdigest().upper()
        assert obj["object"]["size"] == len(data)


def test_deploy_hook_reads_the_oss_server_given_with_oss_endpoint(ws, oss: Oss, tmp_path):
    """--oss-endpoint: no local OSS is started; the manifest comes from the server named."""
    manifest = b'{"disk_ids": ["d-web-02-data"], "reason": "elsewhere"}'
    event = oss.put("releases/web/given/manifest.json", manifest)
    (ws / "given.json").write_text(json.dumps(event))
    argv = ["local", "invoke", "deploy_hook", "--event", "given.json", "--json", "-q"]
    result = snapstack(*argv, "--oss-endpoint", oss.endpoint, cwd=ws)
    assert result.returncode == exitcodes.OK, result.stderr
    created = [d["disk_id"] for d in parse_json(result.stdout)["disks"] if d["outcome"] == "created"]
    assert created == ["d-web-02-data"]


def test_objects_replaces_the_sample_objects(ws, tmp_path):
    manifest = b'{"disk_ids": ["d-web-02-data", "d-web-02-system"]}'
    (tmp_path / "objects" / BUCKET / "releases" / "web" / "mine").mkdir(parents=True)
    (tmp_path / "objects" / BUCKET / "releases" / "web" / "mine" / "manifest.json").write_bytes(manifest)
    event = json.loads((EVENTS / "oss_put_object.json").read_text())
    obj = event["events"][0]["oss"]["object"]
    obj.update(key="releases/web/mine/manifest.json", eTag=hashlib.md5(manifest).hexdigest().upper())
    (ws / "mine.json").write_text(json.dumps(event))
    argv = ["local", "invoke", "deploy_hook", "--event", "mine.json", "--json", "-q"]
    result = snapstack(*argv, "--objects", str(tmp_path / "objects"), cwd=ws)
    assert result.returncode == exitcodes.OK, result.stderr
    created = sorted(d["disk_id"] for d in parse_json(result.stdout)["disks"] if d["outcome"] == "created")
    assert created == ["d-web-02-data", "d-web-02-system"]


# --- prune through local invoke --------------------------------------------------------------------

RETENTION_FLEET = ROOT / "devkit" / "emulator" / "fixtures" / "retention_fleet.json"


def test_local_invoke_prune_prints_one_line_per_policy(ws):
    argv = ["local", "invoke", "prune", "--event", "events/timer.json", "--fleet", str(RETENTION_FLEET)]
    human = snapstack(*argv, "-q", cwd=ws)
    assert human.returncode == exitcodes.OK, human.stderr
    head, line = human.stdout.splitlines()
    assert head == "prune:"
    # the stack's first run of a policy is a dry run (handlers/prune.py): nothing deleted yet
    assert line.startswith("  policy daily (dry_run): 2 disk(s), ") and "deleted 0" in line
    as_json = parse_json(snapstack(*argv, "--json", "-q", cwd=ws).stdout)
    (policy,) = as_json["policies"]
    assert policy["mode"] == "apply" and policy["deleted"] >= 1  # the second run applies


def test_prune_refuses_a_now_that_is_no_time_as_a_usage_mistake(ws):
    result = snapstack("prune", "--policy", "daily", "--now", "garbage", cwd=ws)
    assert result.returncode == exitcodes.USAGE and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "argument --now: 'garbage' is not an ISO 8601 time (e.g. 2026-11-30T04:00:00Z)"
    )


def test_plan_points_prune_at_the_prune_command(ws):
    result = snapstack("plan", "--function", "prune", "--event", "events/timer.json", cwd=ws)
    assert result.returncode == exitcodes.USAGE
    assert "`snapstack prune --policy NAME`" in one_line_error(result, "plan")


# --- usage mistakes: one line, exit 2, nothing run -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "command", "says"),
    [
        (
            [*TIMER[:3], "--event", "events/nope.json"],
            "local invoke",
            "cannot read the event file events/nope.json",
        ),
        (
            ["local", "invoke", "nosuch", "--event", "events/timer.json"],
            "local invoke",
            "no function 'nosuch'",
        ),
        ([*TIMER, "--endpoint", "127.0.0.1:9"], "local invoke", "--endpoint needs credentials"),
        ([*TIMER, "--token-table", "ftp://x"], "local invoke", "--token-table: unsupported token table URL"),
        ([*TIMER, "--fleet", "events/timer.json"], "local invoke", "is not a fleet"),
        ([*TIMER, "--fleet", "nope.json"], "local invoke", "cannot read the fleet file nope.json"),
        (
            ["local", "invoke", "deploy_hook", "--event", "events/oss_put_object.json", "--objects", "nope"],
            "local invoke",
            "--objects nope is not a folder",
        ),
        (["plan", "--event", "events/nope.json"], "plan", "cannot read the event file"),
        (["plan", "--function", "nosuch", "--event", "events/timer.json"], "plan", "no function 'nosuch'"),
        (["demo", "--event", "events/mns_topic_stream_raw.txt"], "demo", "is not JSON"),
        (["validate", "--function", "nosuch"], "validate", "no function 'nosuch'"),
        (["prune", "--policy", "daily", "--function", "nosuch"], "prune", "no function 'nosuch'"),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(ws, argv, command, says):
    result = snapstack(*argv, cwd=ws)
    assert result.returncode == exitcodes.USAGE
    assert says in one_line_error(result, command)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (TIMER, "local invoke"),
        (["plan", "--event", "events/timer.json"], "plan"),
        (["demo"], "demo"),
        (["validate"], "validate"),
    ],
)
def test_outside_the_repository_says_where_to_run(tmp_path, argv, command):
    result = snapstack(*argv, cwd=tmp_path)
    assert result.returncode == exitcodes.USAGE
    line = one_line_error(result, command)
    assert f"no stack template at {tmp_path}: run snapstack from the repository root" in line


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"key_id": "LTAI-nobody"}, "InvalidAccessKeyId.NotFound"),
        ({"secret": "wrong"}, "SignatureDoesNotMatch"),
    ],
)
def test_wrong_credentials_are_a_tool_error(ws, change, code):
    with EcsEmulator() as emulator:
        args = endpoint_args(emulator, secret=change.get("secret"))
        if "key_id" in change:
            args[args.index("--access-key-id") + 1] = change["key_id"]
        result = snapstack(*TIMER, *args, "-q", cwd=ws)
        assert emulator.calls("CreateSnapshot") == 0
    assert result.returncode == exitcodes.TOOL_ERROR
    assert f"refused the credentials ({code}" in one_line_error(result, "local invoke")


def test_given_credentials_from_the_environment_are_used(ws):
    with EcsEmulator() as emulator:
        creds = emulator.credentials
        env = environment(
            ALIBABA_CLOUD_ACCESS_KEY_ID=creds.access_key_id,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=creds.access_key_secret,
            **({"ALIBABA_CLOUD_SECURITY_TOKEN": creds.security_token} if creds.security_token else {}),
        )
        result = snapstack(*TIMER, "--endpoint", f"http://{emulator.endpoint}", "-q", cwd=ws, env=env)
        assert emulator.calls("CreateSnapshot") == 8
    assert result.returncode == exitcodes.FAILED and result.stderr == ""


def test_an_invocation_the_function_stopped_shows_its_disks_and_is_a_tool_error(ws):
    """An account-level answer stops the invocation (FC retries it): its disks, then one line."""
    with EcsEmulator() as emulator:
        emulator.faults.configure(
            {"apis": {"CreateSnapshot": {"errors": [{"code": "InvalidAccountStatus.NotEnoughBalance"}]}}}
        )
        args = endpoint_args(emulator)
        result = snapstack(*TIMER, *args, "--json", "-q", cwd=ws, env=with_policy("d-web-01-data"))
    assert result.returncode == exitcodes.TOOL_ERROR
    assert [d["disk_id"] for d in parse_json(result.stdout)["disks"]] == ["d-web-01-data"]
    line = one_line_error(subprocess.CompletedProcess([], 0, "", result.stderr), "local invoke")
    assert "the function stopped the invocation: InvalidAccountStatus.NotEnoughBalance" in line


def test_an_unreachable_endpoint_is_a_tool_error(ws):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    args = ["--endpoint", f"127.0.0.1:{port}", "--access-key-id", "a", "--access-key-secret", "b", "-q"]
    result = snapstack(*TIMER, *args, cwd=ws, env=environment(SNAPSTACK_RETRY_MAX_ATTEMPTS="1"))
    assert result.returncode == exitcodes.TOOL_ERROR
    assert f"could not reach ECS at 127.0.0.1:{port}" in one_line_error(result, "local invoke")


@pytest.mark.parametrize("server", ["emulator", "tablestore"])
def test_a_port_in_use_is_one_line(ws, server):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = snapstack(server, "start", "--port", str(port), cwd=ws)
    assert result.returncode == exitcodes.USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(result, server)


# --- plan: what the next run would do, from the token table ----------------------------------------


def plan_json(ws: Path, *argv: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = snapstack("plan", "--event", "events/timer.json", "--json", "-q", *argv, cwd=ws, env=env)
    assert result.returncode == exitcodes.OK, result.stderr
    return parse_json(result.stdout)


def test_plan_reads_the_token_table(ws):
    before = plan_json(ws)
    assert before["counts"] == {"create": 8}
    assert snapstack(*TIMER, "-q", cwd=ws).returncode == exitcodes.FAILED
    after = plan_json(ws)
    assert after["counts"] == {"already_done": 7, "failed_earlier": 1}
    by_disk = {d["disk_id"]: d for d in after["disks"]}
    assert by_disk["d-locked-01-system"]["detail"] == "InstanceLockedForSecurity (not retried)"
    assert (
        by_disk["d-web-01-data"]["detail"].startswith("s-") and by_disk["d-web-01-data"]["state"] == "created"
    )
    assert [d["token"] for d in before["disks"]] == [d["token"] for d in after["disks"]]


def test_plan_tells_claims_held_elsewhere_and_retryable_failures(ws):
    tokens = {d["disk_id"]: d["token"] for d in plan_json(ws)["disks"]}
    table = open_table(f"sqlite:///{ws}/.snapstack/tokens.db")
    try:
        table.claim(tokens["d-web-01-data"], "another-invocation")
        table.claim(tokens["d-web-02-data"], "earlier")
        table.fail(tokens["d-web-02-data"], "earlier", "Throttling", retryable=True)
        table.claim(tokens["d-db-01-data"], "earlier")
        table.fail(tokens["d-db-01-data"], "earlier", "DiskInArrears", retryable=False)
    finally:
        table.close()
    result = snapstack("plan", "--event", "events/timer.json", "-q", cwd=ws)
    assert result.returncode == exitcodes.OK
    header, _rule, *rows = result.stdout.splitlines()[1:-1]
    columns = [header.index(name) for name in ("instance", "next run", "detail")]
    for row in rows:  # aligned: every cell starts where its header does
        assert all(row[c - 2 : c] == "  " and row[c] != " " for c in columns), row
    by_disk = {row.split()[0]: row for row in rows}
    assert "in progress     claimed by another-invocation until " in by_disk["d-web-01-data"]
    assert "create          retries after Throttling" in by_disk["d-web-02-data"]
    assert "failed earlier  DiskInArrears (not retried)" in by_disk["d-db-01-data"]
    assert result.stdout.splitlines()[0].endswith(": 8 disk(s): create 6, in progress 1, failed earlier 1")


LATER, EPOCH = "2033-05-18T03:33:20Z", "1970-01-01T00:00:01Z"


@pytest.mark.parametrize(
    ("state", "fields", "expected"),
    [
        ("created", {"snapshot_id": "s-1"}, ("already_done", "s-1")),
        ("claimed", {"owner": "o", "lease_until": 2e9}, ("in_progress", f"claimed by o until {LATER}")),
        ("sent", {"owner": "o", "lease_until": 2e9}, ("in_progress", f"sent to ECS by o until {LATER}")),
        ("claimed", {"owner": "o", "lease_until": 1.0}, ("create", f"takes over o's claim, expired {EPOCH}")),
        (
            "sent",
            {"owner": "o", "lease_until": 1.0, "in_doubt": True},
            (
                "create",
                f"takes over o's sent request, expired {EPOCH}; "
                "looks the slot up at ECS first (a request may have reached it)",
            ),
        ),
        ("failed", {"error_code": "Throttling", "retryable": True}, ("create", "retries after Throttling")),
        (
            "failed",
            {"error_code": "DiskInArrears", "retryable": False},
            ("failed_earlier", "DiskInArrears (not retried)"),
        ),
        ("parked", {}, ("recorded", "recorded as 'parked'; the next run decides")),  # a state added later
    ],
)
def test_each_token_state_reads_as_what_the_next_run_does(state, fields, expected):
    intent = Intent.model_construct(disk_id="d-1", instance_id="i-1", token="ss-t", request=None)
    record = TokenRecord.model_construct(token="ss-t", state=state, **fields)
    line = next_run(intent, record, now=1_800_000_000.0)
    assert (line.next, line.detail) == expected
    assert (line.token, line.state) == ("ss-t", state)


def test_plan_names_the_disks_outside_the_allow_list(ws):
    argv = ["--function", "alarm_snapshot", "--event", "events/cms_threshold_alarm.form"]
    result = snapstack("plan", *argv, "--json", "-q", cwd=ws)
    plan = parse_json(result.stdout)
    assert plan["counts"] == {"create": 2, "denied": 7}
    denied = [d for d in plan["disks"] if d["next"] == "denied"]
    assert all(d["detail"].startswith("NotAllowed: ") for d in denied)


def test_plan_of_bad_input_exits_4(ws):
    (ws / "bad.json").write_text("{}")
    result = snapstack("plan", "--event", "bad.json", "--json", "-q", cwd=ws)
    assert result.returncode == exitcodes.BAD_INPUT
    assert parse_json(result.stdout)["ok"] is False


def test_plan_calls_no_create_snapshot(ws):
    with EcsEmulator() as emulator:
        result = snapstack("plan", "--event", "events/timer.json", "-q", *endpoint_args(emulator), cwd=ws)
        assert emulator.calls("CreateSnapshot") == 0 and emulator.calls("DescribeDisks") >= 1
    assert result.returncode == exitcodes.OK


# --- validate --------------------------------------------------------------------------------------


def test_validate_passes_the_shipped_stack(ws):
    result = snapstack("validate", "--json", cwd=ws)
    assert result.returncode == exitcodes.OK
    report = parse_json(result.stdout)
    assert report["ok"] and all(c["ok"] for c in report["checks"])
    checks = {(c["subject"], c["check"]) for c in report["checks"]}
    assert ("scheduled_backup", "timer trigger daily") in checks
    assert {("deploy_hook", "configuration"), ("alarm_snapshot", "handler")} <= checks
    assert {("prune", "handler"), ("prune", "configuration"), ("prune", "timer trigger prune")} <= checks
    assert {("reconciler", "handler"), ("reconciler", "configuration")} <= checks
    assert ("reconciler", "timer trigger reconcile") in checks


def test_validate_checks_the_policies_a_prune_timer_names(ws):
    template = (ws / "template.yml").read_text()
    (ws / "template.yml").unlink()  # a link to the repository's: this test's copy replaces it
    prune = template.index("TriggerName: prune\n")  # the prune timer's payload is the next one
    at = template.index("payload: ''", prune)
    (ws / "template.yml").write_text(
        template[:at] + 'payload: \'{"policy": "hourly"}\'' + template[at + len("payload: ''") :]
    )
    result = snapstack("validate", "--function", "prune", cwd=ws)
    assert result.returncode == exitcodes.BAD_INPUT
    (failed,) = [line for line in result.stdout.splitlines() if line.startswith("error")]
    assert "timer trigger prune" in failed and "no policy named ['hourly']" in failed


@pytest.mark.parametrize(
    ("env", "check", "says"),
    [
        (
            {"SNAPSTACK_CONFIG_JSON": '{"policies": [{"name": "x"}]}'},
            "configuration",
            "SNAPSTACK_CONFIG_JSON: ",
        ),
        (
            {"SNAPSTACK_CONFIG_JSON": '{"policies": [{"name": "x", "selector": {"all_disks": true}}]}'},
            "timer trigger daily",
            "no policy named 'daily'",
        ),
        ({"SNAPSTACK_LEASE_SECONDS": "soon"}, "environment", "SNAPSTACK_LEASE_SECONDS"),
        ({"SNAPSTACK_MAX_DELIVERIES": "0"}, "environment", "SNAPSTACK_MAX_DELIVERIES"),
        ({"SNAPSTACK_RETRY_MAX_ATTEMPTS": "many"}, "environment", "SNAPSTACK_RETRY_*"),
        ({"SNAPSTACK_LOG_LEVEL": "LOUD"}, "environment", "SNAPSTACK_LOG_LEVEL"),
    ],
)
def test_validate_finds_a_broken_configuration_offline(ws, env, check, says):
    result = snapstack("validate", "--function", "scheduled_backup", cwd=ws, env=environment(**env))
    assert result.returncode == exitcodes.BAD_INPUT
    failed = [line for line in result.stdout.splitlines() if line.startswith("error")]
    assert len(failed) >= 1 and any(check in line and says in line for line in failed), result.stdout
    assert result.stdout.splitlines()[-1].endswith("check(s) failed (offline: no cloud call made)")


# --- progress: on a terminal only ------------------------------------------------------------------


def on_a_terminal(ws: Path, *argv: str) -> tuple[int, str, bytes]:
    """Run with stderr on a pseudo-terminal (120 columns): exit code, stdout, the terminal's bytes."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [str(SNAPSTACK), *argv], cwd=ws, env=environment(), stdout=subprocess.PIPE, stderr=child, text=True
    )
    os.close(child)
    stdout = process.stdout.read() if process.stdout else ""
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=120), stdout, b"".join(chunks)


@pytest.mark.parametrize(
    ("argv", "label", "unit"),
    [
        ([*TIMER, "-q"], b"scheduled_backup: ", b" disk"),
        (["plan", "--event", "events/timer.json", "-q"], b"plan: ", b" disk"),
        (
            ["prune", "--policy", "daily", "--apply", "--fleet", str(RETENTION_FLEET)],
            b"prune: ",
            b" snapshot",
        ),
    ],
)
def test_a_progress_line_on_a_terminal(ws, argv, label, unit):
    code, stdout, terminal = on_a_terminal(ws, *argv)
    assert code in (exitcodes.OK, exitcodes.FAILED)
    assert label in terminal and unit in terminal and b"\r" in terminal  # redrawn in place
    assert "\r" not in stdout  # the result is untouched


def test_the_readme_names_no_flag_the_parser_lacks():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Local tools") : readme.index("## Deploying")]
    help_text = "".join(
        snapstack(*cmd, "--help", cwd=ROOT).stdout
        for cmd in (
            ["local", "invoke"],
            ["plan"],
            ["demo"],
            ["validate"],
            ["emulator", "start"],
            ["tablestore", "start"],
            ["tokens", "ls"],
            ["prune"],
        )
    )
    flags = {flag for flag in _flags(section) if flag not in {"--help"}}
    assert flags and all(flag in help_text for flag in flags), sorted(f for f in flags if f not in help_text)


def _flags(text: str) -> set[str]:
    import re

    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))
