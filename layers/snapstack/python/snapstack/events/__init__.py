"""Trigger events: raw FC event bytes -> immutable pydantic models, and alarm normalisation.

``decode_event`` detects the shape; each model also has its own ``from_json`` (and
``from_form`` / ``from_stream`` / ``from_cloudevent`` where the shape needs one). Every
failure is an ``EventDecodeError`` naming the shape, the field and the rule.
"""

from snapstack.events.alarms import AlarmSignal, alarm_signals
from snapstack.events.cloudevents import CloudEvent, EventBatch, QueueKind, QueueMessage, queue_message
from snapstack.events.cms import AlertState, CmsThresholdAlarm, EcsSystemEvent
from snapstack.events.decode import DecodedEvent, EventKind, RawEvent, decode_event
from snapstack.events.errors import EventDecodeError
from snapstack.events.mns import MnsMessage
from snapstack.events.oss import ObjectMeta, OssEvent, OssRecord
from snapstack.events.timer import TimerEvent

__all__ = [
    "AlarmSignal",
    "AlertState",
    "CloudEvent",
    "CmsThresholdAlarm",
    "DecodedEvent",
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
    "alarm_signals",
    "decode_event",
    "queue_message",
]
