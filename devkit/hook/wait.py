"""``--wait``: poll a stateful async invocation until it ends, then judge what deploy_hook did.

Statuses (https://www.alibabacloud.com/help/en/functioncompute/api-fc-open-2021-04-06-struct-statefulasyncinvocation):
Enqueued, Running, Retrying and Stopping are on the way; Succeeded, Failed, Stopped, Expired and
Invalid are final. A Succeeded invocation's ``returnPayload`` (the function's result; the doc marks
the field public beta) is deploy_hook's summary, which decides the exit code:

| what happened | exit code |
|---|---|
| every disk created, deduplicated or skipped | 0 OK |
| some disk failed; or the invocation Failed, Stopped, Expired, Invalid | 1 FAILED |
| some disk deferred or in progress elsewhere; or ``--wait-timeout`` passed first | 3 INCOMPLETE |
| deploy_hook refused the request (bad input) or a disk outside its allow-list (denied) | 4 BAD_INPUT |

Without a ``returnPayload``, Succeeded is 0: the status is all FC said.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devkit import exitcodes
from devkit.hook.client import FcHook
from devkit.hook.errors import NOT_FOUND_CODE, HookError

FINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "Expired", "Invalid"})
#: Failures worth polling through: they say nothing about the invocation itself.
_TRANSIENT = frozenset({"network", "server", "throttled"})


@dataclass(frozen=True)
class Verdict:
    """The end of a waited-for invocation: exit code, one headline, deploy_hook's summary if any."""

    exit_code: int
    headline: str
    summary: dict[str, Any] | None = None


def poll(
    hook: FcHook,
    where: tuple[str, str, str | None],
    invocation_id: str,
    *,
    timeout: float,
    interval: float,
    progress: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """The invocation's final record, or None when ``timeout`` seconds pass first.

    ``where`` is (service, function, qualifier). Each status change, and each transient failure to
    ask, is reported through ``progress``; an auth or not-found answer ends the wait (raised).
    """
    service, function, qualifier = where
    deadline = clock() + timeout
    seen = ""
    while True:
        try:
            record = hook.status(service, function, qualifier, invocation_id)
        except HookError as err:
            if err.code != NOT_FOUND_CODE and err.kind not in _TRANSIENT:
                raise
            note = "not visible yet" if err.code == NOT_FOUND_CODE else err.line()
        else:
            if record.get("status") in FINAL_STATUSES:
                return record
            note = str(record.get("status"))
        if note != seen:
            progress(note)
            seen = note
        if clock() + interval > deadline:
            return None
        sleep(interval)


def judge(record: dict[str, Any]) -> Verdict:
    """What the final record means for the CI job (see the module docstring)."""
    status = record.get("status")
    if status != "Succeeded":
        reason = record.get("invocationErrorMessage") or "FC gave no error message"
        return Verdict(exitcodes.FAILED, f"invocation {status}: {reason}")
    summary = _summary(record.get("returnPayload"))
    if summary is None:
        return Verdict(exitcodes.OK, "invocation Succeeded (FC returned no summary)")
    if summary.get("ok") is False:
        error = summary.get("error") or {}
        rule = " ".join(f"{k}={error[k]}" for k in ("source", "field", "rule", "error_code") if error.get(k))
        return Verdict(exitcodes.BAD_INPUT, f"deploy_hook refused the request: {rule or error}", summary)
    counts = {k: int(summary.get(k) or 0) for k in ("failed", "denied", "deferred", "in_progress")}
    if counts["failed"]:
        return Verdict(exitcodes.FAILED, f"{counts['failed']} disk(s) failed", summary)
    if counts["denied"]:
        return Verdict(
            exitcodes.BAD_INPUT, f"{counts['denied']} disk(s) outside deploy_hook's allow-list", summary
        )
    if counts["deferred"] or counts["in_progress"]:
        pending = counts["deferred"] + counts["in_progress"]
        return Verdict(exitcodes.INCOMPLETE, f"{pending} disk(s) not finished", summary)
    return Verdict(exitcodes.OK, "invocation Succeeded", summary)


def _summary(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
