"""alarm_signals: every alarm carrier -> AlarmSignal, with state, targets and dedupe id pinned."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from snapstack.events import (
    AlarmSignal,
    CloudEvent,
    EcsSystemEvent,
    EventDecodeError,
    MnsMessage,
    alarm_signals,
    decode_event,
)
from tests.events.conftest import as_bytes, raw, sample

UTC = timezone.utc
INSTANCE, DISK = "i-web-01", "d-web-01-system"
RULE = "snapstack_web01_disk_usage"


def signals(name: str, **kw: Any) -> list[AlarmSignal]:
    return alarm_signals(decode_event(raw(name), expect="alarm", **kw))


def test_threshold_alarm_form():
    (sig,) = signals("cms_threshold_alarm.form")
    assert (sig.source, sig.rule, sig.state) == ("cms_alarm", RULE, "ALERT")
    assert sig.instance_ids == (INSTANCE,)
    assert sig.disk_ids == ()
    assert sig.detail["dimensions"]["device"] == "/dev/vda1"
    assert sig.occurred_at == datetime(2026, 11, 27, 9, 53, 1, 433000, tzinfo=UTC)
    assert sig.dedupe_id == f"cms:{RULE}:1795773181433:ALERT"
    assert sig.detail["transport"] == "direct" and sig.detail["delivery_id"] is None
    assert sig.detail["metric_name"] == "diskusage_utilization"
    assert sig.detail["cur_value"] == "95.2"


def test_threshold_alarm_json():
    (sig,) = signals("cms_threshold_alarm.json")
    assert sig.instance_ids == (INSTANCE,)
    assert sig.disk_ids == (DISK,)
    assert sig.occurred_at == datetime(2026, 11, 27, 9, 48, tzinfo=UTC)
    assert sig.dedupe_id == f"cms:{RULE}:1795772880000:ALERT"


def test_recovery_keeps_its_state_and_a_distinct_dedupe_id():
    value = sample("cms_threshold_alarm.json") | {"alertState": "OK"}
    (sig,) = alarm_signals(decode_event(as_bytes(value)))
    assert sig.state == "OK"
    assert sig.dedupe_id == f"cms:{RULE}:1795772880000:OK"


def test_seconds_and_milliseconds_of_one_moment_share_a_dedupe_id():
    value = sample("cms_threshold_alarm.json")
    (a,) = alarm_signals(decode_event(as_bytes(value)))
    (b,) = alarm_signals(decode_event(as_bytes(value | {"timestamp": value["timestamp"] * 1000})))
    assert a.dedupe_id == b.dedupe_id and a.occurred_at == b.occurred_at


def test_system_event():
    (sig,) = signals("cms_system_event.json")
    assert (sig.source, sig.rule, sig.state) == (
        "system_event",
        "Instance:SystemFailure.Reboot:Executing",
        "ALERT",
    )
    assert sig.instance_ids == (INSTANCE,)
    assert sig.occurred_at == datetime(2026, 11, 26, 19, 15, 12, 47000, tzinfo=UTC)
    assert sig.dedupe_id == "ecs-event:0E9D8C7B-6A5F-4E3D-2C1B-0A9F8E7D6C5B"
    assert sig.detail["level"] == "CRITICAL"


def test_eventbridge_ecs_event():
    (sig,) = signals("eventbridge_ecs_instance_state_change.json")
    assert (sig.rule, sig.state) == ("Instance:StateChange", "ALERT")
    assert sig.instance_ids == (INSTANCE,)
    assert sig.dedupe_id == "ce:acs.ecs#4b8e2f1a-9c3d-4e7b-a6f5-0d1c2b3a4e5f"
    assert sig.detail["transport"] == "eventbridge"


def test_eventbridge_ecs_event_wrapping_the_cms_notification():
    event = sample("eventbridge_ecs_instance_state_change.json")
    event["data"] = sample("mns_topic_stream_attrs.json")["body"]
    event["data"] = json.loads(event["data"])
    (sig,) = alarm_signals(decode_event(as_bytes(event)))
    assert (sig.rule, sig.state, sig.instance_ids) == ("Instance:StateChange", "ALERT", (INSTANCE,))
    # The wrapped notification's own time wins over the envelope's.
    assert sig.occurred_at == datetime(2026, 11, 27, 9, 45, 2, 318000, tzinfo=UTC)
    system = EcsSystemEvent.from_cloudevent(CloudEvent.from_json(event))
    assert system.level == "INFO"
    assert system.content == {
        "resourceId": INSTANCE,
        "resourceType": "ALIYUN::ECS::Instance",
        "state": "Stopped",
    }


def test_mns_topic_json_carrying_a_system_event():
    (sig,) = signals("mns_topic_json.json")
    assert (sig.rule, sig.state) == ("Instance:SystemMaintenance.Reboot:Scheduled", "ALERT")
    assert sig.instance_ids == (INSTANCE,)
    assert sig.dedupe_id == "ecs-event:C3E8D2A1-5F64-4B7C-8E9D-0A1B2C3D4E5F"
    assert sig.detail["delivery_id"] == "5F2C8A91D3B74E6F0A1B2C3D4E5F6071"
    assert sig.detail["transport"] == "mns_topic"


def test_mns_topic_json_attrs_carrying_a_threshold_alarm():
    (sig,) = signals("mns_topic_json_attrs.json")
    assert (sig.source, sig.state, sig.instance_ids, sig.disk_ids) == (
        "cms_alarm",
        "ALERT",
        (INSTANCE,),
        (DISK,),
    )
    assert sig.detail["delivery_id"] == "8B3D9E02F4C15A7B1C2D3E4F50617283"


def test_mns_stream_attrs_carrying_a_state_change():
    (sig,) = signals("mns_topic_stream_attrs.json")
    assert (sig.rule, sig.state, sig.instance_ids) == ("Instance:StateChange", "ALERT", (INSTANCE,))
    assert sig.dedupe_id == "ecs-event:7A1F3C52-0B4D-4E8A-9C21-6D5E4F3A2B10"


def test_mns_body_published_as_base64():
    body = base64.b64encode(sample("mns_topic_stream_attrs.json")["body"].encode()).decode()
    value = sample("mns_topic_json.json") | {"Message": body}
    value["MessageMD5"] = hashlib.md5(body.encode()).hexdigest().upper()
    (sig,) = alarm_signals(decode_event(as_bytes(value)))
    assert sig.rule == "Instance:StateChange"


def test_mns_md5_over_the_decoded_bytes_is_accepted_too():
    text = sample("mns_topic_stream_attrs.json")["body"]
    value = sample("mns_topic_json.json") | {"Message": base64.b64encode(text.encode()).decode()}
    value["MessageMD5"] = hashlib.md5(text.encode()).hexdigest()  # lower case, over the decoded body
    event = decode_event(as_bytes(value))
    assert isinstance(event, MnsMessage)


def test_form_encoded_alarm_inside_an_mns_stream_body():
    event = decode_event(raw("cms_threshold_alarm.form"), expect="mns")
    assert isinstance(event, MnsMessage) and event.form == "stream"
    (sig,) = alarm_signals(event)
    assert sig.dedupe_id == f"cms:{RULE}:1795773181433:ALERT"
    assert sig.detail["transport"] == "mns_topic"


def test_mns_queue_batch():
    sigs = signals("eventbridge_mns_queue_batch.json")
    assert [(s.rule, s.state) for s in sigs] == [
        ("Instance:StateChange", "ALERT"),
        ("Snapshot:CreateSnapshotCompleted", "INFO"),
    ]
    assert sigs[0].instance_ids == (INSTANCE,) and sigs[0].disk_ids == ()
    assert sigs[1].instance_ids == () and sigs[1].disk_ids == (DISK,)
    assert [s.detail["delivery_id"] for s in sigs] == [
        "C6DB60D1574661357FA2272774450001",
        "C6DB60D1574661357FA2272774450002",
    ]
    assert {s.detail["transport"] for s in sigs} == {"mns_queue"}


def test_rocketmq_batch():
    (sig,) = signals("eventbridge_rocketmq_batch.json")
    assert (sig.source, sig.disk_ids, sig.detail["delivery_id"]) == (
        "cms_alarm",
        (DISK,),
        "AC14C305069E1B28CDFA3181CDA20001",
    )


def test_kafka_batch_parsed_and_binary_values():
    sigs = signals("eventbridge_kafka_batch.json")
    assert [s.rule for s in sigs] == ["Instance:StateChange", "Instance:SystemMaintenance.Reboot:Scheduled"]
    assert sigs[0].detail["delivery_id"] == "snapstack-alarms/3/1207"
    batch = sample("eventbridge_kafka_batch.json")
    for element in batch:  # the Binary data format: base64 of the JSON text
        element["data"]["value"] = base64.b64encode(json.dumps(element["data"]["value"]).encode()).decode()
    assert [s.dedupe_id for s in alarm_signals(decode_event(as_bytes(batch)))] == [s.dedupe_id for s in sigs]
    for element in batch:  # the Text data format: the JSON text itself
        element["data"]["value"] = base64.b64decode(element["data"]["value"]).decode()
    assert [s.dedupe_id for s in alarm_signals(decode_event(as_bytes(batch)))] == [s.dedupe_id for s in sigs]


def test_rabbitmq_batch():
    (sig,) = signals("eventbridge_rabbitmq_batch.json")
    assert sig.occurred_at == datetime(2026, 11, 27, 10, 7, 40, tzinfo=UTC)
    assert sig.detail["cur_value"] == "96.1"
    assert sig.detail["delivery_id"] == "f7622d51-e198-41de-a072-77c1ead70001"


def test_acs_ecs_cloudevent_inside_a_queue_message():
    inner = sample("eventbridge_ecs_instance_state_change.json")
    batch = sample("eventbridge_mns_queue_batch.json")[:1]
    batch[0]["data"]["messageBody"] = json.dumps(inner)
    (sig,) = alarm_signals(decode_event(as_bytes(batch)))
    assert sig.dedupe_id == "ce:acs.ecs#4b8e2f1a-9c3d-4e7b-a6f5-0d1c2b3a4e5f"
    assert sig.detail["delivery_id"] == "C6DB60D1574661357FA2272774450001"


def _system(name: str, level: str = "INFO", **content: Any) -> EcsSystemEvent:
    return EcsSystemEvent(
        id="e1",
        name=name,
        level=level,
        event_time=datetime(2026, 11, 27, tzinfo=UTC),
        content=content,
    )


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (_system("Instance:StateChange", state="Stopped"), "ALERT"),
        (_system("Instance:StateChange", state="Running"), "OK"),
        (_system("Instance:StateChange", state="Stopping"), "INFO"),
        (_system("Instance:StateChange", state="Deleted"), "INFO"),
        (_system("Instance:StateChange", "WARN", state="Running"), "ALERT"),
        (_system("Instance:SystemMaintenance.Reboot:Scheduled"), "ALERT"),
        (_system("Instance:SystemMaintenance.Reboot:Executed"), "OK"),
        (_system("Instance:SystemMaintenance.Reboot:Canceled"), "OK"),
        (_system("Instance:SystemMaintenance.Reboot", eventStatus="Avoided"), "OK"),
        (_system("Instance:SystemMaintenance.Reboot", eventStatus="Inquiring"), "ALERT"),
        (_system("Instance:SystemFailure.Reboot:Failed"), "ALERT"),
        (_system("Instance:PreemptibleInstanceInterruption"), "ALERT"),
        (_system("Snapshot:CreateSnapshotCompleted", result="accomplished"), "INFO"),
        (_system("Snapshot:CreateSnapshotCompleted", "CRITICAL", result="failed"), "ALERT"),
        (_system("Disk:DiskOperationCompleted"), "INFO"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v.name}/{v.level}/{v.content}",
)
def test_system_event_states(event, state):
    (sig,) = alarm_signals(event)
    assert sig.state == state


def test_instance_and_disk_ids_from_every_place_a_system_event_names_them():
    event = EcsSystemEvent(
        id="e2",
        name="Disk:DiskOperationCompleted",
        event_time=datetime(2026, 11, 27, tzinfo=UTC),
        resource_id="acs:ecs:cn-hangzhou:1234567890123456:disk/d-bp1demo0web01data",
        content={"resourceId": "d-bp1x", "diskId": DISK, "instanceId": INSTANCE},
    )
    (sig,) = alarm_signals(event)
    assert sig.instance_ids == (INSTANCE,)
    assert sig.disk_ids == ("d-bp1demo0web01data", DISK, "d-bp1x")
    typed = event.model_copy(
        update={"content": {"resourceId": "x-1", "resourceType": "ALIYUN::ECS::Instance"}}
    )
    assert alarm_signals(typed)[0].instance_ids == ("x-1",)
    assert alarm_signals(typed)[0].disk_ids == ("d-bp1demo0web01data",)


NO_ALARM = [
    ("timer.json", {}, "timer", "$", "timer events carry no alarm"),
    ("oss_put_object.json", {}, "oss", "$", "oss events carry no alarm"),
    ("mns_topic_stream_raw.txt", {}, "alarm", "$", "not a JSON object, nor base64 of one"),
]


@pytest.mark.parametrize(("name", "kw", "shape", "field", "rule"), NO_ALARM)
def test_events_without_an_alarm(name, kw, shape, field, rule):
    with pytest.raises(EventDecodeError) as info:
        alarm_signals(decode_event(raw(name), **kw))
    assert (info.value.shape, info.value.field) == (shape, field)
    assert rule in info.value.rule


def _mns_json(message: str) -> bytes:
    value = sample("mns_topic_json.json") | {"Message": message}
    value["MessageMD5"] = hashlib.md5(message.encode()).hexdigest()
    return as_bytes(value)


@pytest.mark.parametrize(
    ("event", "shape", "field", "rule"),
    [
        (_mns_json('{"hello": "world"}'), "alarm", "Message", "not a CMS alarm, an ECS system event"),
        (_mns_json("[1, 2]"), "alarm", "Message", "not a JSON object"),
        (_mns_json('{"alertState": "ALERT"}'), "cms_alarm", "Message.ruleId", "is required"),
        (
            _mns_json('{"specversion": "1.0", "id": "1", "source": "acs.oss", "type": "x"}'),
            "cloudevent",
            "Message.source",
            "only acs.ecs CloudEvents",
        ),
        (
            _mns_json('{"ver": "1.0", "product": "ECS", "eventTime": "now"}'),
            "system_event",
            "Message.id",
            "is required",
        ),
        (_mns_json('{"a": '), "alarm", "Message", "invalid JSON"),
        (as_bytes({"body": "{}", "attrs": {}}), "alarm", "body", "keys: none"),
    ],
)
def test_carriers_whose_body_is_not_an_alarm(event, shape, field, rule):
    with pytest.raises(EventDecodeError) as info:
        alarm_signals(decode_event(event))
    assert (info.value.shape, info.value.field) == (shape, field), str(info.value)
    assert rule in info.value.rule


def test_binary_stream_body_carries_no_alarm():
    event = decode_event(b"\xff\xfe\x00binary", expect="mns")
    with pytest.raises(EventDecodeError, match="binary, not text"):
        alarm_signals(event)


def test_one_bad_element_fails_the_batch_and_names_it():
    batch = sample("eventbridge_mns_queue_batch.json")
    batch[1]["data"]["messageBody"] = "just text"
    with pytest.raises(EventDecodeError) as info:
        alarm_signals(decode_event(as_bytes(batch)))
    assert info.value.field == "[1].data.messageBody"


def test_stream_element_of_another_kind_carries_no_alarm():
    batch = copy.deepcopy(sample("eventbridge_kafka_batch.json"))
    batch[0]["type"] = "dts:ConsumeMessage"
    with pytest.raises(EventDecodeError) as info:
        alarm_signals(decode_event(as_bytes(batch)))
    assert (info.value.field, "neither an acs.ecs event nor a queue message" in info.value.rule) == (
        "[0].type",
        True,
    )
