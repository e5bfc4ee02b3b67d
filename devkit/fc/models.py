"""State of the local FC endpoint: which functions it serves and every async invocation it accepted.

Thread-safe and free of HTTP (the wire is ``responses.py``). An async invocation is an immutable
record, replaced as it moves Enqueued -> Running -> (Retrying -> Running)* -> Succeeded | Failed.

Platform facts (cited in README.md, "Where each behaviour comes from"):

- stateful async invocation ids: letters, digits, ``_`` and ``-``, starting with a letter or
  ``_``, at most 128 characters; a repeated id is rejected with HTTP 409
  (https://www.alibabacloud.com/help/en/fc/task-deduplication,
  https://www.alibabacloud.com/help/en/fc/developer-reference/api-fc-open-2021-04-06-getstatefulasyncinvocation);
- the statuses of a stateful invocation (Enqueued, Running, Retrying, Succeeded, Failed, Stopped,
  Stopping, Expired, Invalid) and its fields
  (https://www.alibabacloud.com/help/en/functioncompute/api-fc-open-2021-04-06-struct-statefulasyncinvocation);
- error codes and messages: https://www.alibabacloud.com/help/en/functioncompute/error-codes .
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

API_VERSION = "2016-08-15"
LATEST = "LATEST"

#: FC's rule for a stateful async invocation id.
INVOCATION_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")

ENQUEUED = "Enqueued"
RUNNING = "Running"
RETRYING = "Retrying"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
#: Statuses after which a stateful invocation never changes again.
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, "Stopped", "Expired", "Invalid"})


class FcApiError(Exception):
    """An answer of the FC API that is not a success: HTTP status, FC error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def check_invocation_id(value: str) -> str:
    """A caller-chosen stateful invocation id, checked against FC's rule (400 ``InvalidArgument``)."""
    if not INVOCATION_ID.match(value):
        raise FcApiError(
            400,
            "InvalidArgument",
            f"stateful async invocation id {value!r} must start with a letter or _, "
            "hold only letters, digits, _ and -, and be at most 128 characters",
        )
    return value


@dataclass(frozen=True)
class FunctionRef:
    """One function as a request names it: service, qualifier (``LATEST``), function."""

    service: str
    qualifier: str
    function: str


@dataclass(frozen=True)
class AsyncInvocation:
    """One accepted async invocation and how far it got. Times are epoch milliseconds (0: not yet)."""

    ref: FunctionRef
    invocation_id: str
    request_id: str
    payload: bytes = field(repr=False)
    enqueued_ms: int
    status: str = ENQUEUED
    started_ms: int = 0
    end_ms: int = 0
    attempts: int = 0
    error_message: str = ""
    return_payload: str | None = None

    @property
    def final(self) -> bool:
        """True once the invocation ended (it will not change again)."""
        return self.status in FINAL_STATUSES


def _now_ms() -> int:
    return int(time.time() * 1000)


class FcState:
    """The functions of one service (qualifier ``LATEST`` only) and the async invocations accepted."""

    def __init__(
        self, service: str, functions: Iterable[str], *, now_ms: Callable[[], int] = _now_ms
    ) -> None:
        self.service = service
        self.functions = frozenset(functions)
        self._now_ms = now_ms
        self._changed = threading.Condition()
        self._invocations: dict[tuple[str, str, str], AsyncInvocation] = {}

    def resolve(self, service_part: str, function: str) -> FunctionRef:
        """The function a path names (``service[.qualifier]``, function); ``FcApiError`` 404 if none."""
        service, _, qualifier = service_part.partition(".")
        if service != self.service:
            raise FcApiError(404, "ServiceNotFound", f"service '{service}' does not exist")
        qualifier = qualifier or LATEST
        if qualifier != LATEST:
            raise FcApiError(
                404, "AliasNotFound", f"alias '{qualifier}' of service '{service}' does not exist"
            )
        if function not in self.functions:
            raise FcApiError(
                404, "FunctionNotFound", f"function '{function}' does not exist in service '{service}'"
            )
        return FunctionRef(service, qualifier, function)

    def accept(
        self, ref: FunctionRef, invocation_id: str, request_id: str, payload: bytes
    ) -> AsyncInvocation:
        """Record a new async invocation (Enqueued); 409 when the id was used for this function."""
        record = AsyncInvocation(ref, invocation_id, request_id, payload, enqueued_ms=self._now_ms())
        with self._changed:
            key = self._key(ref, invocation_id)
            if key in self._invocations:
                raise FcApiError(
                    409,
                    "StatefulAsyncInvocationAlreadyExists",
                    f"stateful async invocation '{invocation_id}' of '{ref.function}' already exists",
                )
            self._invocations[key] = record
            self._changed.notify_all()
        return record

    def get(self, ref: FunctionRef, invocation_id: str) -> AsyncInvocation:
        """The invocation as it is now; 404 ``StatefulAsyncInvocationNotFound`` when unknown."""
        with self._changed:
            record = self._invocations.get(self._key(ref, invocation_id))
        if record is None:
            raise FcApiError(
                404,
                "StatefulAsyncInvocationNotFound",
                f"stateful async invocation '{invocation_id}' of function '{ref.function}' does not exist",
            )
        return record

    def start(self, ref: FunctionRef, invocation_id: str) -> AsyncInvocation:
        """An attempt begins: Running, one more attempt, the start time of the first."""
        return self._update(
            ref,
            invocation_id,
            lambda r: replace(
                r, status=RUNNING, attempts=r.attempts + 1, started_ms=r.started_ms or self._now_ms()
            ),
        )

    def retrying(self, ref: FunctionRef, invocation_id: str, error: str) -> AsyncInvocation:
        """An attempt failed and another one will follow."""
        return self._update(ref, invocation_id, lambda r: replace(r, status=RETRYING, error_message=error))

    def finish(
        self, ref: FunctionRef, invocation_id: str, *, error: str | None, return_payload: str | None
    ) -> AsyncInvocation:
        """The invocation ended: Succeeded (``error`` None) or Failed with ``error``."""
        return self._update(
            ref,
            invocation_id,
            lambda r: replace(
                r,
                status=SUCCEEDED if error is None else FAILED,
                error_message=error or "",
                return_payload=return_payload,
                end_ms=self._now_ms(),
            ),
        )

    def invocations(self) -> list[AsyncInvocation]:
        """Every invocation accepted so far, oldest first."""
        with self._changed:
            return sorted(self._invocations.values(), key=lambda r: r.enqueued_ms)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every accepted invocation has ended; False if ``timeout`` seconds pass first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: all(r.final for r in self._invocations.values()), timeout=timeout
            )

    def reset(self) -> None:
        """Forget every invocation (the functions stay)."""
        with self._changed:
            self._invocations.clear()
            self._changed.notify_all()

    def _update(
        self, ref: FunctionRef, invocation_id: str, change: Callable[[AsyncInvocation], AsyncInvocation]
    ) -> AsyncInvocation:
        with self._changed:
            key = self._key(ref, invocation_id)
            record = change(self._invocations[key])
            self._invocations[key] = record
            self._changed.notify_all()
            return record

    @staticmethod
    def _key(ref: FunctionRef, invocation_id: str) -> tuple[str, str, str]:
        # The id names a task of one function, whatever qualifier a request used to reach it.
        return (ref.service, ref.function, invocation_id)


@dataclass(frozen=True)
class ScriptedAnswer:
    """An answer an API request gets instead of being served: FC's error shape, or a raw body.

    ``action`` limits it to ``"invoke"`` or ``"status"`` requests (None: the next request of any kind).
    A ``body`` is sent as it is (e.g. a proxy's HTML page); else ``{"ErrorCode", "ErrorMessage"}``.
    """

    status: int
    code: str = ""
    message: str = ""
    body: str | None = None
    action: str | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, object]) -> ScriptedAnswer:
        """From the control API's JSON (keys: status, code, message, body, action)."""
        unknown = sorted(set(spec) - {"status", "code", "message", "body", "action"})
        if unknown:
            raise ValueError(f"scripted answer: unknown key(s) {unknown}")
        body, action = spec.get("body"), spec.get("action")
        return cls(
            status=int(str(spec["status"])),
            code=str(spec.get("code", "")),
            message=str(spec.get("message", "")),
            body=None if body is None else str(body),
            action=None if action is None else str(action),
        )


class ScriptedAnswers:
    """Scripted answers, each used once, in order (control API ``/_fc/answers``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[ScriptedAnswer] = deque()

    def add(self, answers: Iterable[ScriptedAnswer]) -> int:
        """Queue answers; returns how many are waiting."""
        with self._lock:
            self._queue.extend(answers)
            return len(self._queue)

    def take(self, action: str) -> ScriptedAnswer | None:
        """The first waiting answer for ``action`` (removed), or None."""
        with self._lock:
            for answer in self._queue:
                if answer.action in (None, action):
                    self._queue.remove(answer)
                    return answer
            return None

    def clear(self) -> None:
        """Drop every waiting answer."""
        with self._lock:
            self._queue.clear()
