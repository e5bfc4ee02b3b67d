"""Malformed events: each is an EventDecodeError naming the shape, the field and the rule."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from snapstack.events import EventDecodeError, decode_event
from snapstack.events.cloudevents import CloudEvent, EventBatch, queue_message
from snapstack.events.cms import EcsSystemEvent
from tests.events.conftest import as_bytes, raw, sample


def variant(name: str, *changes: Callable[[Any], Any]) -> bytes:
    """A sample with changes applied (each edits in place or returns a new value)."""
    value = copy.deepcopy(sample(name))
    for change in changes:
        out = change(value)
        value = value if out is None else out
    return as_bytes(value)


def put(path: list[Any], new: Any) -> Callable[[Any], None]:
    def apply(value: Any) -> None:
        for step in path[:-1]:
            value = value[step]
        value[path[-1]] = new

    return apply


def drop(path: list[Any]) -> Callable[[Any], None]:
    def apply(value: Any) -> None:
        for step in path[:-1]:
            value = value[step]
        del value[path[-1]]

    return apply


def _oss(path: list[Any]) -> list[Any]:
    return ["events", 0, *path]


def _with_message(name: str, message: str) -> Callable[[Any], None]:
    def apply(value: Any) -> None:
        value["Message"] = message
        value["MessageMD5"] = hashlib.md5(message.encode()).hexdigest().upper()

    return apply


TIMER, OSS, MNS = "timer.json", "oss_put_object.json", "mns_topic_json.json"
ATTRS, ECS_CE, MNSQ = (
    "mns_topic_stream_attrs.json",
    "eventbridge_ecs_instance_state_change.json",
    "eventbridge_mns_queue_batch.json",
)
ALARM, SYSTEM = "cms_threshold_alarm.json", "cms_system_event.json"
FORM = raw("cms_threshold_alarm.form").decode()
DEEP = 100_000

CASES: list[tuple[str, bytes | str | Any, str, str, str]] = [
    # id, raw event, shape, field, words the rule contains
    ("empty bytes", b"", "unknown", "$", "empty event"),
    ("blank bytes", b" \n\t ", "unknown", "$", "empty event"),
    ("blank str", "   ", "unknown", "$", "empty event"),
    ("garbage bytes", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", "unknown", "$", "not UTF-8"),
    ("invalid utf-8", b'{"triggerTime": "\xff"}', "unknown", "$", "byte 0xff at offset 17"),
    ("truncated json", b'{"triggerTime": ', "unknown", "$", "invalid JSON"),
    ("json NaN", b'{"triggerTime": NaN, "triggerName": "t"}', "unknown", "$", "invalid JSON"),
    ("unknown object", b'{"hello": "world"}', "unknown", "$", "matches no trigger shape (keys: hello)"),
    ("huge nesting array", b"[" * DEEP + b"]" * DEEP, "unknown", "$", "nested deeper"),
    ("huge nesting object", b'{"a":' * DEEP + b"1" + b"}" * DEEP, "unknown", "$", "nested deeper"),
    (
        "nesting past the limit",
        b'{"a":' * 70 + b"1" + b"}" * 70,
        "unknown",
        ".".join(["a"] * 64),
        "nested deeper than 64",
    ),
    ("not an event type", 42, "unknown", "$", "must be bytes, str, dict or list (got int)"),
    ("none", None, "unknown", "$", "got NoneType"),
    ("non-string keys", {1: "x"}, "unknown", "$", "keys must be strings"),
    ("python object inside", {"triggerTime": object()}, "unknown", "triggerTime", "not a JSON value"),
    ("infinite float", {"triggerTime": float("inf")}, "unknown", "triggerTime", "NaN and Infinity"),
    # timer
    ("timer missing time", variant(TIMER, drop(["triggerTime"])), "timer", "triggerTime", "is required"),
    (
        "timer null time",
        variant(TIMER, put(["triggerTime"], None)),
        "timer",
        "triggerTime",
        "must not be null",
    ),
    (
        "timer int time",
        variant(TIMER, put(["triggerTime"], 1795809600)),
        "timer",
        "triggerTime",
        "must be a string",
    ),
    (
        "timer naive",
        variant(TIMER, put(["triggerTime"], "2026-11-27T20:00:00")),
        "timer",
        "triggerTime",
        "no time zone",
    ),
    (
        "timer garbled",
        variant(TIMER, put(["triggerTime"], "tomorrow 4am")),
        "timer",
        "triggerTime",
        "not an ISO-8601",
    ),
    (
        "timer bad date",
        variant(TIMER, put(["triggerTime"], "2026-02-30T00:00:00Z")),
        "timer",
        "triggerTime",
        "valid date",
    ),
    (
        "timer bad offset",
        variant(TIMER, put(["triggerTime"], "2026-11-27T20:00:00+25:00")),
        "timer",
        "triggerTime",
        "valid date",
    ),
    (
        "timer non-ascii digits",
        variant(TIMER, put(["triggerTime"], "٢٠٢٦-11-27T20:00:00Z")),
        "timer",
        "triggerTime",
        "ISO-8601",
    ),
    (
        "timer empty name",
        variant(TIMER, put(["triggerName"], "")),
        "timer",
        "triggerName",
        "must not be empty",
    ),
    (
        "timer dict payload",
        variant(TIMER, put(["payload"], {"policy": "daily"})),
        "timer",
        "payload",
        "must be a string",
    ),
    (
        "timer not an object",
        b'{"triggerName": "t", "triggerTime": "2026-11-27T20:00:00Z"',
        "unknown",
        "$",
        "invalid JSON",
    ),
    # oss
    ("oss empty records", b'{"events": []}', "oss", "events", "at least one record"),
    ("oss records not a list", b'{"events": {}}', "oss", "events", "must be a JSON array"),
    ("oss record not an object", b'{"events": [1]}', "oss", "events[0]", "must be a JSON object"),
    (
        "oss missing key",
        variant(OSS, drop(_oss(["oss", "object", "key"]))),
        "oss",
        "events[0].oss.object.key",
        "is required",
    ),
    (
        "oss int key",
        variant(OSS, put(_oss(["oss", "object", "key"]), 7)),
        "oss",
        "events[0].oss.object.key",
        "must be a string",
    ),
    (
        "oss string size",
        variant(OSS, put(_oss(["oss", "object", "size"]), "1843")),
        "oss",
        "events[0].oss.object.size",
        "integer",
    ),
    (
        "oss bool size",
        variant(OSS, put(_oss(["oss", "object", "size"]), True)),
        "oss",
        "events[0].oss.object.size",
        "integer",
    ),
    (
        "oss negative size",
        variant(OSS, put(_oss(["oss", "object", "size"]), -1)),
        "oss",
        "events[0].oss.object.size",
        "at least 0",
    ),
    (
        "oss missing bucket",
        variant(OSS, drop(_oss(["oss", "bucket"]))),
        "oss",
        "events[0].oss.bucket",
        "is required",
    ),
    (
        "oss bad arn",
        variant(OSS, put(_oss(["oss", "bucket", "arn"]), "arn:aws:s3:::b")),
        "oss",
        "events[0].oss.bucket.arn",
        "OSS ARN",
    ),
    (
        "oss bad time",
        variant(OSS, put(_oss(["eventTime"]), "2026-13-01T00:00:00Z")),
        "oss",
        "events[0].eventTime",
        "valid date",
    ),
    (
        "oss cdn event",
        variant(OSS, put(_oss(["eventSource"]), "cdn")),
        "oss",
        "events[0].eventSource",
        "must be 'acs:oss'",
    ),
    (
        "oss user meta not text",
        variant(
            "oss_put_object_fc3.json",
            put(_oss(["oss", "object", "objectMeta", "userMeta", "x-oss-meta-n"]), 1),
        ),
        "oss",
        "events[0].oss.object.objectMeta.userMeta.x-oss-meta-n",
        "must be a string",
    ),
    # mns
    ("mns md5 mismatch", variant(MNS, put(["Message"], "tampered")), "mns", "MessageMD5", "corrupted"),
    (
        "mns md5 not hex",
        variant(MNS, put(["MessageMD5"], "BA4BA9B48AC81F0F9C66F6C909C3****")),
        "mns",
        "MessageMD5",
        "32 hexadecimal",
    ),
    ("mns missing id", variant(MNS, drop(["MessageId"])), "mns", "MessageId", "is required"),
    (
        "mns string publish time",
        variant(MNS, put(["PublishTime"], "1795746031204")),
        "mns",
        "PublishTime",
        "integer",
    ),
    ("mns zero publish time", variant(MNS, put(["PublishTime"], 0)), "mns", "PublishTime", "positive"),
    (
        "mns huge publish time",
        variant(MNS, put(["PublishTime"], 10**30)),
        "mns",
        "PublishTime",
        "outside the range an event time may take",
    ),
    ("mns int message", variant(MNS, put(["Message"], 5)), "mns", "Message", "must be a string"),
    (
        "mns attrs extend not json",
        variant(ATTRS, put(["attrs", "Extend"], "{key: value}")),
        "mns",
        "attrs.Extend",
        "invalid JSON",
    ),
    (
        "mns attrs extend array",
        variant(ATTRS, put(["attrs", "Extend"], "[1]")),
        "mns",
        "attrs.Extend",
        "JSON object encoded",
    ),
    ("mns attrs not object", variant(ATTRS, put(["attrs"], "x")), "mns", "attrs", "must be a JSON object"),
    ("mns attrs without body", b'{"attrs": {}}', "mns", "body", "is required"),
    # cloudevents
    (
        "ce wrong specversion",
        variant(ECS_CE, put(["specversion"], "0.3")),
        "cloudevent",
        "specversion",
        "must be '1.0'",
    ),
    ("ce missing id", variant(ECS_CE, drop(["id"])), "cloudevent", "id", "is required"),
    ("ce bad time", variant(ECS_CE, put(["time"], "2026-11-27 09:45")), "cloudevent", "time", "ISO-8601"),
    ("batch empty", b"[]", "batch", "$", "at least one event"),
    ("batch of non-events", b"[1, 2, 3]", "batch", "[0]", "is not a CloudEvent"),
    ("batch of plain objects", b'[{"a": 1}]', "batch", "[0]", "is not a CloudEvent"),
    (
        "batch whose every element misses its id",
        variant(MNSQ, drop([0, "id"]), drop([1, "id"])),
        "batch",
        "[0].id",
        "is required",
    ),
    (
        "batch whose every element has a bad source",
        variant(MNSQ, put([0, "source"], ["x"]), put([1, "source"], 7)),
        "batch",
        "[0].source",
        "must be a string",
    ),
    # cms threshold alarms
    (
        "cms bad state",
        variant(ALARM, put(["alertState"], "FIRING")),
        "cms_alarm",
        "alertState",
        "OK, ALERT, INSUFFICIENT_DATA",
    ),
    (
        "cms lower-case state",
        variant(ALARM, put(["alertState"], "alert")),
        "cms_alarm",
        "alertState",
        "must be one of",
    ),
    ("cms missing rule", variant(ALARM, drop(["ruleId"])), "cms_alarm", "ruleId", "is required"),
    (
        "cms object rule",
        variant(ALARM, put(["ruleId"], {"id": 1})),
        "cms_alarm",
        "ruleId",
        "string or a number",
    ),
    ("cms missing timestamp", variant(ALARM, drop(["timestamp"])), "cms_alarm", "timestamp", "is required"),
    (
        "cms word timestamp",
        variant(ALARM, put(["timestamp"], "yesterday")),
        "cms_alarm",
        "timestamp",
        "epoch time",
    ),
    (
        "cms float timestamp",
        variant(ALARM, put(["timestamp"], 1795772880.5)),
        "cms_alarm",
        "timestamp",
        "epoch time",
    ),
    ("cms negative timestamp", variant(ALARM, put(["timestamp"], -5)), "cms_alarm", "timestamp", "positive"),
    (
        "cms huge timestamp",
        variant(ALARM, put(["timestamp"], "99999999999999999999")),
        "cms_alarm",
        "timestamp",
        "outside the range an event time may take",
    ),
    (
        "cms broken dimensions",
        variant(ALARM, put(["dimensions"], "{instanceId i-1}")),
        "cms_alarm",
        "dimensions",
        "not key=value",
    ),
    (
        "cms list dimensions",
        variant(ALARM, put(["dimensions"], "[1, 2]")),
        "cms_alarm",
        "dimensions",
        "must look like",
    ),
    (
        "cms nested dimensions",
        variant(ALARM, put(["dimensions"], {"a": {"b": 1}})),
        "cms_alarm",
        "dimensions.a",
        "string or a number",
    ),
    (
        "cms int dimensions",
        variant(ALARM, put(["dimensions"], 3)),
        "cms_alarm",
        "dimensions",
        "Java map string",
    ),
    (
        "form repeated field",
        FORM.replace("alertState=ALERT", "alertState=ALERT&alertState=OK"),
        "cms_alarm",
        "alertState",
        "repeated",
    ),
    (
        "form bad escape",
        FORM.replace("alertName=web01", "alertName=%FF%FE"),
        "cms_alarm",
        "$",
        "percent-escape",
    ),
    ("form missing rule", FORM.replace("ruleId=", "ruleIdx="), "cms_alarm", "ruleId", "is required"),
    (
        "form bad state",
        FORM.replace("alertState=ALERT", "alertState=ON"),
        "cms_alarm",
        "alertState",
        "must be one of",
    ),
    ("form too many fields", FORM + "&x=1" * 300, "cms_alarm", "$", "more than 200 form fields"),
    # cms system events
    (
        "system naive time",
        variant(SYSTEM, put(["eventTime"], "20261127T031512.047")),
        "system_event",
        "eventTime",
        "no time zone",
    ),
    (
        "system garbled time",
        variant(SYSTEM, put(["eventTime"], "27/11/2026")),
        "system_event",
        "eventTime",
        "ISO-8601",
    ),
    ("system missing content", variant(SYSTEM, drop(["content"])), "system_event", "content", "is required"),
    (
        "system string content",
        variant(SYSTEM, put(["content"], "x")),
        "system_event",
        "content",
        "JSON object",
    ),
    ("system missing id", variant(SYSTEM, drop(["id"])), "system_event", "id", "is required"),
]


@pytest.mark.parametrize(("case", "event", "shape", "field", "rule"), CASES, ids=[c[0] for c in CASES])
def test_malformed_events_name_shape_field_and_rule(case, event, shape, field, rule):
    with pytest.raises(EventDecodeError) as info:
        decode_event(event)
    err = info.value
    assert (err.shape, err.field) == (shape, field), str(err)
    assert rule in err.rule, str(err)
    assert not err.rule.startswith("unexpected"), str(err)
    text = str(err)
    assert shape in text and field in text and "\n" not in text


def test_error_message_is_one_line_naming_all_three():
    err = EventDecodeError("oss", "events[0].oss.object.key", "is required")
    assert str(err) == "cannot decode oss event: field events[0].oss.object.key: is required"
    assert (
        str(EventDecodeError("mns", "Message", "bad\nline"))
        == "cannot decode mns event: field Message: bad\\nline"
    )
    assert err.args == ("oss", "events[0].oss.object.key", "is required")


def test_long_rules_are_cut_to_a_bounded_line():
    text = str(EventDecodeError("mns", "x", "y" * 5000))
    assert len(text) < 400 and text.endswith("...")


def test_unknown_expect_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown event kind 'cron'"):
        decode_event(raw("timer.json"), expect="cron")  # type: ignore[arg-type]


EXPECT_MISMATCH = [
    ("oss_put_object.json", "timer", "oss", "got a oss event, but the timer handler takes only: timer"),
    ("timer.json", "oss", "timer", "takes only: oss"),
    ("mns_topic_stream_raw.txt", "oss", "mns", "got non-JSON text, i.e. an MNS STREAM body"),
    ("cms_threshold_alarm.form", "timer", "cms_alarm", "takes only: timer"),
    ("timer.json", "alarm", "timer", "takes only: batch, cloudevent, cms_alarm, mns, system_event"),
    ("oss_put_object_fc3.json", "alarm", "oss", "the alarm handler"),
    ("mns_topic_json.json", "eventbridge", "mns", "takes only: batch, cloudevent"),
    ("eventbridge_kafka_batch.json", "timer", "batch", "takes only: timer"),
    ("cms_system_event.json", "oss", "system_event", "takes only: oss"),
]


@pytest.mark.parametrize(("name", "expect", "shape", "rule"), EXPECT_MISMATCH)
def test_expect_refuses_shapes_the_handler_cannot_serve(name, expect, shape, rule):
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw(name), expect=expect)
    assert (info.value.shape, info.value.field) == (shape, "$")
    assert rule in info.value.rule


def test_expect_is_checked_before_fields():
    # A broken OSS event sent to a timer handler: the mismatch is the useful message.
    with pytest.raises(EventDecodeError, match="takes only: timer"):
        decode_event(b'{"events": []}', expect="timer")


def test_queue_message_errors_point_into_the_batch():
    batch = decode_event(variant(MNSQ, drop([1, "data", "messageBody"])))
    assert isinstance(batch, EventBatch)
    with pytest.raises(EventDecodeError) as info:
        queue_message(batch.events[1], "[1]")
    assert (info.value.field, info.value.rule) == ("[1].data.messageBody", "is required")

    other = CloudEvent.from_json(sample(ECS_CE))
    with pytest.raises(EventDecodeError) as info:
        queue_message(other)
    assert info.value.field == "type" and "not a queue or stream message type" in info.value.rule

    rabbit = sample("eventbridge_rabbitmq_batch.json")[0]
    rabbit["data"]["body"] = 12
    with pytest.raises(EventDecodeError, match="must be a JSON object or a string"):
        queue_message(CloudEvent.from_json(rabbit))


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        (put(["source"], "acs.oss"), "source", "must be 'acs.ecs'"),
        (put(["type"], "Instance:StateChange"), "type", "ECS event type"),
        (put(["type"], "ecs:"), "type", "ECS event type"),
        (put(["data"], "Stopped"), "data", "must be a JSON object"),
        (drop(["data"]), "data", "is required"),
        (drop(["time"]), "data", "has no time"),
    ],
)
def test_ecs_cloudevent_conversion_errors(change, field, rule):
    event = CloudEvent.from_json(json.loads(variant(ECS_CE, change)))
    with pytest.raises(EventDecodeError) as info:
        EcsSystemEvent.from_cloudevent(event)
    assert (info.value.shape, info.value.field) == ("system_event", field)
    assert rule in info.value.rule


def test_timer_payload_json_errors_name_the_payload():
    event = decode_event(variant(TIMER, put(["payload"], "{policy: daily}")))
    with pytest.raises(EventDecodeError) as info:
        event.payload_json()  # type: ignore[union-attr]
    assert (info.value.shape, info.value.field) == ("timer", "payload")
    assert "invalid JSON" in info.value.rule


def test_odd_keys_are_quoted_in_paths():
    value = {"events": [{"eventName": "x", "oss": {"bucket": {"arn": "acs:oss:r:u:b", "name": "b"}}}]}
    value["events"][0]["oss"]["object"] = {
        "key": "k",
        "eTag": "e",
        "size": 1,
        "objectMeta": {"userMeta": {"a\nb": 1}},
    }
    value["events"][0] |= {"eventTime": "2026-11-27T00:00:00Z", "region": "r"}
    with pytest.raises(EventDecodeError) as info:
        decode_event(value)
    assert info.value.field == 'events[0].oss.object.objectMeta.userMeta["a\\nb"]'
    assert "\n" not in str(info.value)


def test_mns_with_message_edits_still_verify():
    # Re-signing the edited Message keeps it valid: the check is over the body actually sent.
    event = decode_event(variant(MNS, _with_message("MNS", "a new body")))
    assert event.body == "a new body"  # type: ignore[union-attr]
