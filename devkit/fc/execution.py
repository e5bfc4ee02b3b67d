"""Running template.yml's functions for the local FC endpoint, as ``snapstack local invoke`` does.

Every invocation goes through ``devkit.local.runner.invoke`` (the function's code folder, its
environment and an FC-shaped context, the event bytes as FC passes them), in this process. The
runner lays a function's environment over the process's, so invocations of *different* functions
take turns, while invocations of one function run side by side (as FC runs one function's
instances side by side).

- sync: the request's thread runs the function; the answer is its result, or FC's function-error
  shape (HTTP 200, ``x-fc-error-type: UnhandledInvocationError``, ``errorMessage``/``errorType``/
  ``stackTrace``) when it raised;
- async: a worker pool runs it after the 202; a function error is retried up to
  ``RunSettings.max_async_retries`` times (FC's default is 3, https://alibabacloud.com/help/en/functioncompute/fc-2-0/user-guide/retry-policy),
  ``retry_delay`` seconds apart (FC documents no interval for function errors), then the
  invocation is Failed.

A handler that raises ``IncompleteRun`` (disks deferred or in progress elsewhere) is a function
error, exactly as on FC: that is how the handlers ask for FC's async retry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from devkit.fc.models import AsyncInvocation, FcState
from devkit.local.runner import Result, Target, invoke
from devkit.local.template import Template

log = logging.getLogger("devkit.fc")

#: The ``x-fc-error-type`` of a function that raised (FACTS.md section 4).
UNHANDLED = "UnhandledInvocationError"


@dataclass(frozen=True)
class RunSettings:
    """How the endpoint runs functions.

    ``token_table``: the functions' token table URL (None: the runner's local SQLite file);
    ``max_async_retries``: retries of a failed async invocation (FC's default: 3);
    ``retry_delay``: seconds between them; ``workers``: async invocations run at once.
    """

    token_table: str | None = None
    max_async_retries: int = 3
    retry_delay: float = 1.0
    workers: int = 4


#: FC's behaviour: 3 async retries, a second apart; 4 async runs at once.
DEFAULT_SETTINGS = RunSettings()


@dataclass(frozen=True)
class Outcome:
    """How one run of a function ended: its result as FC returns it, or its error."""

    body: bytes
    error_type: str | None = None  # set when the function raised

    @property
    def error_message(self) -> str:
        """``errorType: errorMessage`` of a function error ('' on success)."""
        if self.error_type is None:
            return ""
        detail = json.loads(self.body)
        return f"{detail['errorType']}: {detail['errorMessage']}"


class _TakeTurns:
    """Runs of one function go together; another function waits until none of them is running."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._function: str | None = None
        self._running = 0

    @contextlib.contextmanager
    def turn(self, function: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._function in (None, function))
            self._function = function
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                if self._running == 0:
                    self._function = None
                    self._cond.notify_all()


def result_body(value: Any) -> bytes:
    """A handler's return value as the response body: bytes as they are, str as UTF-8, else JSON."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def error_body(error_type: str, message: str, stack: list[str]) -> bytes:
    """FC's function-error body."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": stack}).encode()


def outcome_of(result: Result) -> Outcome:
    """The runner's result as FC would answer it."""
    if result.error is not None:
        lines = [line for line in result.error.strip().splitlines() if line.strip()]
        error_type, _, message = lines[-1].partition(":")
        return Outcome(error_body(error_type.strip(), message.strip(), lines), UNHANDLED)
    if result.incomplete:
        summary = result.summary or {}
        pending = int(summary.get("deferred", 0)) + int(summary.get("in_progress", 0))
        message = f"{pending} disk(s) not finished; the retry does only what is missing"
        return Outcome(error_body("IncompleteRun", message, []), UNHANDLED)
    return Outcome(result_body(result.summary))


class FunctionHost:
    """Runs the template's functions for the endpoint and records async invocations in ``state``."""

    def __init__(
        self,
        template: Template,
        target: Target,
        state: FcState,
        settings: RunSettings = DEFAULT_SETTINGS,
    ) -> None:
        self.template = template
        self.target = target
        self.state = state
        self.settings = settings
        self._turns = _TakeTurns()
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="fc-async")
        self._closing = threading.Event()

    def run(self, function: str, payload: bytes, request_id: str) -> Outcome:
        """One run of ``function`` with ``payload`` as its event bytes; never raises."""
        with self._turns.turn(function):
            try:
                result = invoke(
                    self.template,
                    function,
                    payload,
                    self.target,
                    token_table=self.settings.token_table,
                    request_id=request_id,
                )
            except Exception:  # the runner could not even load the function: FC reports it the same way
                result = Result(summary=None, error=traceback.format_exc())
        return outcome_of(result)

    def submit(self, record: AsyncInvocation) -> None:
        """Run an accepted async invocation on the worker pool."""
        self._pool.submit(self._run_async, record)

    def close(self) -> None:
        """Stop retrying, wait for the runs in progress, drop the queued ones."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run_async(self, record: AsyncInvocation) -> None:
        ref, invocation_id = record.ref, record.invocation_id
        retries, delay = self.settings.max_async_retries, self.settings.retry_delay
        for attempt in range(retries + 1):
            self.state.start(ref, invocation_id)
            outcome = self.run(ref.function, record.payload, record.request_id)
            if outcome.error_type is None:
                self.state.finish(ref, invocation_id, error=None, return_payload=outcome.body.decode())
                return
            last = attempt == retries
            log.info("%s %s attempt %d: %s", ref.function, invocation_id, attempt + 1, outcome.error_message)
            if last or self._closing.wait(delay):
                self.state.finish(ref, invocation_id, error=outcome.error_message, return_payload=None)
                return
            self.state.retrying(ref, invocation_id, outcome.error_message)
