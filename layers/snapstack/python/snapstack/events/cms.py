"""CloudMonitor (CMS): threshold-alarm callbacks and ECS system events.

Threshold alarms arrive form-encoded (``application/x-www-form-urlencoded``; the HTTP callback)
or as a JSON object with the same keys (how CMS alarms look through MNS/EventBridge is not
documented [?], so the JSON form reads the callback's keys). Decisions:
- ``dimensions`` is a Java map string ``{userId=12****, instanceId=i-12****}``, a JSON object,
  or a JSON object encoded as a string; empty or ``null`` is no dimensions.
- ``timestamp`` is epoch seconds or milliseconds, told apart by magnitude (>= 1e11 is ms).
- The literal string ``null`` (CMS sends ``unit=null``) in an optional field means absent.
- A field repeated in the form with different values is an error (which one would be true?).
- Keys beyond the documented ones (``lastTime``, ``transId``, ``unit`` ...) land in ``extra``.

System events arrive as the CMS notification JSON (``{ver, id, product, resourceId, level,
name, userId, eventTime: "20181226T220114.058+0800", regionId, content}``) or as an
EventBridge CloudEvent from source ``acs.ecs`` (``EcsSystemEvent.from_cloudevent``). Whether
the CloudEvent's ``data`` is the CMS ``content`` itself or the whole notification wrapping it is
not confirmed [?]: both are accepted (``data.state`` and ``data.content.state``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, Node, decoding, epoch_time, json_type, preview
from snapstack.events.cloudevents import CloudEvent

AlertState = Literal["OK", "ALERT", "INSUFFICIENT_DATA"]
_STATES: dict[str, AlertState] = {"OK": "OK", "ALERT": "ALERT", "INSUFFICIENT_DATA": "INSUFFICIENT_DATA"}
_ALARM_KEYS = frozenset(
    {
        "alertName",
        "alertState",
        "curValue",
        "dimensions",
        "expression",
        "instanceName",
        "metricName",
        "metricProject",
        "namespace",
        "preTriggerLevel",
        "triggerLevel",
        "ruleId",
        "signature",
        "timestamp",
        "userId",
        "regionId",
    }
)
_MAP_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*", re.ASCII)
_MAP_SPLIT = re.compile(r",\s*(?=[A-Za-z_][A-Za-z0-9_.\-]*=)", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# A callback carries ~25 fields; the bound keeps a hostile body from costing much to parse.
_MAX_FORM_FIELDS = 200


class CmsThresholdAlarm(BaseModel):
    """A CloudMonitor threshold alarm (or its recovery): one rule, one state change."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "cms_alarm"

    rule_id: str
    alert_name: str
    alert_state: AlertState
    timestamp: AwareDatetime
    trigger_level: str | None = None
    pre_trigger_level: str | None = None
    metric_name: str | None = None
    metric_project: str | None = None
    namespace: str | None = None
    dimensions: dict[str, str] = {}
    cur_value: str | None = None
    expression: str | None = None
    user_id: str | None = None
    region_id: str | None = None
    instance_name: str | None = None
    signature: str | None = None
    extra: dict[str, Any] = {}

    @property
    def dedupe_key(self) -> str:
        """Rule + timestamp (ms) + state: CMS retries of one notification share it."""
        return f"cms:{self.rule_id}:{_millis(self.timestamp)}:{self.alert_state}"

    @classmethod
    @decoding("cms_alarm")
    def from_form(cls, text: str) -> CmsThresholdAlarm:
        """Decode a form-encoded callback body; raises EventDecodeError."""
        node = Node(cls.shape, ROOT, text)
        try:
            pairs = parse_qs(text, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FORM_FIELDS)
        except UnicodeDecodeError:
            node.fail("a percent-escape does not decode to UTF-8")
        except ValueError:
            node.fail(f"more than {_MAX_FORM_FIELDS} form fields")
        fields: dict[str, str] = {}
        for key, values in pairs.items():
            if len(set(values)) > 1:
                node.fail(f"repeated with different values ({len(values)} times)", key)
            fields[key] = values[0]
        return cls._from_fields(Node(cls.shape, ROOT, fields))

    @classmethod
    @decoding("cms_alarm")
    def from_json(cls, value: Any, path: str = ROOT) -> CmsThresholdAlarm:
        """Decode the JSON form (same keys as the callback); raises EventDecodeError."""
        return cls._from_fields(Node(cls.shape, path, value))

    @classmethod
    def _from_fields(cls, node: Node) -> CmsThresholdAlarm:
        obj = node.obj()
        text = _required(node, "alertState")
        state = _STATES.get(text)
        if state is None:
            node.fail(f"must be one of {', '.join(_STATES)} (got {preview(text)})", "alertState")
        return cls(
            rule_id=_required(node, "ruleId"),
            alert_name=_required(node, "alertName"),
            alert_state=state,
            timestamp=_timestamp(node),
            trigger_level=_optional(node, "triggerLevel"),
            pre_trigger_level=_optional(node, "preTriggerLevel"),
            metric_name=_optional(node, "metricName"),
            metric_project=_optional(node, "metricProject"),
            namespace=_optional(node, "namespace"),
            dimensions=_dimensions(node),
            cur_value=_optional(node, "curValue"),
            expression=_optional(node, "expression"),
            user_id=_optional(node, "userId"),
            region_id=_optional(node, "regionId"),
            instance_name=_optional(node, "instanceName"),
            signature=_optional(node, "signature"),
            extra={key: value for key, value in obj.items() if key not in _ALARM_KEYS},
        )


class EcsSystemEvent(BaseModel):
    """An ECS system event (state change, maintenance, failure, snapshot completion ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "system_event"

    id: str
    name: str
    event_time: AwareDatetime
    product: str | None = None
    resource_id: str | None = None
    level: str | None = None
    user_id: str | None = None
    region_id: str | None = None
    content: dict[str, Any] = {}

    @property
    def dedupe_key(self) -> str:
        """The event id (for an EventBridge delivery, the CloudEvent id)."""
        return f"ecs-event:{self.id}"

    @classmethod
    @decoding("system_event")
    def from_json(cls, value: Any, path: str = ROOT) -> EcsSystemEvent:
        """Decode a CMS system-event notification; raises EventDecodeError."""
        node = Node(cls.shape, path, value)
        return cls(
            id=node.req_str("id"),
            name=node.req_str("name"),
            event_time=node.time("eventTime"),
            product=node.opt_str("product"),
            resource_id=node.opt_str("resourceId"),
            level=node.opt_str("level"),
            user_id=node.opt_str("userId"),
            region_id=node.opt_str("regionId"),
            content=node.req_obj("content").obj(),
        )

    @classmethod
    @decoding("system_event")
    def from_cloudevent(cls, event: CloudEvent, path: str = ROOT) -> EcsSystemEvent:
        """Build from an EventBridge ``acs.ecs`` CloudEvent (type ``ecs:<Resource>:<Event>``).

        ``data`` may be the event content itself or the whole CMS notification wrapping it in
        ``content``; the wrapper's fields win over the envelope's. Raises EventDecodeError.
        """
        # A CloudEvent without data and one with null data read the same: data is required.
        fields = {"source": event.source, "type": event.type}
        top = Node(cls.shape, path, fields if event.data is None else fields | {"data": event.data})
        if event.source != "acs.ecs":
            top.fail(f"must be 'acs.ecs' for an ECS event (got {preview(event.source)})", "source")
        name = event.type.removeprefix("ecs:")
        if name == event.type or not name:
            top.fail(f"must be an ECS event type ecs:<Resource>:<Event> (got {preview(event.type)})", "type")
        data = top.req_obj("data")
        wrapper = data if isinstance(data.get("content"), dict) else None
        content = wrapper.req_obj("content") if wrapper else data
        when = wrapper.opt_time("eventTime") if wrapper else None
        when = when or event.time
        if when is None:
            top.fail("has no time: neither data.eventTime nor the CloudEvent time is set", "data")
        return cls(
            id=event.id,
            name=name,
            event_time=when,
            product=(wrapper.opt_str("product") if wrapper else None) or "ECS",
            resource_id=(wrapper.opt_str("resourceId") if wrapper else None) or event.subject,
            level=wrapper.opt_str("level") if wrapper else None,
            user_id=(wrapper.opt_str("userId") if wrapper else None) or _ext(event, "aliyunaccountid"),
            region_id=(wrapper.opt_str("regionId") if wrapper else None) or _ext(event, "aliyunregionid"),
            content=content.obj(),
        )


def _ext(event: CloudEvent, key: str) -> str | None:
    value = event.extensions.get(key)
    return value if isinstance(value, str) and value else None


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _text(node: Node, key: str, value: Any) -> str:
    """A string as is, a JSON number as its JSON text; anything else is an error."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        node.fail(f"must be a string or a number (got {json_type(value)})", key)
    if isinstance(value, int) and value.bit_length() > 64:
        node.fail(f"number out of range ({preview(value)})", key)
    return json.dumps(value)


def _required(node: Node, key: str) -> str:
    value = node.get(key)
    if value is None:
        node.fail("is required", key)
    text = _text(node, key, value)
    if not text:
        node.fail("must not be empty", key)
    return text


def _optional(node: Node, key: str) -> str | None:
    """An optional field as text; missing, JSON null and the text ``null`` are all absent."""
    value = node.get(key)
    text = None if value is None else _text(node, key, value)
    return None if text == "null" else text


def _timestamp(node: Node) -> datetime:
    value = node.get("timestamp")
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        node.fail(
            f"must be an epoch time in seconds or milliseconds (got {preview(value)})"
            if "timestamp" in node.obj()
            else "is required",
            "timestamp",
        )
    return epoch_time(value, node.shape, node.at("timestamp"), unit="auto")


def _dimensions(node: Node) -> dict[str, str]:
    value = node.get("dimensions")
    if isinstance(value, str):
        value = _dimension_text(node, value)
    if value is None:
        return {}
    if not isinstance(value, dict):
        node.fail(
            f"must be a Java map string, a JSON object or a JSON string (got {json_type(value)})",
            "dimensions",
        )
    dims = Node(node.shape, node.at("dimensions"), value)
    return {key: _text(dims, key, item) for key, item in value.items()}


def _dimension_text(node: Node, value: str) -> dict[str, Any] | None:
    """The object a dimensions string holds: none, a JSON object, or a Java map."""
    text = value.strip()
    if text in ("", "null"):
        return None
    if not (text.startswith("{") and text.endswith("}")):
        node.fail(f"must look like {{key=value, ...}} (got {preview(value)})", "dimensions")
    try:
        parsed: dict[str, Any] = json.loads(text)  # braces on both ends: an object, if JSON at all
    except (ValueError, RecursionError):
        return _java_map(Node(node.shape, node.at("dimensions"), text))
    return parsed


def _java_map(node: Node) -> dict[str, str]:
    """Parse Java's ``Map.toString()``: ``{k1=v1, k2=v2}``; values keep inner '=' and spaces."""
    text: str = node.value
    inner = text[1:-1].strip()
    if not inner:
        return {}
    out: dict[str, str] = {}
    for part in _MAP_SPLIT.split(inner):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep or not _MAP_KEY.fullmatch(key):
            node.fail(f"entry {preview(part)} is not key=value")
        out[key] = val.strip()
    return out
