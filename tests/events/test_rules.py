"""The decisions the decoders make where the platform is vague: times, keys, bodies, detection."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from snapstack.events import (
    CmsThresholdAlarm,
    EcsSystemEvent,
    EventDecodeError,
    MnsMessage,
    OssEvent,
    TimerEvent,
    decode_event,
)
from snapstack.events._wire import decoding, epoch_time, parse_time
from tests.events.conftest import as_bytes, raw, sample

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T20:00:00Z", datetime(2026, 11, 27, 20, tzinfo=UTC)),
        ("2026-11-27t20:00:00z", datetime(2026, 11, 27, 20, tzinfo=UTC)),
        ("2026-11-27 20:00:00Z", datetime(2026, 11, 27, 20, tzinfo=UTC)),
        ("2026-11-28T04:00:00+08:00", datetime(2026, 11, 27, 20, tzinfo=UTC)),
        ("2026-11-28T04:00:00+0800", datetime(2026, 11, 27, 20, tzinfo=UTC)),
        ("2026-11-27T15:00:00-05:00", datetime(2026, 11, 27, 20, tzinfo=UTC)),
        ("2026-11-27T20:00:00.123456789Z", datetime(2026, 11, 27, 20, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-27T20:00:00.5Z", datetime(2026, 11, 27, 20, 0, 0, 500000, tzinfo=UTC)),
        ("2020-11-19T21:04:42.179PRC", datetime(2020, 11, 19, 13, 4, 42, 179000, tzinfo=UTC)),
        ("20181226T220114.058+0800", datetime(2018, 12, 26, 14, 1, 14, 58000, tzinfo=UTC)),
        ("20181226T220114Z", datetime(2018, 12, 26, 22, 1, 14, tzinfo=UTC)),
    ],
)
def test_time_forms(text, expected):
    parsed = parse_time(text, "timer", "t")
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["2026-11-27T20:00:00", "20181226T220114.058", "2026-11-27", "2026-11-27T20:00Z", "1795809600", ""],
)
def test_times_without_a_zone_or_seconds_are_refused(text):
    with pytest.raises(EventDecodeError) as info:
        parse_time(text, "timer", "t")
    assert info.value.field == "t"


def test_timer_with_an_offset_is_normalised_to_utc():
    event = decode_event(as_bytes(sample("timer.json") | {"triggerTime": "2026-11-28T04:00:00+08:00"}))
    assert isinstance(event, TimerEvent)
    assert event.trigger_time == datetime(2026, 11, 27, 20, tzinfo=UTC)
    assert event.dedupe_key == "timer:daily-backup:2026-11-27T20:00:00Z"


def test_timer_without_payload():
    event = decode_event(b'{"triggerTime": "2026-11-27T20:00:00Z", "triggerName": "t", "payload": null}')
    assert isinstance(event, TimerEvent)
    assert event.payload is None and event.payload_json() is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
        (99_999_999_999, datetime(5138, 11, 16, 9, 46, 39, tzinfo=UTC)),  # still seconds
        (100_000_000_000, datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)),  # milliseconds from here
        (1795773181433, datetime(2026, 11, 27, 9, 53, 1, 433000, tzinfo=UTC)),
    ],
)
def test_epoch_seconds_or_milliseconds_by_magnitude(value, expected):
    assert epoch_time(value, "cms_alarm", "timestamp", unit="auto") == expected


def _oss_with_key(key: str) -> OssEvent:
    value = sample("oss_put_object.json")
    value["events"][0]["oss"]["object"]["key"] = key
    event = decode_event(as_bytes(value))
    assert isinstance(event, OssEvent)
    return event


@pytest.mark.parametrize(
    ("key", "decoded"),
    [
        ("releases/web/%E6%B8%85%E5%8D%95%20v2.json", "releases/web/清单 v2.json"),
        ("releases/web/%E6%B8%85%E5%8D%95+v2.json", "releases/web/清单 v2.json"),
        ("releases/web/a+b.json", "releases/web/a b.json"),
        ("releases/web/a%2Bb.json", "releases/web/a+b.json"),
        ("releases/web/100%zz.json", "releases/web/100%zz.json"),
        ("releases/web/bad%FF.json", "releases/web/bad%FF.json"),
        ("releases/web/plain.json", "releases/web/plain.json"),
        ("releases/web/清单.json", "releases/web/清单.json"),
    ],
)
def test_oss_keys_are_read_as_form_encoded_first_and_as_delivered_second(key, decoded):
    (record,) = _oss_with_key(key).records
    assert record.object_key == decoded
    assert record.object_key_raw == key
    assert record.key_candidates == tuple(dict.fromkeys((decoded, key)))


def test_oss_event_names_lose_a_stray_prefix_and_records_keep_order():
    value = sample("oss_put_object.json")
    second = json.loads(json.dumps(value["events"][0]))
    second["eventName"] = "oss:ObjectCreated:CompleteMultipartUpload"
    second["oss"]["object"]["key"] = "releases/web/2026-11-27/app.tar.gz"
    value["events"].append(second)
    event = decode_event(as_bytes(value))
    assert isinstance(event, OssEvent)
    assert [r.event_name for r in event.records] == [
        "ObjectCreated:PutObject",
        "ObjectCreated:CompleteMultipartUpload",
    ]
    assert event.records[1].object_key.endswith("app.tar.gz")


def test_oss_optional_parts_may_be_missing():
    value = sample("oss_put_object.json")
    record = value["events"][0]
    del record["responseElements"], record["eventSource"], record["oss"]["object"]["deltaSize"]
    (parsed,) = decode_event(as_bytes(value)).records  # type: ignore[union-attr]
    assert parsed.request_id is None and parsed.delta_size is None


def test_mns_handler_takes_any_other_payload_as_a_stream_body_verbatim():
    timer_text = raw("timer.json").decode()
    cases = [
        (raw("timer.json"), timer_text),
        (b" [1, 2] ", " [1, 2] "),
        (b'{"broken": ', '{"broken": '),
        (b"42", "42"),
        ({"x": "\u6e05"}, '{"x": "\u6e05"}'),
    ]
    for event, body in cases:
        decoded = decode_event(event, expect="mns")
        assert isinstance(decoded, MnsMessage), event
        assert (decoded.form, decoded.body, decoded.body_base64) == ("stream", body, False)


def test_binary_stream_body_is_kept_as_base64():
    data = b"\x00\x9f\xffsnap"
    decoded = decode_event(memoryview(data), expect="mns")
    assert isinstance(decoded, MnsMessage)
    assert decoded.body_base64 and base64.b64decode(decoded.body) == data


def test_json_scalars_and_plain_text_are_stream_bodies_without_expect():
    for event in (b"42", b'"quoted"', b"true", "plain words"):
        decoded = decode_event(event)
        assert isinstance(decoded, MnsMessage) and decoded.form == "stream"


def test_one_mns_key_alone_is_not_the_json_form():
    with pytest.raises(EventDecodeError, match="matches no trigger shape"):
        decode_event(b'{"Message": "hi"}')
    decoded = decode_event(b'{"Message": "hi"}', expect="mns")
    assert isinstance(decoded, MnsMessage) and decoded.form == "stream"


def test_mns_attributes_win_detection_over_other_shapes_keys():
    value = sample("mns_topic_json.json") | {"triggerTime": "x", "events": []}
    decoded = decode_event(as_bytes(value))
    assert isinstance(decoded, MnsMessage) and decoded.form == "json_attrs"
    assert decoded.attributes == {"triggerTime": "x", "events": []}


def test_mns_json_without_optional_keys():
    value = sample("mns_topic_json.json")
    for key in ("TopicOwner", "Subscriber", "SubscriptionName", "MessageMD5"):
        del value[key]
    decoded = decode_event(as_bytes(value))
    assert isinstance(decoded, MnsMessage) and decoded.form == "json"


def test_stream_attrs_without_extend_keeps_attrs_as_given():
    decoded = decode_event(b'{"body": "hi", "attrs": {"tag": "a"}}')
    assert isinstance(decoded, MnsMessage)
    assert (decoded.form, decoded.body, decoded.attributes) == ("stream_attrs", "hi", {"tag": "a"})


@pytest.mark.parametrize(
    ("dimensions", "expected"),
    [
        ("{userId=1, instanceId=i-web-01}", {"userId": "1", "instanceId": "i-web-01"}),
        ("{instanceId=i-1,device=/dev/vda1}", {"instanceId": "i-1", "device": "/dev/vda1"}),
        ("{query=a=b, c d}", {"query": "a=b, c d"}),
        ("{}", {}),
        ("", {}),
        ("null", {}),
        (None, {}),
        ('{"instanceId": "i-1", "port": 22}', {"instanceId": "i-1", "port": "22"}),
        ({"instanceId": "i-1", "cpu": 0.5}, {"instanceId": "i-1", "cpu": "0.5"}),
    ],
)
def test_dimension_forms(dimensions, expected):
    value = sample("cms_threshold_alarm.json") | {"dimensions": dimensions}
    alarm = decode_event(as_bytes(value))
    assert isinstance(alarm, CmsThresholdAlarm)
    assert alarm.dimensions == expected


def test_json_alarm_numbers_and_null_text():
    value = sample("cms_threshold_alarm.json") | {
        "curValue": 93.4,
        "timestamp": "1795772880",
        "instanceName": "null",
        "alertState": "INSUFFICIENT_DATA",
        "ruleId": 42,
    }
    alarm = decode_event(as_bytes(value))
    assert isinstance(alarm, CmsThresholdAlarm)
    assert (alarm.cur_value, alarm.instance_name, alarm.alert_state, alarm.rule_id) == (
        "93.4",
        None,
        "INSUFFICIENT_DATA",
        "42",
    )
    assert alarm.timestamp == datetime(2026, 11, 27, 9, 48, tzinfo=UTC)


def test_form_with_repeated_identical_values_is_fine():
    text = raw("cms_threshold_alarm.form").decode() + "&alertState=ALERT"
    alarm = decode_event(text)
    assert isinstance(alarm, CmsThresholdAlarm) and alarm.alert_state == "ALERT"


def test_system_event_with_an_iso_time():
    value = sample("cms_system_event.json") | {"eventTime": "2026-11-27T03:15:12.047+08:00"}
    event = decode_event(as_bytes(value))
    assert isinstance(event, EcsSystemEvent)
    assert event.event_time == datetime(2026, 11, 26, 19, 15, 12, 47000, tzinfo=UTC)


def test_leading_whitespace_before_json():
    assert isinstance(decode_event(b"\n  " + raw("timer.json")), TimerEvent)


def test_the_safety_net_converts_slips_and_marks_them():
    @decoding("timer")
    def slips() -> None:
        raise KeyError("triggerTime")

    with pytest.raises(EventDecodeError) as info:
        slips()
    assert (info.value.shape, info.value.field) == ("timer", "$")
    assert info.value.rule.startswith("unexpected KeyError")

    @decoding("timer")
    def builds_a_naive_time() -> TimerEvent:
        return TimerEvent(trigger_time=datetime(2026, 11, 27), trigger_name="t")  # type: ignore[arg-type]

    with pytest.raises(EventDecodeError) as info:
        builds_a_naive_time()
    assert (info.value.shape, info.value.field) == ("timer", "trigger_time")
    assert "timezone" in info.value.rule


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("eventbridge_ecs_instance_state_change.json", "eventbridge"),
        ("eventbridge_rabbitmq_batch.json", "eventbridge"),
        ("timer.json", "timer"),
        ("oss_put_object_fc3.json", "oss"),
        ("mns_topic_json_attrs.json", "mns"),
        ("mns_topic_stream_raw.txt", "mns"),
        ("cms_threshold_alarm.form", "alarm"),
        ("cms_system_event.json", "alarm"),
    ],
)
def test_expect_accepts_the_shapes_its_handler_serves(name, expect):
    assert decode_event(raw(name), expect=expect) == decode_event(raw(name))
