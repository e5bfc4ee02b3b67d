"""decode_event: the raw event FC hands a handler (bytes) -> one typed, immutable model.

Detection order (first match wins):

1. The input must be bytes-like, ``str``, or already-parsed JSON (``dict``/``list``).
2. Empty or whitespace-only input is an error.
3. Bytes must be UTF-8. Binary input is accepted only as an MNS STREAM body, and only when the
   handler says so with ``expect="mns"`` (base64 body, ``body_base64=True``); otherwise it is an
   error, as garbage bytes are far likelier than a binary MNS body.
4. Text whose first non-blank character is ``{`` or ``[`` is parsed as JSON (strict: no
   NaN/Infinity, at most 64 levels deep). Invalid JSON is an error, except under
   ``expect="mns"``, where it is a STREAM body that happens to start with a brace.
5. Other text is a form-encoded CMS threshold alarm when it has an ``alertName=`` or
   ``alertState=`` field, else an MNS STREAM body without attributes (the raw message).
   JSON scalars (``42``, ``"x"``) land here too: no trigger but MNS STREAM delivers them.
6. A JSON array is an EventBridge event-stream batch of CloudEvents.
7. A JSON object is told by its keys:
   a. two or more of the eight MNS JSON keys (``TopicOwner``, ``Message``, ``MessageId`` ...)
      -> MNS JSON form. Checked first: its attributes are merged at top level, so they may
      carry any other shape's keys;
   b. ``attrs`` with nothing but ``body`` beside it -> MNS STREAM-with-attributes;
   c. ``triggerTime`` or ``triggerName`` -> timer;
   d. ``events`` -> OSS; ``deploy_id`` -> a direct deploy request (``events/deploy.py``);
   e. ``specversion`` -> CloudEvent (an ``acs.ecs`` event stays a CloudEvent: its source+id
      is the dedupe key; ``EcsSystemEvent.from_cloudevent`` reads its content);
   f. ``alertName`` or ``alertState`` -> CMS threshold alarm (JSON form);
   g. two or more of ``ver``, ``product``, ``resourceId``, ``eventTime``, ``content`` -> CMS
      system event;
   h. anything else is an error: an unrecognised object is far likelier a broken event than a
      STREAM body. Under ``expect="mns"``, c-h do not apply: every other JSON value an MNS
      trigger delivers is the publisher's STREAM body, kept as the text that arrived.

A shape is chosen from its keys before its fields are checked, so a broken event is reported
against the shape it was meant to be (``timer: triggerTime is required``), and ``expect``
refuses a shape the handler cannot serve before any field is read.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from snapstack.events._wire import ROOT, check_json, decoding, fail, load_json
from snapstack.events.errors import EventDecodeError
from snapstack.events.shapes import (
    is_cms_alarm,
    is_cms_form,
    is_deploy_request,
    is_mns_json,
    is_stream_attrs,
    is_system_event,
)

if TYPE_CHECKING:
    from snapstack.events.cloudevents import CloudEvent, EventBatch
    from snapstack.events.cms import CmsThresholdAlarm, EcsSystemEvent
    from snapstack.events.deploy import DeployRequest
    from snapstack.events.mns import MnsMessage
    from snapstack.events.oss import OssEvent
    from snapstack.events.timer import TimerEvent

DecodedEvent: TypeAlias = (
    "TimerEvent | OssEvent | DeployRequest | MnsMessage | CloudEvent | EventBatch | CmsThresholdAlarm"
    " | EcsSystemEvent"
)
RawEvent: TypeAlias = bytes | bytearray | memoryview | str | dict[str, Any] | list[Any]
EventKind = Literal["timer", "oss", "deploy", "mns", "eventbridge", "alarm"]

# The shapes each kind of handler can serve. An alarm handler takes every carrier an alarm can
# arrive in; alarm_signals then checks that the carrier really holds one.
KIND_SHAPES: dict[str, frozenset[str]] = {
    "timer": frozenset({"timer"}),
    "oss": frozenset({"oss"}),
    "deploy": frozenset({"oss", "deploy"}),  # deploy_hook: OSS events and direct requests
    "mns": frozenset({"mns"}),
    "eventbridge": frozenset({"cloudevent", "batch"}),
    "alarm": frozenset({"cms_alarm", "system_event", "cloudevent", "batch", "mns"}),
}


class _Decoder(Protocol):
    """What decode needs of a family's model class (not every model has every constructor)."""

    def from_json(self, value: Any) -> DecodedEvent: ...
    def from_stream(self, body: str | bytes) -> DecodedEvent: ...
    def from_form(self, text: str) -> DecodedEvent: ...


# shape -> (module, model). A family is imported when its first event arrives, so a function
# loads only the families it is sent (a timer function never builds the alarm models).
_MODELS: dict[str, tuple[str, str]] = {
    "mns": ("snapstack.events.mns", "MnsMessage"),
    "timer": ("snapstack.events.timer", "TimerEvent"),
    "oss": ("snapstack.events.oss", "OssEvent"),
    "deploy": ("snapstack.events.deploy", "DeployRequest"),
    "cloudevent": ("snapstack.events.cloudevents", "CloudEvent"),
    "batch": ("snapstack.events.cloudevents", "EventBatch"),
    "cms_alarm": ("snapstack.events.cms", "CmsThresholdAlarm"),
    "system_event": ("snapstack.events.cms", "EcsSystemEvent"),
}
_UNKNOWN = "unknown"


def decode_event(raw: RawEvent, *, expect: EventKind | None = None) -> DecodedEvent:
    """Decode one trigger event, detecting its shape (see the module docstring for the order).

    ``expect`` names the kind of handler calling (``"timer"``, ``"oss"``, ``"deploy"``, ``"mns"``,
    ``"eventbridge"``, ``"alarm"``): a shape that kind cannot serve is refused, and ``"mns"``
    makes every payload that is not an MNS JSON/attribute object a STREAM body.
    Raises EventDecodeError for any input it cannot decode, and ValueError for an unknown
    ``expect`` (a programming error, not a bad event).
    """
    if expect is not None and expect not in KIND_SHAPES:
        raise ValueError(f"unknown event kind {expect!r}; expected one of {', '.join(KIND_SHAPES)}")
    return _decode(raw, expect)


@decoding(_UNKNOWN)
def _decode(raw: Any, expect: str | None) -> DecodedEvent:
    if isinstance(raw, (dict, list)):
        check_json(raw, _UNKNOWN)
        return _from_value(raw, None, expect)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        if not data.strip():
            fail(_UNKNOWN, ROOT, "empty event: no bytes were delivered")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if expect == "mns":
                return _model("mns").from_stream(data)
            fail(
                _UNKNOWN,
                ROOT,
                f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); only an MNS "
                "STREAM body may be binary, and only for a handler that expects mns",
            )
    elif isinstance(raw, str):
        text = raw
        if not text.strip():
            fail(_UNKNOWN, ROOT, "empty event: no text was delivered")
    else:
        fail(_UNKNOWN, ROOT, f"an event must be bytes, str, dict or list (got {type(raw).__name__})")
    if text.lstrip()[:1] in ("{", "["):
        try:
            value = load_json(text, _UNKNOWN)
        except EventDecodeError:
            if expect == "mns":
                return _model("mns").from_stream(text)
            raise
        return _from_value(value, text, expect)
    if expect != "mns" and is_cms_form(text):
        _check_expected(expect, "cms_alarm")
        return _model("cms_alarm").from_form(text)
    _check_expected(expect, "mns", "non-JSON text, i.e. an MNS STREAM body")
    return _model("mns").from_stream(text)


def _from_value(value: dict[str, Any] | list[Any], text: str | None, expect: str | None) -> DecodedEvent:
    """Dispatch parsed JSON; ``text`` is what arrived, kept verbatim if it is a STREAM body."""
    if isinstance(value, list):
        if expect == "mns":
            return _model("mns").from_stream(_verbatim(value, text))
        _check_expected(expect, "batch")
        return _model("batch").from_json(value)
    shape = _detect(value, mns_only=expect == "mns")
    if shape is None:
        if expect == "mns":
            return _model("mns").from_stream(_verbatim(value, text))
        keys = ", ".join(sorted(value)[:8]) or "none"
        fail(_UNKNOWN, ROOT, f"a JSON object that matches no trigger shape (keys: {keys})")
    _check_expected(expect, shape)
    return _model(shape).from_json(value)


def _model(shape: str) -> _Decoder:
    """The model class that decodes ``shape`` (its family module imported on first use)."""
    module, name = _MODELS[shape]
    decoder: _Decoder = getattr(importlib.import_module(module), name)
    return decoder


def _detect(obj: dict[str, Any], *, mns_only: bool) -> str | None:
    if is_mns_json(obj) or is_stream_attrs(obj):
        return "mns"
    if mns_only:
        return None
    if "triggerTime" in obj or "triggerName" in obj:
        return "timer"
    if "events" in obj:
        return "oss"
    if is_deploy_request(obj):
        return "deploy"
    if "specversion" in obj:
        return "cloudevent"
    if is_cms_alarm(obj):
        return "cms_alarm"
    if is_system_event(obj):
        return "system_event"
    return None


def _verbatim(value: Any, text: str | None) -> str:
    return text if text is not None else json.dumps(value, ensure_ascii=False)


def _check_expected(expect: str | None, shape: str, described: str | None = None) -> None:
    if expect is not None and shape not in KIND_SHAPES[expect]:
        wanted = ", ".join(sorted(KIND_SHAPES[expect]))
        what = described or f"a {shape} event"
        fail(shape, ROOT, f"got {what}, but the {expect} handler takes only: {wanted}")
