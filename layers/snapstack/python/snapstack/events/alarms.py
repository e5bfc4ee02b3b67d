"""alarm_signals: every carrier an alarm can arrive in -> uniform AlarmSignal records.

Carriers: a CMS threshold alarm (form or JSON), a CMS system event, an EventBridge ``acs.ecs``
CloudEvent, an MNS topic message whose body is one of those, and an event-stream batch whose
elements' bodies are (the element's own ``acs.ecs`` event counts too).

Decisions:
- ``state`` of a threshold alarm is its ``alertState``. A system event is ``ALERT`` when its
  level is WARN or CRITICAL; when it is a system maintenance / system failure / preemptible
  interruption event not yet resolved (status other than Executed, Canceled, Avoided, which
  give ``OK``); or when an instance changed state to Stopped. A change to Running is ``OK``.
  Everything else (snapshot completions, disk operations, other state changes) is ``INFO``:
  reported, so the handler can log it, but not an alarm to act on. ``carried`` keeps what the
  event itself said (``alertState ALERT``, ``state Running``, ``status Executed``...), so a note
  about an event that does not act names the state it really carried.
- ``dedupe_id`` is the alarm's identity: the platform's event id where one exists, so one
  incident is one alarm across its status transitions and transports. A system maintenance /
  failure event's ``content.eventId`` (the same in ``...Reboot:Scheduled`` and
  ``...Reboot:Executing``, and in the EventBridge ``data``, which spells the type without the
  status) gives ``ecs-system-event:<eventId>``. Without one: CMS ``ruleId+timestamp+alertState``
  (what CMS's own retries repeat), the CMS notification id, or ``source+id`` of an ``acs.ecs``
  CloudEvent. The carrier's id (MNS MessageId, queue message id) is kept in
  ``detail["delivery_id"]``.
- Instances and disks: a threshold alarm's ``instanceId`` / ``diskId`` dimensions (``device``
  stays in ``detail["dimensions"]`` for the planner to map); a system event's ``resourceId``
  ARN (``.../instance/i-...``, ``.../disk/d-...``), ``content.instanceId``, ``content.diskId``
  and ``content.resourceId`` (by ``resourceType``, else by its ``i-``/``d-`` prefix).
- Bodies are JSON objects, JSON text, base64 of JSON text (MNS SDKs publish base64 by
  default; Kafka's binary format), or a form-encoded threshold alarm.
- A batch is read element by element: an element without an alarm is reported in
  ``AlarmReading.unusable`` with its index and reason, and the others are read as if each had
  come alone. An event with no usable alarm at all (a lone carrier without one, a batch of
  nothing usable, an MNS message whose body is none) is an EventDecodeError naming it; for a
  batch or an MNS message it carries every element's reason (``elements``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, decoding, fail, join, json_type, load_json, preview
from snapstack.events.cloudevents import BODY_FIELDS, QUEUE_TYPES, CloudEvent, EventBatch, queue_message
from snapstack.events.cms import CmsThresholdAlarm, EcsSystemEvent
from snapstack.events.decode import DecodedEvent
from snapstack.events.errors import EventDecodeError, UnusableElement, nothing_usable
from snapstack.events.mns import MnsMessage, base64_bytes
from snapstack.events.shapes import is_cms_alarm, is_cms_form, is_system_event

_SHAPE = "alarm"
_ALERT_LEVELS = frozenset({"WARN", "CRITICAL"})
_RESOLVED = frozenset({"Executed", "Canceled", "Avoided"})
_INCIDENT_FAMILIES = ("SystemMaintenance", "SystemFailure", "PreemptibleInstanceInterruption")
_ARN = re.compile(r"acs:ecs:[^:]*:[^:]*:(instance|disk)/(.+)")


class AlarmSignal(BaseModel):
    """One alarm, whatever carried it: what fired, its state, which instances/disks, when."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    source: Literal["cms_alarm", "system_event"]
    rule: str
    state: str
    carried: str
    instance_ids: tuple[str, ...] = ()
    disk_ids: tuple[str, ...] = ()
    occurred_at: AwareDatetime
    dedupe_id: str
    index: int | None = None  # position in the delivered batch (0 for an MNS message's body)
    detail: dict[str, Any] = {}


class AlarmReading(BaseModel):
    """What one event carries: its usable alarms, and the elements that hold none."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    signals: tuple[AlarmSignal, ...]
    unusable: tuple[UnusableElement, ...] = ()


@decoding(_SHAPE)
def alarm_signals(decoded: DecodedEvent) -> AlarmReading:
    """The alarms a decoded event carries (one per carrier; a batch gives one per usable element).

    Raises EventDecodeError when the event carries no usable alarm at all (see the module
    docstring); a batch with some usable elements reports the others in ``unusable``.
    """
    if isinstance(decoded, CmsThresholdAlarm):
        return AlarmReading(signals=(_cms_signal(decoded, "direct", None),))
    if isinstance(decoded, EcsSystemEvent):
        return AlarmReading(signals=(_system_signal(decoded, decoded.dedupe_key, "direct", None),))
    if isinstance(decoded, CloudEvent):
        return AlarmReading(signals=(_from_cloudevent(decoded, ROOT),))
    if isinstance(decoded, EventBatch):
        return _from_batch(decoded)
    if isinstance(decoded, MnsMessage):
        try:
            signal = _from_mns(decoded)
        except EventDecodeError as exc:
            element = UnusableElement(index=0, field=exc.field, rule=exc.rule)
            raise EventDecodeError(exc.shape, exc.field, exc.rule, (element,)) from None
        return AlarmReading(signals=(signal.model_copy(update={"index": 0}),))
    fail(decoded.shape, ROOT, f"{decoded.shape} events carry no alarm")


def _from_batch(batch: EventBatch) -> AlarmReading:
    signals: list[AlarmSignal] = []
    unusable = list(batch.unusable)
    for index, event in batch.indexed():
        try:
            signal = _from_cloudevent(event, f"[{index}]")
        except EventDecodeError as exc:
            unusable.append(UnusableElement(index=index, field=exc.field, rule=exc.rule))
            continue
        signals.append(signal.model_copy(update={"index": index}))
    unusable.sort(key=lambda element: element.index)
    if not signals:
        raise nothing_usable(EventBatch.shape, unusable)
    return AlarmReading(signals=tuple(signals), unusable=tuple(unusable))


def _from_cloudevent(event: CloudEvent, path: str) -> AlarmSignal:
    if event.source == "acs.ecs":
        system = EcsSystemEvent.from_cloudevent(event, path)
        return _system_signal(system, event.dedupe_key, "eventbridge", None)
    kind = QUEUE_TYPES.get(event.type)
    if kind is None:
        fail(
            CloudEvent.shape,
            join(path, "type"),
            f"carries no alarm: {preview(event.type)} is neither an acs.ecs event nor a queue message",
        )
    message = queue_message(event, path)
    body_path = join(join(path, "data"), BODY_FIELDS[kind])
    return _from_body(message.body, body_path, kind, message.message_id or event.dedupe_key)


def _from_mns(message: MnsMessage) -> AlarmSignal:
    path = {"json": "Message", "json_attrs": "Message", "stream_attrs": "body"}.get(message.form, ROOT)
    if message.body_base64:  # base64 here means the STREAM bytes were not UTF-8 text
        fail(MnsMessage.shape, path, "carries no alarm: the body is binary, not text")
    return _from_body(message.body, path, "mns_topic", message.message_id)


def _from_body(body: Any, path: str, transport: str, delivery: str | None) -> AlarmSignal:
    """An alarm from a message body: a JSON object, JSON text (maybe base64) or a CMS form."""
    if isinstance(body, str):
        text = body.strip()
        if not text.startswith("{") and is_cms_form(text):
            return _cms_signal(CmsThresholdAlarm.from_form(text), transport, delivery)
        body = load_json(_json_text(text, path), _SHAPE, path)
    if not isinstance(body, dict):
        fail(_SHAPE, path, f"carries no alarm: the body is a JSON {json_type(body)}, not an object")
    if is_cms_alarm(body):
        return _cms_signal(CmsThresholdAlarm.from_json(body, path), transport, delivery)
    if "specversion" in body:
        event = CloudEvent.from_json(body, path)
        if event.source != "acs.ecs":
            fail(CloudEvent.shape, join(path, "source"), "carries no alarm: only acs.ecs CloudEvents do")
        system = EcsSystemEvent.from_cloudevent(event, path)
        return _system_signal(system, event.dedupe_key, transport, delivery)
    if is_system_event(body):
        system = EcsSystemEvent.from_json(body, path)
        return _system_signal(system, system.dedupe_key, transport, delivery)
    keys = ", ".join(sorted(body)[:8]) or "none"
    fail(
        _SHAPE,
        path,
        f"carries no alarm: not a CMS alarm, an ECS system event or an acs.ecs CloudEvent (keys: {keys})",
    )


def _json_text(text: str, path: str) -> str:
    """The JSON object text a body holds: the body itself, or the text its base64 encodes."""
    if not text.startswith("{"):
        decoded = base64_bytes(text)
        try:
            text = decoded.decode("utf-8").strip() if decoded is not None else ""
        except UnicodeDecodeError:
            text = ""
    if not text.startswith("{"):
        fail(_SHAPE, path, "carries no alarm: the body is not a JSON object, nor base64 of one")
    return text


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _cms_signal(alarm: CmsThresholdAlarm, transport: str, delivery: str | None) -> AlarmSignal:
    dims = alarm.dimensions
    detail = {
        "alert_name": alarm.alert_name,
        "metric_project": alarm.metric_project or alarm.namespace,
        "metric_name": alarm.metric_name,
        "dimensions": dict(dims),
        "cur_value": alarm.cur_value,
        "expression": alarm.expression,
        "trigger_level": alarm.trigger_level,
        "region_id": alarm.region_id,
        "user_id": alarm.user_id,
        "transport": transport,
        "delivery_id": delivery,
    }
    return AlarmSignal(
        source="cms_alarm",
        rule=alarm.rule_id,
        state=alarm.alert_state,
        carried=f"alertState {alarm.alert_state}",
        instance_ids=_unique([dims.get("instanceId", "")]),
        disk_ids=_unique([dims.get("diskId", "")]),
        occurred_at=alarm.timestamp,
        dedupe_id=alarm.dedupe_key,
        detail=detail,
    )


def _system_state(event: EcsSystemEvent) -> tuple[str, str]:
    """The alarm state of a system event, and what the event carried to give it."""
    parts = event.name.split(":")
    family = parts[1] if len(parts) > 1 else ""
    content = event.content
    level = (event.level or "").upper()
    if family.startswith(_INCIDENT_FAMILIES):
        status = content.get("eventStatus")
        if not isinstance(status, str):
            status = parts[2] if len(parts) > 2 else ""
        if status:
            state = "OK" if status in _RESOLVED and level not in _ALERT_LEVELS else "ALERT"
            return state, f"status {status}"
        return "ALERT", f"{event.name} (no status)"
    if family == "StateChange" and isinstance(content.get("state"), str):
        carried = content["state"]
        if level in _ALERT_LEVELS or carried == "Stopped":
            return "ALERT", f"state {carried}"
        return ("OK" if carried == "Running" else "INFO"), f"state {carried}"
    if level in _ALERT_LEVELS:
        return "ALERT", f"{event.name} at level {level}"
    return "INFO", f"{event.name} at level {level or 'unset'}"


def _identity(event: EcsSystemEvent, fallback: str) -> str:
    """The platform's id of the incident, where the event carries one (module docstring)."""
    event_id = event.content.get("eventId")
    if isinstance(event_id, str) and event_id:
        return f"ecs-system-event:{event_id}"
    return fallback


def _system_ids(event: EcsSystemEvent) -> tuple[list[str], list[str]]:
    instances: list[str] = []
    disks: list[str] = []
    match = _ARN.fullmatch(event.resource_id or "")
    if match:
        (instances if match.group(1) == "instance" else disks).append(match.group(2))
    content = event.content
    for key, into in (("instanceId", instances), ("diskId", disks)):
        value = content.get(key)
        if isinstance(value, str):
            into.append(value)
    resource, kind = content.get("resourceId"), content.get("resourceType")
    if isinstance(resource, str):
        if kind == "ALIYUN::ECS::Instance" or (kind is None and resource.startswith("i-")):
            instances.append(resource)
        elif kind == "ALIYUN::ECS::Disk" or (kind is None and resource.startswith("d-")):
            disks.append(resource)
    return instances, disks


def _system_signal(
    event: EcsSystemEvent, dedupe_id: str, transport: str, delivery: str | None
) -> AlarmSignal:
    detail = {
        "name": event.name,
        "level": event.level,
        "resource_id": event.resource_id,
        "region_id": event.region_id,
        "user_id": event.user_id,
        "content": dict(event.content),
        "transport": transport,
        "delivery_id": delivery,
    }
    instances, disks = _system_ids(event)
    state, carried = _system_state(event)
    return AlarmSignal(
        source="system_event",
        rule=event.name,
        state=state,
        carried=carried,
        instance_ids=_unique(instances),
        disk_ids=_unique(disks),
        occurred_at=event.event_time,
        dedupe_id=_identity(event, dedupe_id),
        detail=detail,
    )
