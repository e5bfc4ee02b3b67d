"""Property tests: whatever arrives, the decoder answers with a model or an EventDecodeError.

A rule starting with "unexpected" means an exception slipped past the decoders' own checks and
was caught by the safety net: that is a bug, so these tests fail on it too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapstack.events import EventDecodeError, MnsMessage, alarm_signals, decode_event
from snapstack.events.decode import DecodedEvent
from tests.events.conftest import SAMPLES, raw

KINDS = [None, "timer", "oss", "deploy", "mns", "eventbridge", "alarm"]
FUZZ = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MUTATE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(
        ["", "null", "2026-11-27T20:00:00Z", "20261127T031512.047+0800", "ALERT", "acs.ecs", "1.0"]
    )
)
KEYS = st.sampled_from(
    [
        "triggerTime",
        "triggerName",
        "payload",
        "events",
        "specversion",
        "id",
        "source",
        "type",
        "data",
        "alertName",
        "alertState",
        "ruleId",
        "timestamp",
        "dimensions",
        "Message",
        "MessageId",
        "TopicName",
        "PublishTime",
        "MessageMD5",
        "body",
        "attrs",
        "Extend",
        "ver",
        "product",
        "eventTime",
        "content",
        "resourceId",
        "name",
        "oss",
        "object",
        "bucket",
        "key",
        "eTag",
        "size",
        "messageBody",
        "value",
        "deploy_id",
        "instance_ids",
        "disk_ids",
        "disk_tags",
    ]
) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=15,
)

# Replacements for mutation: cheap to draw, and of every JSON type.
replacements = json_scalars | st.sampled_from([{}, [], {"a": 1}, [1, "x"]])


def outcome(event: Any, expect: Any = None) -> DecodedEvent | EventDecodeError:
    """Decode, then (if it decoded) ask for alarm signals too; only our error may escape."""
    try:
        decoded = decode_event(event, expect=expect)
    except EventDecodeError as err:
        assert not err.rule.startswith("unexpected"), str(err)
        assert "\n" not in str(err)
        return err
    try:
        alarm_signals(decoded)
    except EventDecodeError as err:
        assert not err.rule.startswith("unexpected"), str(err)
    return decoded


@FUZZ
@given(data=st.binary(max_size=300), expect=st.sampled_from(KINDS))
def test_arbitrary_bytes(data, expect):
    outcome(data, expect)


@FUZZ
@given(value=json_values, expect=st.sampled_from(KINDS), as_text=st.booleans())
def test_arbitrary_json_values(value, expect, as_text):
    result = outcome(json.dumps(value).encode() if as_text else value, expect)
    if expect == "mns" and (as_text or isinstance(value, (dict, list))):
        # An MNS handler refuses only a broken MNS notification; anything else is a STREAM body.
        assert isinstance(result, MnsMessage) or result.shape == "mns", result


@FUZZ
@given(text=st.text(max_size=200), expect=st.sampled_from(KINDS))
def test_arbitrary_text(text, expect):
    outcome(text, expect)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


def _mutate(value: Any, path: tuple[Any, ...], how: str, replacement: Any) -> Any:
    value = copy.deepcopy(value)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "drop":
        del parent[last]
    elif how == "replace":
        parent[last] = replacement
    else:  # stringify: the value encoded as JSON text, a common producer mistake
        parent[last] = json.dumps(parent[last])
    return value


JSON_SAMPLES = [name for name in SAMPLES if name.endswith(".json")]


@pytest.mark.parametrize("name", JSON_SAMPLES)
@MUTATE
@given(data=st.data())
def test_mutated_samples(name, data):
    value = json.loads(raw(name))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(value)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        how = data.draw(st.sampled_from(["drop", "replace", "stringify"]))
        value = _mutate(value, path, how, data.draw(replacements))
    outcome(as_text := json.dumps(value).encode())
    outcome(as_text, data.draw(st.sampled_from(KINDS)))


@pytest.mark.parametrize("name", ["cms_threshold_alarm.form", "mns_topic_stream_raw.txt"])
@MUTATE
@given(data=st.data())
def test_mutated_text_samples(name, data):
    text = raw(name).decode()
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    insert = data.draw(st.text(alphabet='&=%{}, +0123456789abcdefAFZ:\\"', max_size=12))
    outcome((text[:cut] + insert + text[cut + data.draw(st.integers(0, 8)) :]).encode())
