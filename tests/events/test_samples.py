"""Every sample under events/ decodes to its model, with the key fields pinned."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from snapstack.events import (
    CloudEvent,
    CmsThresholdAlarm,
    EcsSystemEvent,
    EventBatch,
    MnsMessage,
    OssEvent,
    TimerEvent,
    decode_event,
)
from snapstack.events.cloudevents import queue_message
from tests.events.conftest import EVENTS, SAMPLES, raw, sample

UTC = timezone.utc
INSTANCE, DISK, UID = "i-web-01", "d-web-01-system", "1234567890123456"


def test_every_sample_is_listed_in_the_readme():
    readme = (EVENTS / "README.md").read_text()
    assert SAMPLES, "no sample events found"
    for name in SAMPLES:
        assert f"`{name}`" in readme, name


def test_timer():
    event = decode_event(raw("timer.json"))
    assert isinstance(event, TimerEvent)
    assert event.trigger_time == datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert event.trigger_time.tzinfo is not None
    assert event.trigger_name == "daily-backup"
    assert event.payload == '{"policy": "daily"}'
    assert event.payload_json() == {"policy": "daily"}
    assert event.dedupe_key == "timer:daily-backup:2026-11-27T20:00:00Z"


@pytest.mark.parametrize("name", ["oss_put_object.json", "oss_put_object_fc3.json"])
def test_oss(name):
    event = decode_event(raw(name))
    assert isinstance(event, OssEvent)
    (record,) = event.records
    assert record.event_name == "ObjectCreated:PutObject"
    assert record.event_time == datetime(2026, 11, 27, 9, 41, 7, tzinfo=UTC)
    assert record.region == "cn-hangzhou"
    assert record.bucket_name == "snapstack-deploys"
    assert record.bucket_arn == f"acs:oss:cn-hangzhou:{UID}:snapstack-deploys"
    assert record.object_key == record.object_key_raw == "releases/web/2026-11-27/manifest.json"
    # The sample object the event names (events/objects/<bucket>/<key>): eTag = MD5 of its bytes.
    stored = (EVENTS / "objects" / record.bucket_name / record.object_key).read_bytes()
    assert record.etag == hashlib.md5(stored).hexdigest().upper() == "B949025F72A5097A81A5EB7C6BC80D05"
    assert record.size == record.delta_size == len(stored)
    assert record.dedupe_key == (
        "oss:snapstack-deploys/releases/web/2026-11-27/manifest.json@B949025F72A5097A81A5EB7C6BC80D05"
    )
    if name.endswith("fc3.json"):
        assert record.request_id == "6745A1C3E0B2F4D8A9C0B1E3"
        assert record.object_meta is not None
        assert record.object_meta.mime_type == "application/json"
        assert record.object_meta.user_meta == {
            "x-oss-meta-release": "web-2026.11.27",
            "x-oss-meta-commit": "9f2c1ab",
        }
    else:
        assert record.request_id == "6745A1C3E0B2F4D8A9C0B1E2"
        assert record.object_meta is None


def test_mns_stream_raw():
    event = decode_event(raw("mns_topic_stream_raw.txt"))
    assert isinstance(event, MnsMessage)
    assert event.form == "stream"
    assert event.body == "deploy finished: web release 2026.11.27 on i-web-01\n"
    assert not event.body_base64
    assert event.message_id is event.topic is event.publish_time is None
    assert event.attributes == {}
    assert event.dedupe_key is None


def test_mns_stream_attrs():
    event = decode_event(raw("mns_topic_stream_attrs.json"))
    assert isinstance(event, MnsMessage)
    assert event.form == "stream_attrs"
    assert event.attributes == {"origin": "cms-event-subscription", "env": "prod"}
    assert json.loads(event.body)["name"] == "Instance:StateChange"
    assert event.message_id is None


def test_mns_json():
    event = decode_event(raw("mns_topic_json.json"))
    assert isinstance(event, MnsMessage)
    assert event.form == "json"
    assert event.message_id == "5F2C8A91D3B74E6F0A1B2C3D4E5F6071"
    assert event.topic == "snapstack-alarms"
    assert event.publish_time == datetime(2026, 11, 27, 2, 20, 31, 204000, tzinfo=UTC)
    assert event.attributes == {}
    body = sample("mns_topic_json.json")["Message"]
    assert event.body == body
    assert hashlib.md5(body.encode()).hexdigest().upper() == sample("mns_topic_json.json")["MessageMD5"]
    assert event.dedupe_key == "mns:5F2C8A91D3B74E6F0A1B2C3D4E5F6071"


def test_mns_json_attrs():
    event = decode_event(raw("mns_topic_json_attrs.json"))
    assert isinstance(event, MnsMessage)
    assert event.form == "json_attrs"
    assert event.attributes == {"severity": "critical", "origin": "cloudmonitor"}
    assert event.message_id == "8B3D9E02F4C15A7B1C2D3E4F50617283"
    assert event.publish_time == datetime(2026, 11, 27, 9, 48, 1, 377000, tzinfo=UTC)
    assert json.loads(event.body)["alertState"] == "ALERT"


def test_eventbridge_ecs_event():
    event = decode_event(raw("eventbridge_ecs_instance_state_change.json"))
    assert isinstance(event, CloudEvent)
    assert event.source == "acs.ecs"
    assert event.type == "ecs:Instance:StateChange"
    assert event.id == "4b8e2f1a-9c3d-4e7b-a6f5-0d1c2b3a4e5f"
    assert event.subject == f"acs:ecs:cn-hangzhou:{UID}:instance/{INSTANCE}"
    assert event.time == datetime(2026, 11, 27, 9, 45, 2, 318000, tzinfo=UTC)
    assert event.extensions["aliyunaccountid"] == UID
    assert event.extensions["aliyunregionid"] == "cn-hangzhou"
    assert "data" not in event.extensions and "id" not in event.extensions
    assert event.data == {"resourceId": INSTANCE, "resourceType": "ALIYUN::ECS::Instance", "state": "Stopped"}
    assert event.dedupe_key == "ce:acs.ecs#4b8e2f1a-9c3d-4e7b-a6f5-0d1c2b3a4e5f"

    system = EcsSystemEvent.from_cloudevent(event)
    assert system.name == "Instance:StateChange"
    assert system.content["state"] == "Stopped"
    assert system.resource_id == f"acs:ecs:cn-hangzhou:{UID}:instance/{INSTANCE}"
    assert system.user_id == UID
    assert system.region_id == "cn-hangzhou"
    assert system.event_time == event.time
    assert system.product == "ECS"


@pytest.mark.parametrize(
    ("name", "kind", "ids"),
    [
        (
            "eventbridge_mns_queue_batch.json",
            "mns_queue",
            ["C6DB60D1574661357FA2272774450001", "C6DB60D1574661357FA2272774450002"],
        ),
        ("eventbridge_rocketmq_batch.json", "rocketmq", ["AC14C305069E1B28CDFA3181CDA20001"]),
        ("eventbridge_kafka_batch.json", "kafka", ["snapstack-alarms/3/1207", "snapstack-alarms/3/1208"]),
        ("eventbridge_rabbitmq_batch.json", "rabbitmq", ["f7622d51-e198-41de-a072-77c1ead70001"]),
    ],
)
def test_event_stream_batches(name, kind, ids):
    event = decode_event(raw(name))
    assert isinstance(event, EventBatch)
    elements = sample(name)
    assert [e.id for e in event.events] == [e["id"] for e in elements]
    assert event.positions == tuple(range(len(elements))) and event.unusable == ()
    messages = [queue_message(e, f"[{i}]") for i, e in event.indexed()]
    assert [m.kind for m in messages] == [kind] * len(elements)
    assert [m.message_id for m in messages] == ids
    for message, element in zip(messages, elements, strict=True):
        field = {"mns_queue": "messageBody", "rocketmq": "body", "kafka": "value", "rabbitmq": "body"}[kind]
        assert message.body == element["data"][field]
        assert message.event.dedupe_key == f"ce:{element['source']}#{element['id']}"
        assert queue_message(message.event) == message


def test_kafka_values_arrive_parsed():
    batch = decode_event(raw("eventbridge_kafka_batch.json"))
    assert isinstance(batch, EventBatch)
    first = queue_message(batch.events[0]).body
    assert isinstance(first, dict)
    assert first["content"]["state"] == "Stopped"


def test_cms_threshold_alarm_form():
    alarm = decode_event(raw("cms_threshold_alarm.form"))
    assert isinstance(alarm, CmsThresholdAlarm)
    assert alarm.rule_id == "snapstack_web01_disk_usage"
    assert alarm.alert_name == "web01-disk-usage-high"
    assert alarm.alert_state == "ALERT"
    assert alarm.trigger_level == "CRITICAL"
    assert alarm.pre_trigger_level == "OK"
    assert alarm.metric_name == "diskusage_utilization"
    assert alarm.metric_project == alarm.namespace == "acs_ecs_dashboard"
    assert alarm.dimensions == {"userId": UID, "instanceId": INSTANCE, "device": "/dev/vda1"}
    assert alarm.cur_value == "95.2"
    assert alarm.expression == "$Average>=90"
    # 1795773181433 is milliseconds (>= 1e11)
    assert alarm.timestamp == datetime(2026, 11, 27, 9, 53, 1, 433000, tzinfo=UTC)
    assert alarm.user_id == UID
    assert alarm.region_id == "cn-hangzhou"
    assert alarm.instance_name == "web-01"
    assert alarm.extra["unit"] == "null"
    assert alarm.extra["regionName"] == "China (Hangzhou)"
    assert alarm.extra["lastTime"] == "5 min"
    assert alarm.dedupe_key == "cms:snapstack_web01_disk_usage:1795773181433:ALERT"


def test_cms_threshold_alarm_json():
    alarm = decode_event(raw("cms_threshold_alarm.json"))
    assert isinstance(alarm, CmsThresholdAlarm)
    assert alarm.rule_id == "snapstack_web01_disk_usage"
    assert alarm.dimensions == {"userId": UID, "instanceId": INSTANCE, "diskId": DISK}
    # 1795772880 is seconds (< 1e11)
    assert alarm.timestamp == datetime(2026, 11, 27, 9, 48, tzinfo=UTC)
    assert alarm.dedupe_key == "cms:snapstack_web01_disk_usage:1795772880000:ALERT"
    assert alarm.extra["productGroupName"] == "web"


def test_cms_system_event():
    event = decode_event(raw("cms_system_event.json"))
    assert isinstance(event, EcsSystemEvent)
    assert event.id == "0E9D8C7B-6A5F-4E3D-2C1B-0A9F8E7D6C5B"
    assert event.name == "Instance:SystemFailure.Reboot:Executing"
    assert event.level == "CRITICAL"
    assert event.product == "ECS"
    assert event.resource_id == f"acs:ecs:cn-hangzhou:{UID}:instance/{INSTANCE}"
    # 20261127T031512.047+0800 is 19:15:12.047 UTC the day before
    assert event.event_time == datetime(2026, 11, 26, 19, 15, 12, 47000, tzinfo=UTC)
    assert event.content["eventStatus"] == "Executing"
    assert event.dedupe_key == "ecs-event:0E9D8C7B-6A5F-4E3D-2C1B-0A9F8E7D6C5B"


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_decode_the_same_from_bytes_str_and_parsed(name):
    data = raw(name)
    from_bytes = decode_event(data)
    assert decode_event(data.decode()) == from_bytes
    assert decode_event(bytearray(data)) == from_bytes
    if name.endswith(".json"):
        assert decode_event(json.loads(data)) == from_bytes


@pytest.mark.parametrize("name", SAMPLES)
def test_models_are_frozen(name):
    event = decode_event(raw(name))
    field = next(iter(type(event).model_fields))
    with pytest.raises(Exception, match="frozen"):
        setattr(event, field, None)
