"""scheduled_backup end to end: once per slot, whatever the delivery."""

from __future__ import annotations

import json
import socket

import pytest

from snapstack.config import ConfigError
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.tokens.slots import client_token, slot_key
from tests.contract import DISPOSITIONS, INVOCATION, OUTCOME, RETRY

from .conftest import EVENTS, Runner, _tags, all_calls, deliver_at_once, ours, timer_event

# The sample fleet's disks tagged backup=daily; i-locked-01 is security-locked.
DAILY = {
    "d-web-01-system",
    "d-web-01-data",
    "d-web-02-system",
    "d-web-02-data",
    "d-db-01-system",
    "d-db-01-data",
    "d-shared-01",
}
LOCKED = "d-locked-01-system"


def outcomes(summary):
    return {d["disk_id"]: d["outcome"] for d in summary["disks"]}


def test_first_run_creates_second_run_deduplicates(run, emulator):
    first = run("scheduled_backup", (EVENTS / "timer.json").read_bytes())
    assert first.summary["ok"] and not first.incomplete
    assert (first.summary["created"], first.summary["failed"]) == (len(DAILY), 1)
    assert outcomes(first.summary) == {**dict.fromkeys(DAILY, "created"), LOCKED: "failed"}
    assert {s["disk_id"] for s in ours(emulator)} == DAILY
    calls = emulator.calls("CreateSnapshot")

    second = run("scheduled_backup", (EVENTS / "timer.json").read_bytes())
    assert (second.summary["created"], second.summary["deduplicated"]) == (0, len(DAILY))
    assert emulator.calls("CreateSnapshot") == calls  # not one more call
    assert len(ours(emulator)) == len(DAILY)
    created = {d["disk_id"]: d["snapshot_id"] for d in first.summary["disks"] if d["outcome"] == "created"}
    again = {
        d["disk_id"]: d["snapshot_id"] for d in second.summary["disks"] if d["outcome"] == "deduplicated"
    }
    assert again == created


def test_each_snapshot_carries_provenance_policy_and_copied_tags(run, emulator, stack):
    summary = run("scheduled_backup", timer_event()).summary
    token_of = {d["disk_id"]: d["token"] for d in summary["disks"]}
    for snap in ours(emulator):
        tags = _tags(snap)
        disk = snap["disk_id"]
        assert tags["snapstack:policy"] == "daily" and tags["snapstack:trigger"] == "timer"
        assert tags["snapstack:slot"] == token_of[disk]
        assert tags["snapstack:stack"] == stack.service_name  # whose retention may prune it
        assert tags["managed-by"] == "snapstack" and tags["backup"] == "daily"  # configured, copied
        assert snap["retention_days"] is None  # the policy's retention prunes them (functions/prune)
        assert snap["name"] == f"snapstack-daily-20261128-{disk}"  # 20:00Z is 04:00 on the 28th in Shanghai
        CreateSnapshotRequest(disk_id=disk, snapshot_name=snap["name"])  # passes every rule


def test_token_is_the_documented_derivation_of_the_slot(run, stack):
    summary = run("scheduled_backup", timer_event()).summary
    disk = "d-web-01-data"
    namespace = {"ns_stack": stack.service_name, "ns_function": "scheduled_backup", "ns_policy": "daily"}
    expected = client_token(slot_key("timer", policy="daily", slot="2026-11-28", disk=disk, **namespace))
    assert expected.startswith("ss2-")
    assert {d["disk_id"]: d["token"] for d in summary["disks"]}[disk] == expected


@pytest.mark.parametrize("late", ["2026-11-28T03:00:00Z", "2026-11-28T15:59:59Z"])
def test_a_late_or_repeated_fire_in_the_same_local_day_makes_nothing_new(run, emulator, late):
    run("scheduled_backup", timer_event("2026-11-27T20:00:00Z"))
    again = run("scheduled_backup", timer_event(late)).summary
    assert again["created"] == 0 and again["deduplicated"] == len(DAILY)
    assert len(ours(emulator)) == len(DAILY)


def test_the_next_local_day_is_a_new_slot(run, emulator):
    emulator.state.clock.advance(3600)  # let the first snapshots finish before the next ones start
    run("scheduled_backup", timer_event("2026-11-27T20:00:00Z"))
    emulator.state.clock.advance(86400)
    nxt = run("scheduled_backup", timer_event("2026-11-28T16:00:00Z")).summary  # 00:00 on the 29th
    assert nxt["created"] == len(DAILY)


def test_the_same_event_delivered_concurrently_makes_one_snapshot_per_disk(run, emulator):
    results = deliver_at_once(run, "scheduled_backup", timer_event(), 4)
    assert len(ours(emulator)) == len(DAILY)
    assert sum(r.summary["created"] for r in results) == len(DAILY)
    for r in results:
        s = r.summary
        assert sum(s[k] for k in ("created", "deduplicated", "in_progress", "failed")) == len(DAILY) + 1
        assert r.incomplete == bool(s["in_progress"])  # in progress elsewhere -> FC delivers it again


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (b"", "$"),
        (b"\xff\xfe not an event", "$"),
        (b'{"triggerTime": "yesterday", "triggerName": "t"}', "triggerTime"),
        ((EVENTS / "oss_put_object.json").read_bytes(), "$"),
        (json.dumps(timer_event(policy="hourly")).encode(), "policy"),
        (json.dumps({**timer_event(), "payload": '{"policy": 7}'}).encode(), "policy"),
        (json.dumps(timer_event(policy=None)).encode(), "policy"),
    ],
)
def test_bad_input_is_one_clear_error_and_no_ecs_call(run, emulator, capfd, event, field):
    result = run("scheduled_backup", event)
    assert result.error is None and not result.incomplete  # no traceback, no retry
    summary = result.summary
    assert summary["ok"] is False and summary["error"]["rule"]
    assert field in summary["error"]["field"]
    assert all_calls(emulator) == 0
    errors = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1 and errors[0]["rule"] == summary["error"]["rule"]


def test_a_bad_policy_fails_the_invocation_before_anything_runs(run, emulator, config_json, capfd):
    """A broken configuration is not bad input (never retried, silent): the invocation raises."""
    config_json(
        {"policies": [{"name": "daily", "selector": {"all_disks": True}, "snapshot_name": "auto-{disk_id}"}]}
    )
    result = run("scheduled_backup", timer_event())
    assert result.summary is None and isinstance(result.exception, ConfigError)
    assert "policies.0" in result.exception.field and "auto" in result.exception.rule
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("level") == "ERROR"]
    assert [e["error_code"] for e in errors] == ["ConfigError"]
    assert [line["ConfigErrors"] for line in lines if "_aws" in line] == [1.0]
    assert all_calls(emulator) == 0


def single_disk_config():
    return {"policies": [{"name": "daily", "selector": {"disk_ids": ["d-web-01-data"]}}]}


@pytest.mark.parametrize("code", sorted(DISPOSITIONS))
def test_every_contract_code_ends_where_the_seed_says(run, emulator, config_json, code):
    # Expected outcomes come from tests/contract.py, written from the seed, not from ecs/errors.py.
    _, disposition = DISPOSITIONS[code]
    config_json(single_disk_config())
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": code}]}}})
    result = run("scheduled_backup", timer_event())
    if code in INVOCATION:
        # Account-level: every disk would fail alike, so the invocation fails for FC to retry later.
        assert result.error is not None and f"InvocationFailed: {code}" in result.error
        return
    (disk,) = result.summary["disks"]
    assert (disk["outcome"], disk["error_code"]) == (OUTCOME[disposition], code)
    assert result.incomplete == (disposition == RETRY)


def test_a_deferred_disk_is_done_by_the_retry_with_the_same_token(run, emulator, config_json):
    config_json(single_disk_config())
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 6}]}}})
    first = run("scheduled_backup", timer_event())
    assert first.incomplete and first.summary["deferred"] == 1
    retry = run("scheduled_backup", timer_event())
    assert retry.summary["created"] == 1 and not retry.incomplete
    assert len(ours(emulator)) == 1
    assert first.summary["disks"][0]["token"] == retry.summary["disks"][0]["token"]


def inline_event(policy):
    return {**timer_event(), "payload": json.dumps({"policy": policy})}


ADHOC = {"name": "adhoc", "selector": {"instance_ids": ["i-web-02"]}, "retention_days": 2}
OPT_IN = {
    "policies": [{"name": "daily", "selector": {"disk_tags": {"backup": "daily"}}}],
    "inline_policies": {
        "allow": {"disk_tags": {"backup": "daily"}},
        "max_retention_days": 30,
        "allowed_tag_keys": ["ticket"],
    },
}


def test_inline_policies_are_off_unless_the_configuration_opts_in(run, emulator):
    summary = run("scheduled_backup", inline_event(ADHOC)).summary  # the shipped configuration
    assert summary["ok"] is False and summary["error"]["field"] == "policy"
    assert "inline policies are off" in summary["error"]["rule"]
    assert all_calls(emulator) == 0


def test_an_inline_policy_within_the_limits_runs_and_only_narrows_the_allow_list(run, emulator, config_json):
    config_json(OPT_IN)
    summary = run("scheduled_backup", inline_event(ADHOC | {"tags": {"ticket": "OPS-1"}})).summary
    assert summary["ok"] and summary["policy"] == "adhoc"
    # i-web-02's disks tagged backup=daily are created; its others are outside the allow-list.
    assert created(summary) == {"d-web-02-system", "d-web-02-data"}
    denied = {d["disk_id"]: d["error_code"] for d in summary["disks"] if d["outcome"] == "denied"}
    assert denied and set(denied.values()) == {"NotAllowed"} and summary["denied"] == len(denied)
    assert {s["retention_days"] for s in ours(emulator)} == {2}
    assert {_tags(s)["ticket"] for s in ours(emulator)} == {"OPS-1"}


@pytest.mark.parametrize(
    ("policy", "refused"),
    [
        (ADHOC | {"retention_days": 0}, ("policy.retention_days", "greater than or equal to 1")),
        (ADHOC | {"retention_days": 65536}, ("policy.retention_days", "at most 30 days")),
        (ADHOC | {"retention_days": None}, ("policy.retention_days", "at most 30 days")),
        (
            {k: v for k, v in ADHOC.items() if k != "retention_days"} | {"tags": {"owner": "x"}},
            ("policy.tags", "owner"),
        ),
        (
            ADHOC | {"selector": {"all_disks": True}, "snapshot_name": "x-{disk_id}"},
            ("policy.snapshot_name", "only"),
        ),
        (ADHOC | {"concurrency": 64}, ("policy.concurrency", "from the configuration")),
        (ADHOC | {"name": "daily"}, ("policy.name", "configured policy's name")),
    ],
)
def test_an_inline_policy_outside_the_limits_is_refused_naming_its_field(
    run, emulator, config_json, policy, refused
):
    config_json(OPT_IN)
    summary = run("scheduled_backup", inline_event(policy)).summary
    field, rule = refused
    assert summary["ok"] is False and summary["error"]["field"] == field
    assert rule in summary["error"]["rule"]
    assert all_calls(emulator) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"policy": "daily", "retention_days": 30}, "retention_days"),
        ({"policy": "daily", "Policy": "weekly"}, "Policy"),
        ({"retention_days": 30}, "retention_days"),
    ],
)
def test_unknown_keys_in_the_timer_payload_are_an_error(run, emulator, payload, field):
    summary = run("scheduled_backup", {**timer_event(), "payload": json.dumps(payload)}).summary
    assert summary["ok"] is False and summary["error"]["field"] == field
    assert 'takes only "policy"' in summary["error"]["rule"]
    assert all_calls(emulator) == 0


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
    ],
)
def test_extreme_trigger_times_are_bad_input_not_a_traceback(run, emulator, when):
    result = run("scheduled_backup", timer_event(when))
    assert result.error is None and not result.incomplete
    assert result.summary["ok"] is False and result.summary["error"]["field"] == "triggerTime"
    assert all_calls(emulator) == 0


def test_a_template_with_an_unknown_placeholder_is_refused_when_the_configuration_loads(
    run, emulator, config_json
):
    policy = {"name": "daily", "selector": {"all_disks": True}, "description": "backup of {disk} ({policy})"}
    config_json({"policies": [policy]})
    result = run("scheduled_backup", timer_event())
    # a broken configuration fails the invocation (see the test above), it is not bad input
    assert result.summary is None and isinstance(result.exception, ConfigError)
    assert result.exception.field == "policies.0"
    assert "unknown placeholder {disk}" in result.exception.rule
    assert all_calls(emulator) == 0


def test_a_policy_that_selects_nothing_says_so(run, emulator, config_json):
    config_json({"policies": [{"name": "daily", "selector": {"disk_tags": {"backup": "never"}}}]})
    summary = run("scheduled_backup", timer_event()).summary
    assert summary["ok"] and summary["disks"] == []
    assert summary["notes"] == ["policy 'daily' selected no disks in region cn-hangzhou"]


def created(summary):
    return {d["disk_id"] for d in summary["disks"] if d["outcome"] == "created"}


def test_a_token_table_that_stops_answering_is_not_asked_again(stack, emulator, config_json):
    # A listening socket nobody serves: connections are accepted by the kernel, no reply ever comes,
    # as from a hung Redis. Only the claims already in flight when the first one timed out wait.
    policy = {"name": "daily", "selector": {"disk_tags": {"backup": "daily"}}, "concurrency": 2}
    config_json({"policies": [policy]})
    with socket.create_server(("127.0.0.1", 0), backlog=64) as hung:
        port = hung.getsockname()[1]
        url = f"redis://127.0.0.1:{port}/0?socket_timeout=0.2&socket_connect_timeout=0.2"
        result = Runner(stack, emulator, url)("scheduled_backup", timer_event())
    disks = [d for d in result.summary["disks"] if d["disk_id"] != LOCKED]  # LOCKED: refused at planning
    assert {d["disk_id"] for d in disks} == DAILY and result.incomplete
    assert {(d["outcome"], d["error_code"]) for d in disks} == {("deferred", "TokenTable.Unavailable")}
    assert all("no ECS call made" in d["message"] for d in disks)
    # The bulk read before the fan-out meets the outage first (after its retries): no claim waits.
    waited = [d for d in disks if "earlier in this invocation" not in d["message"]]
    assert len(waited) <= 2, waited  # at most one per worker: the claims in flight
    assert emulator.calls("CreateSnapshot") == 0
