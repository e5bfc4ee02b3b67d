"""The second work source: the OnFailure destination queue, where FC puts an event whose retries ran out.

FC sends the failure destination one JSON record per event it gave up on (result callback:
https://www.alibabacloud.com/help/zh/function-compute/latest/result-callback):
``{"timestamp", "requestContext": {"requestId", "functionArn", "condition",
"approximateInvokeCount"}, "requestPayload", "responseContext": {"statusCode", "functionError"},
"responsePayload"}``. The EventBridge rule's dead letters land in the same queue as the bare event.

Each run receives every message (16 at a time, up to ``max_messages``) and:

- names, as work, the slots the failed invocation left open: the unfinished records whose
  claim is still that invocation's (``owner`` starts with its request id; FC's async retries of
  one event keep its request id) — the token table's source names them too, the run merges them;
- deletes the message once each slot it named is settled (made, found, abandoned at its
  deadline, failed for good, skipped); a slot still open or waiting keeps the message, which comes
  back after the queue's visibility timeout (the next run);
- logs one ERROR line per message it deletes (``alert: FailedInvocation``: function, request id,
  condition, attempts, the slots and how they ended, the event), so every event FC gave up on is
  seen once; ``slots: 0`` means the invocation claimed nothing (it failed before planning its
  disks, or was the reconciler's own run): its event is in the line, to run again by hand.

The queue is read through the official MNS SDK (``aliyun-mns-sdk``), behind ``QueueClient``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from snapstack.observability import log_fields
from snapstack.reconcile.meta import slot_meta
from snapstack.reconcile.work import SlotResult, SourceContext, SourceUnavailable, Verdict, Work

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

#: Verdicts that leave a slot for a later run: its message stays in the queue.
UNSETTLED = frozenset({Verdict.OPEN, Verdict.WAITING, Verdict.UNREADABLE})
#: How much of the failed event a log line carries (SLS keeps lines up to 1 MB; an event is small).
EVENT_EXCERPT = 4096


class FailureQueueError(SourceUnavailable):
    """The queue could not be read or written (the MNS error code and message)."""


@dataclass(frozen=True)
class QueueMessage:
    """One received message: ``body`` as text, the handle that deletes it, times in ms."""

    message_id: str
    receipt_handle: str
    body: str
    dequeue_count: int
    enqueue_ms: int


class QueueClient(Protocol):
    """What the source needs of a queue."""

    def receive(self, count: int) -> list[QueueMessage]:
        """Up to ``count`` (<= 16) messages; [] when none. ``FailureQueueError`` otherwise."""
        ...

    def delete(self, receipt_handle: str) -> None:
        """Delete one received message. ``FailureQueueError`` if refused."""
        ...


class _RequestContext(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    request_id: str = Field(alias="requestId", min_length=1)
    function_arn: str = Field(default="", alias="functionArn")
    condition: str = ""
    attempts: int = Field(default=0, alias="approximateInvokeCount")


class FailedInvocation(BaseModel):
    """An FC destination record (the fields the reconciler reads; the rest is ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    timestamp: Any = None  # FC has documented both an ISO string and epoch ms
    request: _RequestContext = Field(alias="requestContext")
    payload: Any = Field(default=None, alias="requestPayload")
    response: dict[str, Any] = Field(default_factory=dict, alias="responseContext")

    @property
    def function(self) -> str:
        """The function's name: the last segment of ``functionArn`` (``.../functions/<name>``)."""
        return self.request.function_arn.rstrip("/").rsplit("/", 1)[-1]


def parse(body: str) -> FailedInvocation | None:
    """The destination record in ``body`` (JSON, or base64 of it), or None for anything else."""
    for text in (body, _unbase64(body)):
        if not text:
            continue
        try:
            return FailedInvocation.model_validate_json(text)
        except ValidationError:
            continue
    return None


def _unbase64(body: str) -> str | None:
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except ValueError:
        return None


def _readable(body: str) -> str:
    """The body as sent: a producer that base64-encodes (the SDK's default) is decoded when what
    it wrapped is JSON."""
    text = _unbase64(body)
    if text is not None:
        try:
            json.loads(text)
        except ValueError:
            return body
        return text
    return body


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= EVENT_EXCERPT else f"{text[:EVENT_EXCERPT]}... ({len(text)} chars)"


@dataclass
class _Held:
    message: QueueMessage
    failed: FailedInvocation | None
    tokens: list[str] = field(default_factory=list)


class FailureQueue:
    """The OnFailure destination queue as a work source (see the module docstring)."""

    name = "failure-queue"

    def __init__(self, queue: QueueClient, logger: Logger, max_messages: int = 160) -> None:
        self.queue = queue
        self.logger = logger
        self.max_messages = max_messages
        self._held: list[_Held] = []
        self.deleted = 0  # messages this run deleted (for the summary and metrics)

    @property
    def received(self) -> int:
        """Messages this run received."""
        return len(self._held)

    def collect(self, context: SourceContext) -> Iterator[Work]:
        """The open slots of every failed invocation in the queue."""
        while len(self._held) < self.max_messages:
            batch = self.queue.receive(min(16, self.max_messages - len(self._held)))
            if not batch:
                break
            self._held += [_Held(m, parse(m.body)) for m in batch]
        wanted = {h.failed.request.request_id for h in self._held if h.failed is not None}
        if not wanted:
            return
        by_request = {h.failed.request.request_id: h for h in self._held if h.failed is not None}
        for record in context.table.unfinished_records():
            request_id = record.owner.split("@", 1)[0] if record.owner else ""
            held = by_request.get(request_id)
            slot = slot_meta(record) if held is not None else None
            if held is not None and slot is not None:
                held.tokens.append(record.token)
                yield Work(record.token, slot, record, self.name)

    def settle(self, results: Mapping[str, SlotResult]) -> None:
        """Delete each message whose slots are all settled, with its ERROR line."""
        for held in self._held:
            ended = [results[t] for t in held.tokens if t in results]
            if len(ended) < len(held.tokens) or any(r.verdict in UNSETTLED for r in ended):
                continue  # a slot of it is still open: the message comes back next run
            self.queue.delete(held.message.receipt_handle)
            self.deleted += 1
            self._report(held, ended)

    def _report(self, held: _Held, ended: list[SlotResult]) -> None:
        failed = held.failed
        common = {
            "alert": "FailedInvocation",
            "message_id": held.message.message_id,
            "dequeue_count": held.message.dequeue_count,
        }
        if failed is None:
            self.logger.error(
                "a failed event reached the failure queue (not an FC destination record)",
                extra={**common, **log_fields(event=_excerpt(_readable(held.message.body)))},
            )
            return
        verdicts: dict[str, int] = {}
        for result in ended:
            verdicts[result.verdict.value] = verdicts.get(result.verdict.value, 0) + 1
        self.logger.error(
            "an invocation's retries ran out",
            extra={
                **common,
                **log_fields(
                    failed_function=failed.function,
                    failed_request_id=failed.request.request_id,
                    condition=failed.request.condition,
                    attempts=failed.request.attempts,
                    function_error=failed.response.get("functionError"),
                    slots=len(ended),
                    verdicts=verdicts,
                    disks=sorted({r.disk_id for r in ended}),
                    event=_excerpt(failed.payload),
                ),
            },
        )
