"""Trigger events: raw FC event bytes -> immutable pydantic models, and alarm normalisation.

``decode_event`` detects the shape; each model also has its own ``from_json`` (and
``from_form`` / ``from_stream`` / ``from_cloudevent`` where the shape needs one). Every
failure is an ``EventDecodeError`` naming the shape, the field and the rule.

The names below are imported on first access (PEP 562), so importing one family module, or
``snapstack.events.decode``, does not build every family's models: a cold start pays only for
the families its function is sent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapstack.events.alarms import AlarmReading, AlarmSignal, alarm_signals
    from snapstack.events.cloudevents import CloudEvent, EventBatch, QueueKind, QueueMessage, queue_message
    from snapstack.events.cms import AlertState, CmsThresholdAlarm, EcsSystemEvent
    from snapstack.events.decode import DecodedEvent, EventKind, RawEvent, decode_event
    from snapstack.events.deploy import DeployRequest, DeployTargets
    from snapstack.events.errors import EventDecodeError, UnusableElement
    from snapstack.events.mns import MnsMessage
    from snapstack.events.oss import ObjectMeta, OssEvent, OssRecord
    from snapstack.events.timer import TimerEvent

_HOMES = {
    "AlarmReading": "alarms",
    "AlarmSignal": "alarms",
    "alarm_signals": "alarms",
    "CloudEvent": "cloudevents",
    "EventBatch": "cloudevents",
    "QueueKind": "cloudevents",
    "QueueMessage": "cloudevents",
    "queue_message": "cloudevents",
    "AlertState": "cms",
    "CmsThresholdAlarm": "cms",
    "EcsSystemEvent": "cms",
    "DeployRequest": "deploy",
    "DeployTargets": "deploy",
    "DecodedEvent": "decode",
    "EventKind": "decode",
    "RawEvent": "decode",
    "decode_event": "decode",
    "EventDecodeError": "errors",
    "UnusableElement": "errors",
    "MnsMessage": "mns",
    "ObjectMeta": "oss",
    "OssEvent": "oss",
    "OssRecord": "oss",
    "TimerEvent": "timer",
}

__all__ = [
    "AlarmReading",
    "AlarmSignal",
    "AlertState",
    "CloudEvent",
    "CmsThresholdAlarm",
    "DecodedEvent",
    "DeployRequest",
    "DeployTargets",
    "EcsSystemEvent",
    "EventBatch",
    "EventDecodeError",
    "EventKind",
    "MnsMessage",
    "ObjectMeta",
    "OssEvent",
    "OssRecord",
    "QueueKind",
    "QueueMessage",
    "RawEvent",
    "TimerEvent",
    "UnusableElement",
    "alarm_signals",
    "decode_event",
    "queue_message",
]


def __getattr__(name: str) -> Any:
    """Import the module that holds ``name`` on first access, then keep the name here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
