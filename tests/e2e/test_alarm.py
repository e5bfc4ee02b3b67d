"""alarm_snapshot end to end: only ALERT acts, one snapshot per disk per cooldown whatever the rule,
one per alarm across its statuses and carriers, a daily cap, a batch planned once, allow-list kept."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from devkit.emulator.testing import EcsEmulator
from snapstack.handlers.cooldown import Cooldowns
from snapstack.tokens import open_table

from .conftest import EVENTS, Runner, all_calls, ours

WEB01_PROD = {"d-web-01-system", "d-web-01-data"}  # i-web-01's disks tagged env=prod
HOUR_START_MS = 1795770000 * 1000  # 2026-11-27T09:00:00Z


def cms_form(state: str = "ALERT", instance: str = "i-web-01", ts_ms: int = HOUR_START_MS + 300_000) -> bytes:
    return urlencode(
        {
            "alertName": "web01-disk-usage-high",
            "alertState": state,
            "curValue": "95.2",
            "dimensions": f"{{userId=1234567890123456, instanceId={instance}, device=/dev/vda1}}",
            "expression": "$Average>=90",
            "metricName": "diskusage_utilization",
            "metricProject": "acs_ecs_dashboard",
            "namespace": "acs_ecs_dashboard",
            "ruleId": "snapstack_web01_disk_usage",
            "timestamp": str(ts_ms),
            "userId": "1234567890123456",
            "regionId": "cn-hangzhou",
        }
    ).encode()


def created(summary):
    return {d["disk_id"] for d in summary["disks"] if d["outcome"] == "created"}


def test_an_alert_snapshots_the_instances_allowed_disks(run, emulator):
    summary = run("alarm_snapshot", cms_form()).summary
    assert summary["ok"] and created(summary) == WEB01_PROD
    denied = {d["disk_id"] for d in summary["disks"] if d["outcome"] == "denied"}
    assert denied and not denied & WEB01_PROD and summary["denied"] == len(denied)
    assert {d["error_code"] for d in summary["disks"] if d["outcome"] == "denied"} == {"NotAllowed"}
    assert summary["skipped"] == 0  # skipped is for disks with nothing to back up
    assert {s["disk_id"] for s in ours(emulator)} == WEB01_PROD


def test_the_same_alarm_within_the_cooldown_makes_nothing_new(run, emulator):
    run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 60_000))
    again = run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 50 * 60_000)).summary  # 49 min later
    assert again["created"] == 0 and again["deduplicated"] == len(WEB01_PROD)
    assert len(ours(emulator)) == len(WEB01_PROD)


def test_another_rule_within_the_cooldown_makes_nothing_new(run, emulator):
    """A cooldown is per disk, whatever the rule: a flood of rule ids gets one window."""
    run("alarm_snapshot", cms_form())
    other = cms_form().replace(b"ruleId=snapstack_web01_disk_usage", b"ruleId=someone-elses-rule")
    again = run("alarm_snapshot", other).summary
    assert again["created"] == 0 and again["deduplicated"] == len(WEB01_PROD)
    assert len(ours(emulator)) == len(WEB01_PROD)


def open_window_earlier(stack, run, seconds_ago: float, disk: str, **policy: Any) -> None:
    """What an earlier invocation left: the disk's window, opened ``seconds_ago`` by the table's clock."""
    table = open_table(run.token_table, clock=lambda: time.time() - seconds_ago)
    try:
        Cooldowns(
            table,
            namespace={"service": stack.service_name, "function": "alarm_snapshot", "policy": "alarm"},
            owner="earlier",
            period=timedelta(hours=1),
            zone=policy.get("zone", timezone.utc),
            cap=policy.get("cap", 6),
        ).assign(disk, ["an-earlier-alarm"], "cms_alarm earlier")
    finally:
        table.close()


def test_after_the_cooldown_the_alarm_acts_again(stack, run, emulator):
    for disk in WEB01_PROD:
        open_window_earlier(stack, run, 3601, disk)  # the window closed a second ago
    later = run("alarm_snapshot", cms_form()).summary
    assert created(later) == WEB01_PROD


def test_within_the_cooldown_of_an_earlier_window_nothing_is_new(stack, run, emulator):
    for disk in WEB01_PROD:
        open_window_earlier(stack, run, 3599, disk)
    summary = run("alarm_snapshot", cms_form()).summary
    # The earlier window's snapshot: this delivery carries it out (its record was not there yet).
    assert created(summary) == WEB01_PROD
    again = run("alarm_snapshot", cms_form(ts_ms=HOUR_START_MS + 9_000_000)).summary
    assert again["created"] == 0 and again["deduplicated"] == len(WEB01_PROD)
    names = {s["name"] for s in ours(emulator)}
    assert len(names) == len(WEB01_PROD)


def midday_zone() -> str:
    """An Etc/GMT zone where it is around noon now, so "today" has room for an earlier window."""
    offset = max(-12, min(14, 12 - datetime.now(timezone.utc).hour))
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


# The capped disk sorts after the other one, then before it: a denial never stops the disks after it.
@pytest.mark.parametrize(
    ("capped", "other"), [("d-web-01-system", "d-web-01-data"), ("d-web-01-data", "d-web-01-system")]
)
def test_the_daily_cap_denies_a_new_window(stack, run, config_json, capped, other):
    zone = midday_zone()
    config = json.loads((stack.function("alarm_snapshot").source / "snapstack.json").read_text())
    config["policy"]["time_zone"] = zone
    config["max_snapshots_per_day"] = 1
    config_json(config)
    open_window_earlier(stack, run, 2 * 3600, capped, zone=ZoneInfo(zone), cap=1)
    summary = run("alarm_snapshot", cms_form()).summary
    outcome = {d["disk_id"]: (d["outcome"], d.get("error_code")) for d in summary["disks"]}
    assert outcome[capped] == ("denied", "AlarmCapReached")
    assert outcome[other] == ("created", None)  # its own first window today
    assert "max_snapshots_per_day" in next(d["message"] for d in summary["disks"] if d["disk_id"] == capped)


def test_ok_and_insufficient_data_do_nothing_and_say_what_they_carried(run, emulator):
    for state in ("OK", "INSUFFICIENT_DATA"):
        summary = run("alarm_snapshot", cms_form(state)).summary
        assert summary["ok"] and summary["disks"] == []
        (note,) = summary["notes"]
        assert f"carried alertState {state}" in note and "does not act" in note
    assert all_calls(emulator) == 0


def test_a_state_change_to_running_names_the_state_it_carried(run, emulator):
    event = json.loads((EVENTS / "eventbridge_ecs_instance_state_change.json").read_text())
    event["data"]["state"] = "Running"
    summary = run("alarm_snapshot", json.dumps(event)).summary
    assert summary["ok"] and summary["disks"] == []
    assert "carried state Running" in summary["notes"][0]
    assert all_calls(emulator) == 0


def test_an_instance_without_disks_in_the_region_says_so(run, emulator):
    summary = run("alarm_snapshot", cms_form(instance="i-nowhere-01")).summary
    assert summary["ok"] and summary["disks"] == []
    assert any("i-nowhere-01 has no disks in cn-hangzhou" in n for n in summary["notes"])
    assert emulator.calls("CreateSnapshot") == 0


def test_an_instance_outside_the_allow_list_is_refused(run, emulator):
    summary = run("alarm_snapshot", cms_form(instance="i-batch-01")).summary
    assert summary["disks"] and all(d["error_code"] == "NotAllowed" for d in summary["disks"])
    assert {d["outcome"] for d in summary["disks"]} == {"denied"}
    assert emulator.calls("CreateSnapshot") == 0


def test_an_ecs_event_through_eventbridge_acts_on_its_instance(run, emulator):
    event = {
        "id": "9d1c7f0e-1111-4e7b-a6f5-0d1c2b3a4e5f",
        "source": "acs.ecs",
        "specversion": "1.0",
        "type": "ecs:Instance:SystemMaintenance.Reboot",
        "subject": "acs:ecs:cn-hangzhou:1234567890123456:instance/i-web-01",
        "time": "2026-11-27T09:45:02.318Z",
        "datacontenttype": "application/json;charset=utf-8",
        "data": {
            "instanceId": "i-web-01",
            "eventType": "SystemMaintenance.Reboot",
            "eventStatus": "Scheduled",
        },
    }
    summary = run("alarm_snapshot", json.dumps(event)).summary
    assert summary["ok"] and created(summary) == WEB01_PROD


def test_garbage_is_one_clear_error_and_no_call(run, emulator):
    summary = run("alarm_snapshot", b"alertName=x&alertState=ALERT").summary  # no ruleId, no timestamp
    assert summary["ok"] is False and summary["error"]["rule"]
    assert all_calls(emulator) == 0


def mns_json(message: dict[str, Any], message_id: str) -> bytes:
    text = json.dumps(message)
    value = json.loads((EVENTS / "mns_topic_json.json").read_text())
    value.update(
        {"Message": text, "MessageMD5": hashlib.md5(text.encode()).hexdigest(), "MessageId": message_id}
    )
    return json.dumps(value).encode()


def test_one_maintenance_event_is_one_snapshot_across_statuses_and_transports(run, emulator):
    """MNS Reboot:Scheduled, MNS Reboot:Executing, then EventBridge without the status: one each."""
    scheduled = json.loads(json.loads((EVENTS / "mns_topic_json.json").read_text())["Message"])
    executing = copy.deepcopy(scheduled)
    executing.update({"id": "a-later-notification", "name": "Instance:SystemMaintenance.Reboot:Executing"})
    executing["content"]["eventStatus"] = "Executing"
    bridged = json.loads((EVENTS / "eventbridge_ecs_instance_state_change.json").read_text())
    bridged.update({"id": "an-eventbridge-id", "type": "ecs:Instance:SystemMaintenance.Reboot"})
    bridged["data"] = executing["content"]

    first = run("alarm_snapshot", mns_json(scheduled, "m-1")).summary
    assert created(first) == WEB01_PROD
    for event in (mns_json(executing, "m-2"), json.dumps(bridged)):
        again = run("alarm_snapshot", event).summary
        assert again["created"] == 0 and again["deduplicated"] == len(WEB01_PROD)
        assert any("already has the window" in n for n in again["notes"])
    assert len(ours(emulator)) == len(WEB01_PROD)


def test_a_batch_is_planned_once(run, emulator):
    """400 alarm elements for two instances: one DescribeDisks lookup, each disk once."""
    template = json.loads((EVENTS / "eventbridge_mns_queue_batch.json").read_text())[0]
    body = json.loads(template["data"]["messageBody"])
    elements = []
    for i in range(400):
        element = copy.deepcopy(template)
        element["id"] = f"element-{i}"
        instance = ("i-web-01", "i-web-02")[i % 2]
        message = copy.deepcopy(body) | {"id": f"notification-{i}"}
        message["resourceId"] = f"acs:ecs:cn-hangzhou:1234567890123456:instance/{instance}"
        message["content"]["resourceId"] = instance
        element["data"]["messageBody"] = json.dumps(message)
        elements.append(element)
    summary = run("alarm_snapshot", json.dumps(elements)).summary
    assert summary["ok"] and summary["unusable"] == []
    ids = [d["disk_id"] for d in summary["disks"]]
    assert len(ids) == len(set(ids))  # each disk once, whatever it ended as
    assert WEB01_PROD | {"d-web-02-system", "d-web-02-data"} <= created(summary)
    denied = [d for d in summary["disks"] if d["outcome"] == "denied"]
    assert denied and {d["error_code"] for d in denied} == {"NotAllowed"}
    assert emulator.calls("DescribeDisks") <= 2  # one paged region scan (the sample fleet: a page or two)
    assert emulator.calls("CreateSnapshot") == len(ids) - len(denied)
    (note,) = summary["notes"]  # 400 alarms from 2026-11-27: said once, for all of them
    assert note.startswith("elements 0-399: Instance:StateChange: the alarm's own time")


@pytest.mark.parametrize("bad", ["plain text", '{"hello": "world"}', ""])
def test_an_unusable_element_is_reported_and_the_good_one_acts(run, emulator, bad):
    batch = json.loads((EVENTS / "eventbridge_mns_queue_batch.json").read_text())
    batch[0]["data"]["messageBody"], batch[1]["data"]["messageBody"] = bad, batch[0]["data"]["messageBody"]
    summary = run("alarm_snapshot", json.dumps(batch)).summary
    assert summary["ok"] and created(summary) == WEB01_PROD
    assert [(u["index"], u["field"]) for u in summary["unusable"]] == [(0, "[0].data.messageBody")]


def test_a_batch_of_nothing_usable_is_bad_input_listing_every_element(run, emulator, capfd):
    batch = json.loads((EVENTS / "eventbridge_mns_queue_batch.json").read_text())
    for element in batch:
        element["data"]["messageBody"] = "test message"
    summary = run("alarm_snapshot", json.dumps(batch)).summary
    assert summary["ok"] is False and summary["error"]["field"] == "[0].data.messageBody"
    assert [u["index"] for u in summary["unusable"]] == [0, 1]
    assert all_calls(emulator) == 0


#: Each batch transport's sample and where its elements carry the message body.
TRANSPORTS = {
    "mns_queue": ("eventbridge_mns_queue_batch.json", "messageBody"),
    "rocketmq": ("eventbridge_rocketmq_batch.json", "body"),
    "kafka": ("eventbridge_kafka_batch.json", "value"),
    "rabbitmq": ("eventbridge_rabbitmq_batch.json", "body"),
}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_a_poison_element_costs_every_transport_nothing(stack, run, tmp_path, transport):
    """Each batch transport: the batch with a test message appended acts as the batch alone."""
    sample, body = TRANSPORTS[transport]
    batch = json.loads((EVENTS / sample).read_text())
    poison = copy.deepcopy(batch[0]) | {"id": "a-test-message"}
    poison["data"][body] = "test message"
    alone = run("alarm_snapshot", json.dumps(batch)).summary
    expected = {d["disk_id"]: d["outcome"] for d in alone["disks"]}
    assert alone["ok"] and alone["unusable"] == [] and "created" in expected.values()

    with EcsEmulator() as other:  # the same fleet, untouched, and a token table of its own
        poisoned = Runner(stack, other, f"sqlite:///{tmp_path}/poisoned.db")(
            "alarm_snapshot", json.dumps([*batch, poison])
        ).summary
    assert poisoned["ok"] and {d["disk_id"]: d["outcome"] for d in poisoned["disks"]} == expected
    (bad,) = poisoned["unusable"]
    assert (bad["index"], bad["field"]) == (len(batch), f"[{len(batch)}].data.{body}")
