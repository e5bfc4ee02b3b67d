"""Bad input: broken events for every trigger shape, arbitrary bytes and hostile deploy manifests.

Every example is invalid by construction: a sample from events/ with one breaking mutation (a
required field dropped, null, of the wrong type or empty; an unparseable time; an empty record
list; a body that carries no alarm; a checksum that no longer matches; NaN, excess nesting,
truncated or non-UTF-8 bytes; a JSON value of the wrong kind; a shape delivered to a function that
does not serve it), or bytes nobody shaped. Each is sent to its function through the local runner,
and the function must treat it as bad input: return (never raise), ``ok: false``, exactly one
structured ERROR log line naming the field and the rule, and no request at all to ECS.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import string
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.emulator.testing import EcsEmulator
from devkit.local.runner import Target, invoke
from devkit.local.template import Template
from snapstack.config import ConfigError
from tests.e2e.conftest import Oss, all_calls
from tests.reliability.conftest import Sizes, target_of
from tests.reliability.support import EVENTS, report

pytestmark = pytest.mark.slow

FUNCTIONS = ("scheduled_backup", "deploy_hook", "alarm_snapshot")
SHAPES: dict[str, list[str]] = {
    "timer": ["timer.json"],
    "oss": ["oss_put_object.json", "oss_put_object_fc3.json"],
    "deploy": ["deploy_invoke.json"],
    "mns": [
        "mns_topic_stream_raw.txt",
        "mns_topic_stream_attrs.json",
        "mns_topic_json.json",
        "mns_topic_json_attrs.json",
    ],
    "cloudevent": ["eventbridge_ecs_instance_state_change.json"],
    "batch": [
        "eventbridge_mns_queue_batch.json",
        "eventbridge_rocketmq_batch.json",
        "eventbridge_kafka_batch.json",
        "eventbridge_rabbitmq_batch.json",
    ],
    "cms_alarm": ["cms_threshold_alarm.form", "cms_threshold_alarm.json"],
    "system_event": ["cms_system_event.json"],
}


def function_for(name: str) -> str:
    if name.startswith("timer"):
        return "scheduled_backup"
    return "deploy_hook" if name.startswith(("oss_", "deploy_")) else "alarm_snapshot"


def raw(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def test_every_sample_belongs_to_one_shape() -> None:
    names = sorted(p.name for p in EVENTS.iterdir() if p.is_file() and p.name != "README.md")
    assert sorted(n for group in SHAPES.values() for n in group) == names


# --- values that a field refuses ---------------------------------------------------------------------

ints = st.integers(min_value=-(2**70), max_value=2**70)
floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=20)
lists = st.lists(st.integers() | st.text(max_size=5), max_size=3)
dicts = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)
NON_STRING = ints | floats | st.booleans() | lists | dicts
NON_INT = floats | st.booleans() | texts | lists | dicts  # 1.0 is a JSON number, not an integer
NON_OBJECT = ints | floats | st.booleans() | texts | lists
NOT_TEXT_OR_NUMBER = st.booleans() | lists | dicts  # CMS alarm fields take strings and numbers
# Text that is no event, no form (no '='), no JSON (no brace or bracket) and too short to be
# base64 of an alarm: a body made of it carries nothing to act on.
SAFE = st.text(alphabet=string.ascii_letters + " .,:;!?-_", min_size=1, max_size=40)
NO_DIGITS = st.text(alphabet=string.ascii_letters + " :-./+", max_size=25)  # never a time
BAD_TIME = NO_DIGITS | st.sampled_from(
    [
        "2026-11-27T20:00:00",  # no zone
        "2026-02-30T00:00:00Z",  # no such day
        "2026-11-27T20:00:00+25:00",  # no such offset
        "2026-11-27T24:61:00Z",
        "20261127T031512.047",  # compact, no zone
        "2026-11-27 20:00Z",
        "\u0662\u0660\u0662\u0666-11-27T20:00:00Z",  # non-ASCII digits
    ]
)

DROP = ("drop",)
NAN = float("nan")


def set_to(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    return values.map(lambda v: ("set", v))


def just(*values: Any) -> st.SearchStrategy[tuple[Any, ...]]:
    return set_to(st.sampled_from(values))


def rule(*, drop: bool = False, null: bool = False, refused: Any = None, bad: Any = None) -> Any:
    """The breaking operations for a field: drop it, null it, a type it refuses, a value it refuses."""
    options = []
    if drop:
        options.append(st.just(DROP))
    if null:
        options.append(just(None))
    if refused is not None:
        options.append(set_to(refused))
    if bad is not None:
        options.append(set_to(bad))
    return st.one_of(options)


REQ_STR = rule(drop=True, null=True, refused=NON_STRING, bad=st.just(""))
REQ_STR_EMPTY_OK = rule(drop=True, null=True, refused=NON_STRING)
OPT_STR = rule(refused=NON_STRING)
REQ_TIME = rule(drop=True, null=True, refused=NON_STRING, bad=BAD_TIME | st.just(""))
OPT_TIME = rule(refused=NON_STRING, bad=BAD_TIME)
REQ_OBJ = rule(drop=True, null=True, refused=NON_OBJECT)
OPT_OBJ = rule(refused=NON_OBJECT)
OPT_INT = rule(refused=NON_INT)
SIZE = rule(drop=True, null=True, refused=NON_INT, bad=st.integers(max_value=-1))
EPOCH_MS = rule(drop=True, null=True, refused=NON_INT, bad=st.integers(max_value=0))
CMS_REQ = rule(drop=True, null=True, refused=NOT_TEXT_OR_NUMBER, bad=st.just(""))
CMS_OPT = rule(refused=NOT_TEXT_OR_NUMBER)
STATES = ("OK", "ALERT", "INSUFFICIENT_DATA")
CMS_STATE = rule(
    drop=True,
    null=True,
    refused=NOT_TEXT_OR_NUMBER | ints | floats,
    bad=SAFE.filter(lambda s: s not in STATES) | st.sampled_from(["alert", "Alert", " ALERT", ""]),
)
CMS_TIMESTAMP = rule(
    drop=True,
    null=True,
    refused=NOT_TEXT_OR_NUMBER | floats | NO_DIGITS,
    bad=st.integers(max_value=0) | st.integers(min_value=10**20, max_value=2**80),  # out of range
)
LETTERS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=20)
BAD_MAP = SAFE.map(lambda s: "x" + s) | LETTERS.map(lambda s: "{" + s + "}")  # no key=value inside
CMS_DIMS = rule(
    refused=ints | floats | st.booleans() | lists,
    bad=BAD_MAP | st.dictionaries(st.sampled_from(["instanceId", "diskId"]), NOT_TEXT_OR_NUMBER, min_size=1),
)
NOT_ALARM_BODY = SAFE | st.just({"hello": "world"})
STRING_BODY = rule(drop=True, null=True, refused=NON_STRING, bad=SAFE)
ANY_BODY = rule(drop=True, null=True, refused=ints | floats | st.booleans() | lists, bad=NOT_ALARM_BODY)
SPEC = rule(drop=True, null=True, refused=NON_STRING, bad=st.sampled_from(["", "0.3", "1", "2.0", "1.0 "]))
NOT_PREFIXED = SAFE.map(lambda s: "x" + s)  # not acs:oss / acs.ecs / ecs: / a queue message type
NOT_ECS_TYPE = NOT_PREFIXED | st.just("ecs:")
NOT_A_NAME = SAFE.map(lambda s: "x-" + s.strip())  # the configuration names only daily and weekly
INVALID_POLICIES = st.sampled_from(
    [
        {"name": "adhoc"},
        {"name": "adhoc", "selector": {}},
        {"name": "Ad Hoc", "selector": {"all_disks": True}},
        {"name": "adhoc", "selector": {"all_disks": True}, "period": "7x"},
        {"name": "adhoc", "selector": {"all_disks": True}, "concurrency": 0},
        {"name": "adhoc", "selector": {"all_disks": True}, "snapshot_name": "auto-{disk_id}"},
        {"name": "adhoc", "selector": {"all_disks": True}, "time_zone": "Mars/Olympus"},
        {"name": "adhoc", "selector": {"all_disks": True}, "retention_days": 0},
        {"name": "adhoc", "selector": {"all_disks": True}, "tags": {"snapstack:slot": "x"}},
    ]
) | st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8).map(
    lambda k: {"name": "adhoc", "selector": {"all_disks": True}, f"zz_{k}": 1}  # unknown key
)
PAYLOAD = rule(
    null=True,  # no payload, and the configuration holds two policies
    refused=NON_STRING,
    bad=st.one_of(
        NOT_A_NAME,
        NOT_A_NAME.map(lambda n: json.dumps({"policy": n})),
        st.sampled_from(["", "  ", "42", "[1]", "true", "null", "NaN", '{"policy": ""}', '{"policy": null}']),
        (ints | floats | st.booleans() | lists).map(lambda v: json.dumps({"policy": v})),
        INVALID_POLICIES.map(lambda p: json.dumps({"policy": p})),
        # JSON too deep for the parser's recursion, and integers too long for int(): the payload is
        # read by the handler, not by the event decoder.
        st.integers(1500, 20000).map(lambda n: "[" * n + "]" * n),
        st.integers(1500, 20000).map(lambda n: '{"policy": ' * n + "1" + "}" * n),
        st.integers(4301, 9000).map(lambda n: "9" * n),
        st.integers(4301, 9000).map(lambda n: '{"policy": ' + "7" * n + "}"),
    ),
)

Path_ = tuple[Any, ...]
FieldRules = list[tuple[Path_, Any]]


def oss_fields(fc3: bool) -> FieldRules:
    r: Path_ = ("events", 0)
    fields: FieldRules = [
        (("events",), rule(drop=True, null=True, refused=NON_OBJECT, bad=st.just([]))),
        (r, rule(refused=NON_OBJECT)),
        ((*r, "eventName"), REQ_STR),
        ((*r, "eventSource"), rule(refused=NON_STRING, bad=NOT_PREFIXED)),
        ((*r, "eventTime"), REQ_TIME),
        ((*r, "region"), REQ_STR),
        ((*r, "oss"), REQ_OBJ),
        ((*r, "oss", "bucket"), REQ_OBJ),
        ((*r, "oss", "bucket", "arn"), rule(drop=True, null=True, refused=NON_STRING, bad=NOT_PREFIXED)),
        ((*r, "oss", "bucket", "name"), REQ_STR),
        ((*r, "oss", "object"), REQ_OBJ),
        ((*r, "oss", "object", "key"), REQ_STR),
        ((*r, "oss", "object", "eTag"), REQ_STR_EMPTY_OK),
        ((*r, "oss", "object", "size"), SIZE),
        ((*r, "oss", "object", "deltaSize"), OPT_INT),
        ((*r, "responseElements"), OPT_OBJ),
        ((*r, "responseElements", "requestId"), OPT_STR),
    ]  # fmt: skip
    if fc3:
        meta = (*r, "oss", "object", "objectMeta")
        fields += [
            (meta, OPT_OBJ),
            ((*meta, "mimeType"), OPT_STR),
            ((*meta, "userMeta"), OPT_OBJ),
            ((*meta, "userMeta", "x-oss-meta-release"), OPT_STR),
        ]
    return fields


MNS_MESSAGE = st.one_of(
    st.just(DROP),
    just(None),
    set_to(NON_STRING),
    SAFE.map(lambda s: ("message", s, True)),  # a body with no alarm, checksum updated
    SAFE.map(lambda s: ("message", s, False)),  # the original body with text added: checksum stale
)
MNS_MD5 = st.one_of(
    set_to(NON_STRING),
    set_to(SAFE),  # not 32 hexadecimal digits
    st.integers(0, 31).map(lambda i: ("flip_md5", i)),  # 32 hex digits, but not the body's MD5
)
MNS_JSON: FieldRules = [
    (("Message",), MNS_MESSAGE),
    (("MessageMD5",), MNS_MD5),
    (("MessageId",), REQ_STR),
    (("TopicName",), REQ_STR),
    (("PublishTime",), EPOCH_MS),
    (("TopicOwner",), OPT_STR),
    (("Subscriber",), OPT_STR),
    (("SubscriptionName",), OPT_STR),
]
CMS_JSON: FieldRules = [
    (("alertState",), CMS_STATE),
    (("alertName",), CMS_REQ),
    (("ruleId",), CMS_REQ),
    (("timestamp",), CMS_TIMESTAMP),
    (("dimensions",), CMS_DIMS),
    *(((key,), CMS_OPT) for key in ("curValue", "expression", "metricName", "triggerLevel", "regionId")),
]
SYSTEM_EVENT: FieldRules = [
    (("id",), REQ_STR),
    (("name",), REQ_STR),
    (("eventTime",), REQ_TIME),
    (("content",), REQ_OBJ),
    *(((key,), OPT_STR) for key in ("product", "resourceId", "level", "userId", "regionId")),
]
ECS_CLOUDEVENT: FieldRules = [
    (("specversion",), SPEC),
    (("id",), REQ_STR),
    (("source",), rule(drop=True, null=True, refused=NON_STRING, bad=NOT_PREFIXED)),
    (("type",), rule(drop=True, null=True, refused=NON_STRING, bad=NOT_ECS_TYPE)),
    (("time",), rule(drop=True, null=True, refused=NON_STRING, bad=BAD_TIME)),  # data has no eventTime
    (("data",), REQ_OBJ),
    *(((key,), OPT_STR) for key in ("subject", "datacontenttype")),
]
QUEUE_BODY = {"mns_queue": "messageBody", "rocketmq": "body", "kafka": "value", "rabbitmq": "body"}
QUEUE_IDS: dict[str, FieldRules] = {
    "mns_queue": [(("messageId",), OPT_STR)],
    "rocketmq": [(("systemProperties",), OPT_OBJ), (("systemProperties", "UNIQ_KEY"), OPT_STR)],
    "kafka": [(("topic",), OPT_STR), (("partition",), OPT_INT), (("offset",), OPT_INT)],
    "rabbitmq": [(("props",), OPT_OBJ), (("props", "messageId"), OPT_STR)],
}


def batch_fields(name: str) -> FieldRules:
    kind = next(k for k in QUEUE_BODY if k.split("_")[0] in name)
    body_rule = STRING_BODY if kind in ("mns_queue", "rocketmq") else ANY_BODY
    fields: FieldRules = []
    for i in range(len(json.loads(raw(name)))):
        fields += [
            ((i,), rule(refused=NON_OBJECT)),
            ((i, "specversion"), SPEC),
            ((i, "id"), REQ_STR),
            ((i, "source"), rule(drop=True, null=True, refused=NON_STRING, bad=st.just("acs.ecs"))),
            ((i, "type"), rule(drop=True, null=True, refused=NON_STRING, bad=NOT_PREFIXED)),
            ((i, "time"), OPT_TIME),
            ((i, "data"), REQ_OBJ),
            ((i, "data", QUEUE_BODY[kind]), body_rule),
            *(((i, "data", *path), r) for path, r in QUEUE_IDS[kind]),
        ]
    return fields


NOT_IDS = st.just([]) | st.lists(st.integers() | st.sampled_from(["web-01", "d-web-01-data", ""]), min_size=1)
DEPLOY_REQUEST: FieldRules = [
    (
        ("deploy_id",),
        rule(drop=True, null=True, refused=NON_STRING, bad=st.sampled_from(["", "a b", "x" * 129])),
    ),
    (("reason",), rule(null=True, refused=NON_STRING, bad=st.text(min_size=501, max_size=600))),
    (
        ("instance_ids",),
        rule(drop=True, null=True, refused=ints | floats | st.booleans() | texts | dicts, bad=NOT_IDS),
    ),
    # keys an invoker may not send: names, retention, tags and policies are the configuration's
    *(((key,), set_to(NON_STRING | texts)) for key in ("retention_days", "tags", "snapshot_name", "policy")),
]
FIELDS: dict[str, FieldRules] = {
    "deploy_invoke.json": DEPLOY_REQUEST,
    "timer.json": [(("triggerTime",), REQ_TIME), (("triggerName",), REQ_STR), (("payload",), PAYLOAD)],
    "oss_put_object.json": oss_fields(fc3=False),
    "oss_put_object_fc3.json": oss_fields(fc3=True),
    "mns_topic_json.json": MNS_JSON,
    "mns_topic_json_attrs.json": MNS_JSON,
    "mns_topic_stream_attrs.json": [
        (("body",), STRING_BODY),
        (("attrs",), rule(drop=True, null=True, refused=NON_OBJECT)),
        (
            ("attrs", "Extend"),
            rule(
                refused=NON_STRING,
                bad=st.sampled_from(["", "[1]", "42", '"x"', "null", "{"]) | SAFE.map(lambda s: "{" + s),
            ),
        ),
    ],
    "eventbridge_ecs_instance_state_change.json": ECS_CLOUDEVENT,
    "cms_threshold_alarm.json": CMS_JSON,
    "cms_system_event.json": SYSTEM_EVENT,
    **{name: batch_fields(name) for name in SHAPES["batch"]},
}


def apply(value: Any, path: Path_, op: tuple[Any, ...]) -> Any:
    """``value`` with ``op`` applied at ``path`` (a deep copy; the sample is never changed)."""
    value = copy.deepcopy(value)
    if op[0] == "message":  # MNS: a new body, with or without a matching checksum
        _, text, fix_md5 = op
        value["Message"] = text if fix_md5 else value["Message"] + text
        if fix_md5:
            value["MessageMD5"] = hashlib.md5(text.encode()).hexdigest().upper()
        return value
    if op[0] == "flip_md5":
        md5 = list(value["MessageMD5"])
        md5[op[1]] = "0" if md5[op[1]] != "0" else "1"
        value["MessageMD5"] = "".join(md5)
        return value
    if not path:
        return op[1]
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    if op[0] == "drop":
        del parent[path[-1]]
    else:
        parent[path[-1]] = op[1]
    return value


def paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*prefix, i)
            yield from paths(child, (*prefix, i))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80"])
# JSON values no trigger delivers that cannot hold an alarm either (no text that could be a form,
# JSON or base64: a digit-only base64 text never decodes to a '{').
SCALARS = ints | floats | st.booleans() | st.none() | NO_DIGITS


@dataclass(frozen=True)
class Case:
    function: str
    event: bytes
    label: str


def misrouted(draw: Callable[..., Any], name: str) -> Case:
    others = [f for f in FUNCTIONS if f != function_for(name)]
    return Case(draw(st.sampled_from(others)), raw(name), "misrouted")


def with_invalid_utf8(draw: Callable[..., Any], data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(INVALID_UTF8) + data[at:]


@st.composite
def broken_json(draw: Callable[..., Any], name: str) -> Case:
    sample = json.loads(raw(name))
    function = function_for(name)
    how = draw(st.sampled_from(["field"] * 6 + ["truncate", "utf8", "misroute", "nan", "deep", "whole"]))
    if how == "field":
        path, breakers = draw(st.sampled_from(FIELDS[name]))
        op = draw(breakers)
        broken_value = apply(sample, path, op)
        if isinstance(sample, list):
            # One bad element costs the others nothing (issue 11 item 3): the batch is bad input
            # only when every element is broken, so break each element the same way.
            for i in range(len(sample)):
                if i != path[0]:
                    broken_value = apply(broken_value, (i, *path[1:]), op)
        event = json.dumps(broken_value).encode()
        return Case(function, event, f"{'.'.join(map(str, path))}:{op[0]}")
    text = raw(name)
    if how == "truncate":
        end = max(text.rfind(b"}"), text.rfind(b"]"))  # the top-level value never closes
        return Case(function, text[: draw(st.integers(0, end - 1))], how)
    if how == "utf8":
        return Case(function, with_invalid_utf8(draw, text), how)
    if how == "misroute":
        return misrouted(draw, name)
    if how in ("nan", "deep"):
        path = draw(st.sampled_from(list(paths(sample))))
        if how == "nan":
            bad = draw(st.sampled_from([NAN, float("inf"), -float("inf")]))
        else:
            bad = nested(draw(st.integers(65, 400)))
        return Case(function, json.dumps(apply(sample, path, ("set", bad))).encode(), f"{how}@{len(path)}")
    # The whole event is a JSON value of the wrong kind (a batch of nothing, for a batch).
    if isinstance(sample, list):
        whole = draw(st.sampled_from([[], [1], [[]], ["x"], [None]]) | SCALARS)
    else:
        # (a lone acs.ecs CloudEvent in an array is a valid batch, so that one is not offered)
        wrapped = [st.just([sample])] if "specversion" not in sample else []
        whole = draw(st.one_of(SCALARS, st.just([]), st.just({}), *wrapped))
    return Case(function, json.dumps(whole).encode(), "whole")  # fmt: skip


FORM_REQUIRED = ("alertName", "alertState", "ruleId", "timestamp")
FORM_BREAKS = ("drop", "state", "timestamp", "repeat", "escape", "dims", "flood", "utf8", "misroute")


@st.composite
def broken_form(draw: Callable[..., Any]) -> Case:
    name = "cms_threshold_alarm.form"
    text = raw(name).decode()
    fields = text.split("&")
    how = draw(st.sampled_from(FORM_BREAKS))
    if how == "drop":
        key = draw(st.sampled_from(FORM_REQUIRED))
        fields = [f for f in fields if not f.startswith(key + "=")]
    elif how == "state":
        bad = draw(SAFE.filter(lambda s: s not in STATES) | st.sampled_from(["alert", "", "OK%20"]))
        fields = [f"alertState={bad}" if f.startswith("alertState=") else f for f in fields]
    elif how == "timestamp":
        bad = draw(NO_DIGITS | st.sampled_from(["0", "-5", "1.5", "1e3", "99999999999999999999999"]))
        fields = [f"timestamp={bad}" if f.startswith("timestamp=") else f for f in fields]
    elif how == "repeat":
        key = draw(st.sampled_from(FORM_REQUIRED))
        fields.append(f"{key}=other-{draw(st.integers(0, 99))}")
    elif how == "escape":  # a percent-escape that is not UTF-8
        at = draw(st.integers(0, len(fields) - 1))
        fields[at] += draw(st.sampled_from(["%FF", "%C3%28", "%80", "%ED%A0%80"]))
    elif how == "dims":
        fields = [f"dimensions={draw(BAD_MAP)}" if f.startswith("dimensions=") else f for f in fields]
    elif how == "flood":
        fields += [f"x{i}=1" for i in range(draw(st.integers(201, 400)))]
    elif how == "utf8":
        return Case("alarm_snapshot", with_invalid_utf8(draw, text.encode()), how)
    else:
        return misrouted(draw, name)
    return Case("alarm_snapshot", "&".join(fields).encode(), how)


@st.composite
def broken_stream(draw: Callable[..., Any]) -> Case:
    """The plain STREAM body is no alarm: every cut, insertion or corruption of it stays none."""
    name = "mns_topic_stream_raw.txt"
    text = raw(name)
    how = draw(st.sampled_from(["as_is", "cut", "insert", "utf8", "misroute"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "insert":
        at = draw(st.integers(1, len(text)))
        text = text[:at] + draw(SAFE).encode() + text[at:]
    elif how == "utf8":
        text = with_invalid_utf8(draw, text)
    elif how == "misroute":
        return misrouted(draw, name)
    return Case("alarm_snapshot", text, how)


def broken(shape: str) -> st.SearchStrategy[Case]:
    options = []
    for name in SHAPES[shape]:
        if name == "cms_threshold_alarm.form":
            options.append(broken_form())
        elif name == "mns_topic_stream_raw.txt":
            options.append(broken_stream())
        else:
            options.append(broken_json(name))
    function = function_for(SHAPES[shape][0])
    options.append(st.sampled_from([b"", b" ", b"\n\t "]).map(lambda e: Case(function, e, "empty")))
    return st.one_of(options)


# --- the property --------------------------------------------------------------------------------------


@dataclass
class Harness:
    """One emulator for the whole module: its request counters must stay at zero throughout."""

    stack: Template
    emulator: EcsEmulator
    target: Target
    token_table: str
    seen: Counter[str] = field(default_factory=Counter)

    def check(self, case: Case) -> dict[str, Any]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = invoke(self.stack, case.function, case.event, self.target, token_table=self.token_table)
        where = f"{case.function} <- {case.label}: {case.event[:200]!r}"
        assert result.error is None, f"the handler raised ({where}):\n{result.error}"
        assert not result.incomplete, where
        summary = result.summary
        assert summary is not None and summary["ok"] is False, (where, summary)
        assert summary["created"] == 0 and summary["disks"] == [], where
        error = summary["error"]
        assert error.get("field") and error.get("rule"), (where, error)
        lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
        errors = [line for line in lines if line.get("level") == "ERROR"]
        assert len(errors) == 1, (where, lines)
        assert (errors[0]["field"], errors[0]["rule"]) == (error["field"], error["rule"]), where
        assert all_calls(self.emulator) == 0, (where, self.emulator.counters.to_dict())
        self.seen[f"{case.function}:{error['source']}:{error['field']}"] += 1
        return summary


@pytest.fixture(scope="module")
def harness(stack: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with EcsEmulator() as emu:
        table = f"sqlite:///{tmp_path_factory.mktemp('bad-input')}/tokens.db"
        yield Harness(stack, emu, target_of(emu), table)
        assert all_calls(emu) == 0


def run_property(harness: Harness, strategy: st.SearchStrategy[Case], examples: int, label: str) -> None:
    harness.seen.clear()
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=strategy)
    def prop(case: Case) -> None:
        nonlocal count
        count += 1
        harness.check(case)

    prop()
    assert count >= examples
    report(f"bad input {label}", {"examples": count, "distinct_errors": len(harness.seen)})


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_broken_events_are_bad_input(harness: Harness, sizes: Sizes, shape: str) -> None:
    run_property(harness, broken(shape), sizes.bad_input_examples, shape)


def test_arbitrary_bytes_are_bad_input(harness: Harness, sizes: Sizes) -> None:
    strategy = st.builds(Case, st.sampled_from(FUNCTIONS), st.binary(max_size=400), st.just("bytes"))
    run_property(harness, strategy, sizes.bad_input_examples, "arbitrary bytes")


# --- hostile deploy manifests (untrusted objects in the bucket) ----------------------------------------

MANIFESTS = {
    # (all under the 64 KiB manifest limit, so the parser sees them)
    "deep arrays": b"[" * 20_000 + b"]" * 20_000,
    "deep objects": b'{"reason": ' * 3_000 + b"1" + b"}" * 3_000,
    "huge integer": b'{"instance_ids": ["i-web-01"], "reason": ' + b"9" * 5000 + b"}",
    "not utf-8": b'{"instance_ids": ["i-web-01"], "reason": "\xff"}',
    "not json": b"instance_ids: [i-web-01]",
    "empty": b"",
    "array": b'["i-web-01"]',
    "unknown key": b'{"instance_ids": ["i-web-01"], "retention_days": 1}',
    "bad id": b'{"instance_ids": ["web-01"]}',
    "no target": b'{"reason": "nothing"}',
    "nan": b'{"instance_ids": ["i-web-01"], "reason": NaN}',
    "oversized": b'{"instance_ids": ["i-web-01"], "reason": "' + b"x" * 70_000 + b'"}',
}


@pytest.mark.parametrize("body", list(MANIFESTS.values()), ids=list(MANIFESTS))
def test_hostile_manifests_are_bad_input(harness: Harness, oss: Oss, body: bytes) -> None:
    event = oss.put("releases/web/2026-11-27/manifest.json", body)
    summary = harness.check(Case("deploy_hook", json.dumps(event).encode(), "manifest"))
    assert summary["error"]["source"].startswith("manifest oss://")


def test_an_intact_sample_does_call_ecs(stack: Template, tmp_path: Path) -> None:
    """The same path with an intact sample does call ECS, so zero calls above means something."""
    with EcsEmulator() as emu:
        result = invoke(stack, "scheduled_backup", raw("timer.json"), target_of(emu),
                        token_table=f"sqlite:///{tmp_path}/tokens.db")  # fmt: skip
        assert result.summary is not None and result.summary["ok"] and result.summary["created"] > 0
        assert all_calls(emu) > 0


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf", "1e999"])
def test_a_bad_lease_setting_fails_the_invocation_as_a_configuration_error(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Configuration, not bad input: raised (FC records and alerts on it), its own code and metric."""
    monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = invoke(harness.stack, "scheduled_backup", raw("timer.json"), harness.target,
                        token_table=harness.token_table)  # fmt: skip
    assert isinstance(result.exception, ConfigError), result.error
    assert result.exception.field == "SNAPSTACK_LEASE_SECONDS"
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line.get("level") == "ERROR"]
    assert [(e["error_code"], e["field"]) for e in errors] == [("ConfigError", "SNAPSTACK_LEASE_SECONDS")]
    assert [line["ConfigErrors"] for line in lines if "_aws" in line] == [1.0]
    assert all_calls(harness.emulator) == 0
