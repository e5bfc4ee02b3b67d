"""State of the local MNS queue endpoint: queues and their messages, on a clock the caller gives.

What a consumer of a queue sees at MNS (BatchReceiveMessage reference:
https://help.aliyun.com/en/mns/developer-reference/batchreceivemessage):

- a received message turns Inactive for the queue's ``VisibilityTimeout`` seconds, with a new
  ``ReceiptHandle`` valid until then; it is Active (received again, ``DequeueCount`` + 1) after,
  unless it was deleted with that handle;
- at most 16 messages per BatchReceiveMessage, oldest first; none Active: ``MessageNotExist``;
- deleting with a handle that is no longer the message's current one fails (``MessageNotExist``),
  so a consumer whose visibility ran out cannot delete what another consumer now holds.

Times are milliseconds since the epoch, as on the wire. The clock is seconds (the ECS
emulator's virtual clock, or ``time.time``).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

#: MNS's defaults for a queue created without attributes (CreateQueue reference).
DEFAULT_VISIBILITY_TIMEOUT = 30
DEFAULT_RETENTION_SECONDS = 345600
MAX_BATCH = 16


class MnsError(Exception):
    """An MNS error answer: HTTP status, MNS code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def queue_not_exist(name: str) -> MnsError:
    return MnsError(404, "QueueNotExist", f"The queue name you provided is not exist: {name}.")


def message_not_exist() -> MnsError:
    return MnsError(404, "MessageNotExist", "Message not exist.")


@dataclass
class Message:
    """One message: its body and where it stands (Active when ``next_visible_ms`` has passed)."""

    message_id: str
    body: str
    enqueue_ms: int
    priority: int = 8
    next_visible_ms: int = 0
    dequeue_count: int = 0
    first_dequeue_ms: int = 0
    receipt_handle: str = ""

    @property
    def body_md5(self) -> str:
        """MessageBodyMD5: upper-case hex MD5 of the body as sent."""
        return hashlib.md5(self.body.encode("utf-8")).hexdigest().upper()


@dataclass
class Queue:
    """A queue: its attributes and messages in the order they were sent."""

    name: str
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    created_ms: int = 0
    messages: list[Message] = field(default_factory=list)


class MnsState:
    """Every queue of the endpoint; thread-safe. ``clock``: seconds since the epoch."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._queues: dict[str, Queue] = {}
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _queue(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise queue_not_exist(name)
        return queue

    def create_queue(self, name: str, visibility_timeout: int | None = None) -> bool:
        """Create ``name`` (True), or leave an existing one as it is (False)."""
        with self._lock:
            if name in self._queues:
                return False
            timeout = DEFAULT_VISIBILITY_TIMEOUT if visibility_timeout is None else visibility_timeout
            if not 1 <= timeout <= 43200:
                raise MnsError(400, "InvalidArgument", "VisibilityTimeout must be 1..43200 seconds.")
            self._queues[name] = Queue(name, timeout, created_ms=self._now_ms())
            return True

    def send(self, name: str, body: str, priority: int = 8) -> Message:
        """SendMessage: the new message, Active at once."""
        with self._lock:
            queue = self._queue(name)
            now = self._now_ms()
            message = Message(uuid.uuid4().hex.upper(), body, now, priority, next_visible_ms=now)
            queue.messages.append(message)
            return message

    def receive(self, name: str, count: int) -> list[Message]:
        """BatchReceiveMessage: up to ``count`` Active messages, now Inactive under new handles."""
        if not 1 <= count <= MAX_BATCH:
            raise MnsError(400, "InvalidArgument", f"numOfMessages must be 1..{MAX_BATCH}.")
        with self._lock:
            queue = self._queue(name)
            now = self._now_ms()
            self._expire(queue, now)
            taken = [m for m in queue.messages if m.next_visible_ms <= now][:count]
            if not taken:
                raise message_not_exist()
            for message in taken:
                message.dequeue_count += 1
                message.first_dequeue_ms = message.first_dequeue_ms or now
                message.next_visible_ms = now + queue.visibility_timeout * 1000
                message.receipt_handle = f"{message.message_id}-{uuid.uuid4().hex[:16]}"
            return [Message(**vars(m)) for m in taken]

    def delete(self, name: str, receipt_handle: str) -> None:
        """DeleteMessage: only with the message's current handle, while it is Inactive."""
        with self._lock:
            queue = self._queue(name)
            now = self._now_ms()
            for n, message in enumerate(queue.messages):
                if message.receipt_handle == receipt_handle and message.next_visible_ms > now:
                    del queue.messages[n]
                    return
            raise message_not_exist()

    def messages(self, name: str) -> list[Message]:
        """Copies of every message still in ``name`` (Active or not), for tests and the control API."""
        with self._lock:
            return [Message(**vars(m)) for m in self._queue(name).messages]

    def queues(self) -> list[str]:
        """The queue names."""
        with self._lock:
            return sorted(self._queues)

    def _expire(self, queue: Queue, now: int) -> None:
        limit = now - queue.retention_seconds * 1000
        queue.messages = [m for m in queue.messages if m.enqueue_ms > limit]
