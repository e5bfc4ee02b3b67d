"""EventBridge deliveries: one CloudEvents 1.0 object, or a JSON array of them (event streams).

An EventBridge rule targeting FC delivers one CloudEvent per invocation; event-stream triggers
(MNS queue, RocketMQ, Kafka, RabbitMQ) deliver a batch as a JSON array. ``queue_message`` reads
the message a stream element carries, by the element's ``type``:

=======================  ==========  ===================  =====================================
type                     kind        body                 message id
=======================  ==========  ===================  =====================================
mns:Queue:SendMessage    mns_queue   data.messageBody     data.messageId
mq:Topic:SendMessage     rocketmq    data.body            data.systemProperties.UNIQ_KEY
alikafka:Topic:Message   kafka       data.value           data.topic/partition/offset
amqp:Queue:SendMessage   rabbitmq    data.body            data.props.messageId
=======================  ==========  ===================  =====================================

The body is returned as delivered: a string, or (Kafka with the JSON data format, RabbitMQ)
already-parsed JSON; Kafka's binary format is base64 text, which only the reader can tell.

A batch is decoded element by element: an element that is not a usable CloudEvent is kept in
``EventBatch.unusable`` (its index and reason) and the others are decoded as if each had come
alone. Only a batch with no usable element at all is an error.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, Node, decoding, json_type, preview
from snapstack.events.errors import EventDecodeError, UnusableElement, nothing_usable

QueueKind = Literal["mns_queue", "rocketmq", "kafka", "rabbitmq"]
QUEUE_TYPES: dict[str, QueueKind] = {
    "mns:Queue:SendMessage": "mns_queue",
    "mq:Topic:SendMessage": "rocketmq",
    "alikafka:Topic:Message": "kafka",
    "amqp:Queue:SendMessage": "rabbitmq",
}
BODY_FIELDS: dict[QueueKind, str] = {
    "mns_queue": "messageBody",
    "rocketmq": "body",
    "kafka": "value",
    "rabbitmq": "body",
}
_CORE = frozenset({"id", "source", "specversion", "type", "subject", "time", "datacontenttype", "dataschema"})


class CloudEvent(BaseModel):
    """One CloudEvents 1.0 event as EventBridge delivers it (Alibaba ``aliyun*`` keys in ``extensions``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "cloudevent"

    id: str
    source: str
    specversion: str
    type: str
    subject: str | None = None
    time: AwareDatetime | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: Any = None
    extensions: dict[str, Any] = {}

    @property
    def dedupe_key(self) -> str:
        """Source + id: EventBridge may re-send an event, always with the same pair."""
        return f"ce:{self.source}#{self.id}"

    @classmethod
    @decoding("cloudevent")
    def from_json(cls, value: Any, path: str = ROOT) -> CloudEvent:
        """Decode one CloudEvent object (``path`` locates it inside a batch); raises EventDecodeError."""
        node = Node(cls.shape, path, value)
        obj = node.obj()
        spec = node.req_str("specversion")
        if spec != "1.0":
            node.fail(f"must be '1.0' (got {preview(spec)})", "specversion")
        return cls(
            id=node.req_str("id"),
            source=node.req_str("source"),
            specversion=spec,
            type=node.req_str("type"),
            subject=node.opt_str("subject"),
            time=node.opt_time("time"),
            datacontenttype=node.opt_str("datacontenttype"),
            dataschema=node.opt_str("dataschema"),
            data=obj.get("data"),
            extensions={key: v for key, v in obj.items() if key not in _CORE and key != "data"},
        )


class QueueMessage(BaseModel):
    """The message one event-stream element carries, with the element it came in."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: QueueKind
    body: Any
    message_id: str | None = None
    event: CloudEvent


class EventBatch(BaseModel):
    """An event-stream delivery: a non-empty JSON array of CloudEvents.

    ``events`` are the usable elements, ``positions`` their indexes in the delivered array, and
    ``unusable`` the elements that are not CloudEvents, each with its index and reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "batch"

    events: tuple[CloudEvent, ...]
    positions: tuple[int, ...]
    unusable: tuple[UnusableElement, ...] = ()

    @classmethod
    @decoding("batch")
    def from_json(cls, value: Any) -> EventBatch:
        """Decode a JSON array of CloudEvents, each element on its own.

        Raises EventDecodeError when the value is not a non-empty array, or when no element is
        a usable CloudEvent (naming the first one, with every element's reason attached).
        """
        node = Node(cls.shape, ROOT, value)
        if not isinstance(value, list):
            node.fail(f"must be a JSON array of CloudEvents (got {json_type(value)})")
        if not value:
            node.fail("an event batch must hold at least one event")
        events: list[CloudEvent] = []
        positions: list[int] = []
        unusable: list[UnusableElement] = []
        for index, item in enumerate(node.items()):
            try:
                if not isinstance(item.value, dict) or "specversion" not in item.value:
                    item.fail(
                        f"is not a CloudEvent (a JSON object with specversion; got {json_type(item.value)})"
                    )
                events.append(CloudEvent.from_json(item.value, item.path))
                positions.append(index)
            except EventDecodeError as exc:
                unusable.append(UnusableElement(index=index, field=exc.field, rule=exc.rule))
        if not events:
            raise nothing_usable(cls.shape, unusable)
        return cls(events=tuple(events), positions=tuple(positions), unusable=tuple(unusable))

    def indexed(self) -> tuple[tuple[int, CloudEvent], ...]:
        """Each usable element with its index in the delivered array."""
        return tuple(zip(self.positions, self.events, strict=True))


@decoding("cloudevent")
def queue_message(event: CloudEvent, path: str = ROOT) -> QueueMessage:
    """The message an event-stream CloudEvent carries, read by its ``type`` (table above).

    ``path`` locates the event in its batch for error messages. Raises EventDecodeError when the
    type is not a queue/stream message type or its ``data`` lacks the body field.
    """
    top = Node(CloudEvent.shape, path, {"type": event.type, "data": event.data})
    kind = QUEUE_TYPES.get(event.type)
    if kind is None:
        top.fail(
            f"{preview(event.type)} is not a queue or stream message type ({', '.join(QUEUE_TYPES)})", "type"
        )
    data = top.req_obj("data")
    body_field = BODY_FIELDS[kind]
    if body_field not in data.obj():
        data.fail("is required", body_field)
    body = data.get(body_field)
    message_id: str | None
    if kind == "mns_queue":
        data.child(body_field).text(allow_empty=True)
        message_id = data.opt_str("messageId")
    elif kind == "rocketmq":
        data.child(body_field).text(allow_empty=True)
        props = data.opt_obj("systemProperties")
        message_id = props.opt_str("UNIQ_KEY") if props else None
    elif kind == "kafka":
        # A null value is a Kafka tombstone: a message with no body, still a message.
        topic, partition, offset = data.opt_str("topic"), data.opt_int("partition"), data.opt_int("offset")
        message_id = None if None in (topic, partition, offset) else f"{topic}/{partition}/{offset}"
    else:
        if not isinstance(body, (dict, str)):
            data.fail(f"must be a JSON object or a string (got {json_type(body)})", body_field)
        props = data.opt_obj("props")
        message_id = props.opt_str("messageId") if props else None
    return QueueMessage(kind=kind, body=body, message_id=message_id, event=event)
