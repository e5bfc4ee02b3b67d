"""alarm_signals: every alarm carrier -> AlarmSignal, with state, identity and targets pinned; batches
read element by element."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def read(event: Any) -> tuple[AlarmSignal, ...]:
    return alarm_signals(event).signals


def signals(name: str, **kw: Any) -> tuple[AlarmSignal, ...]:
    return read(decode_event(raw(name), expect="alarm", **kw))


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
    (sig,) = read(decode_event(as_bytes(value)))
    assert sig.state == "OK"
    assert sig.dedupe_id == f"cms:{RULE}:1795772880000:OK"


def test_seconds_and_milliseconds_of_one_moment_share_a_dedupe_id():
    value = sample("cms_threshold_alarm.json")
    (a,) = read(decode_event(as_bytes(value)))
    (b,) = read(decode_event(as_bytes(value | {"timestamp": value["timestamp"] * 1000})))
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
    # A failure event's identity is the platform's eventId, not the notification's own id.
    assert sig.dedupe_id == "ecs-system-event:e-bp1demo0fail01"
    assert (sig.carried, sig.detail["level"]) == ("status Executing", "CRITICAL")


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
    (sig,) = read(decode_event(as_bytes(event)))
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
    assert sig.dedupe_id == "ecs-system-event:e-bp1demo0maint01"
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
    (sig,) = read(decode_event(as_bytes(value)))
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
    (sig,) = read(event)
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
    assert [s.dedupe_id for s in read(decode_event(as_bytes(batch)))] == [s.dedupe_id for s in sigs]
    for element in batch:  # the Text data format: the JSON text itself
        element["data"]["value"] = base64.b64decode(element["data"]["value"]).decode()
    assert [s.dedupe_id for s in read(decode_event(as_bytes(batch)))] == [s.dedupe_id for s in sigs]


def test_rabbitmq_batch():
    (sig,) = signals("eventbridge_rabbitmq_batch.json")
    assert sig.occurred_at == datetime(2026, 11, 27, 10, 7, 40, tzinfo=UTC)
    assert sig.detail["cur_value"] == "96.1"
    assert sig.detail["delivery_id"] == "f7622d51-e198-41de-a072-77c1ead70001"


def test_acs_ecs_cloudevent_inside_a_queue_message():
    inner = sample("eventbridge_ecs_instance_state_change.json")
    batch = sample("eventbridge_mns_queue_batch.json")[:1]
    batch[0]["data"]["messageBody"] = json.dumps(inner)
    (sig,) = read(decode_event(as_bytes(batch)))
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
    (sig,) = read(event)
    assert sig.state == state


def test_instance_and_disk_ids_from_every_place_a_system_event_names_them():
    event = EcsSystemEvent(
        id="e2",
        name="Disk:DiskOperationCompleted",
        event_time=datetime(2026, 11, 27, tzinfo=UTC),
        resource_id="acs:ecs:cn-hangzhou:1234567890123456:disk/d-bp1demo0web01data",
        content={"resourceId": "d-bp1x", "diskId": DISK, "instanceId": INSTANCE},
    )
    (sig,) = read(event)
    assert sig.instance_ids == (INSTANCE,)
    assert sig.disk_ids == ("d-bp1demo0web01data", DISK, "d-bp1x")
    typed = event.model_copy(
        update={"content": {"resourceId": "x-1", "resourceType": "ALIYUN::ECS::Instance"}}
    )
    assert read(typed)[0].instance_ids == ("x-1",)
    assert read(typed)[0].disk_ids == ("d-bp1demo0web01data",)


NO_ALARM = [
    ("timer.json", {}, "timer", "$", "timer events carry no alarm"),
    ("oss_put_object.json", {}, "oss", "$", "oss events carry no alarm"),
    ("mns_topic_stream_raw.txt", {}, "alarm", "$", "not a JSON object, nor base64 of one"),
]


@pytest.mark.parametrize(("name", "kw", "shape", "field", "rule"), NO_ALARM)
def test_events_without_an_alarm(name, kw, shape, field, rule):
    with pytest.raises(EventDecodeError) as info:
        read(decode_event(raw(name), **kw))
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
        read(decode_event(event))
    assert (info.value.shape, info.value.field) == (shape, field), str(info.value)
    assert rule in info.value.rule


def test_binary_stream_body_carries_no_alarm():
    event = decode_event(b"\xff\xfe\x00binary", expect="mns")
    with pytest.raises(EventDecodeError, match="binary, not text"):
        read(event)


def test_one_bad_element_is_reported_and_costs_the_others_nothing():
    batch = sample("eventbridge_mns_queue_batch.json")
    alone = alarm_signals(decode_event(as_bytes(batch[:1]))).signals
    batch[1]["data"]["messageBody"] = "just text"
    reading = alarm_signals(decode_event(as_bytes(batch)))
    assert reading.signals == alone  # element 0 reads as if it came alone
    (bad,) = reading.unusable
    assert (bad.index, bad.field) == (1, "[1].data.messageBody")
    assert "not a JSON object" in bad.rule


def test_an_element_that_is_no_cloudevent_is_reported_by_index():
    batch = sample("eventbridge_mns_queue_batch.json")
    reading = alarm_signals(decode_event(as_bytes([42, batch[0], {"id": "x"}])))
    assert [s.index for s in reading.signals] == [1]
    assert [(u.index, u.field) for u in reading.unusable] == [(0, "[0]"), (2, "[2]")]
    assert all("is not a CloudEvent" in u.rule for u in reading.unusable)


def test_a_batch_with_nothing_usable_is_an_error_carrying_every_element():
    batch = copy.deepcopy(sample("eventbridge_kafka_batch.json"))
    for element in batch:
        element["type"] = "dts:ConsumeMessage"
    with pytest.raises(EventDecodeError) as info:
        read(decode_event(as_bytes(batch)))
    assert info.value.field == "[0].type"
    assert "neither an acs.ecs event nor a queue message" in info.value.rule
    assert f"{len(batch)} in all" in info.value.rule
    assert [e.index for e in info.value.elements] == list(range(len(batch)))


def test_an_mns_message_without_an_alarm_reports_its_body_as_element_zero():
    with pytest.raises(EventDecodeError) as info:
        read(decode_event(_mns_json("test message from console")))
    assert [(e.index, e.field) for e in info.value.elements] == [(0, "Message")]


def test_one_maintenance_event_has_one_identity_across_statuses_and_transports():
    """Reboot:Scheduled then Reboot:Executing through MNS, and the EventBridge spelling: one id."""
    scheduled = sample("mns_topic_json.json")
    executing_body = json.loads(scheduled["Message"])
    executing_body["name"] = "Instance:SystemMaintenance.Reboot:Executing"
    executing_body["id"] = "another-notification-id"
    executing_body["content"]["eventStatus"] = "Executing"
    bridged = sample("eventbridge_ecs_instance_state_change.json") | {
        "id": "yet-another-id",
        "type": "ecs:Instance:SystemMaintenance.Reboot",
        "data": executing_body["content"],
    }
    identities = {
        read(decode_event(_mns_json(scheduled["Message"])))[0].dedupe_id,
        read(decode_event(_mns_json(json.dumps(executing_body))))[0].dedupe_id,
        read(decode_event(as_bytes(bridged)))[0].dedupe_id,
    }
    assert identities == {"ecs-system-event:e-bp1demo0maint01"}


@pytest.mark.parametrize(
    ("change", "state", "carried"),
    [
        ({"state": "Running"}, "OK", "state Running"),
        ({"state": "Starting"}, "INFO", "state Starting"),
        ({"state": "Stopped"}, "ALERT", "state Stopped"),
    ],
)
def test_a_state_change_names_the_state_it_carried(change, state, carried):
    event = sample("eventbridge_ecs_instance_state_change.json")
    event["data"] = event["data"] | change
    (sig,) = read(decode_event(as_bytes(event)))
    assert (sig.state, sig.carried) == (state, carried)


BATCHES = [
    "eventbridge_mns_queue_batch.json",
    "eventbridge_rocketmq_batch.json",
    "eventbridge_kafka_batch.json",
]
GOOD_ELEMENTS = [
    element for name in [*BATCHES, "eventbridge_rabbitmq_batch.json"] for element in sample(name)
]
BODY = {"mns:Queue:SendMessage": "messageBody", "mq:Topic:SendMessage": "body"}
BODY |= {"alikafka:Topic:Message": "value", "amqp:Queue:SendMessage": "body"}


def _text_body(element: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(element)
    broken["data"][BODY[broken["type"]]] = "test message from console"
    return broken


def _no_id(element: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in element.items() if k != "id"}


BAD_ELEMENTS = st.one_of(
    st.integers() | st.text(max_size=10) | st.just({"a": 1}) | st.just([]),
    st.sampled_from(GOOD_ELEMENTS).map(_text_body),
    st.sampled_from(GOOD_ELEMENTS).map(_no_id),
)
ELEMENTS = st.lists(
    st.tuples(st.just(True), st.sampled_from(GOOD_ELEMENTS)) | st.tuples(st.just(False), BAD_ELEMENTS),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(ELEMENTS)
def test_every_element_of_a_batch_is_read_on_its_own(elements):
    """Each usable element reads as if it came alone; each other one is reported by its index."""
    batch = [element for _, element in elements]
    good = [i for i, (usable, _) in enumerate(elements) if usable]
    bad = [i for i, (usable, _) in enumerate(elements) if not usable]
    if not good:
        with pytest.raises(EventDecodeError) as info:
            read(decode_event(as_bytes(batch)))
        assert [e.index for e in info.value.elements] == bad
        return
    reading = alarm_signals(decode_event(as_bytes(batch)))
    assert [s.index for s in reading.signals] == good
    assert [u.index for u in reading.unusable] == bad
    assert all(u.field.startswith(f"[{u.index}]") for u in reading.unusable)
    for index, signal in zip(good, reading.signals, strict=True):
        (alone,) = read(decode_event(as_bytes([batch[index]])))
        assert signal == alone.model_copy(update={"index": index})
