"""How a call to FC failed, as one line and one exit code (``devkit/exitcodes.py``).

aliyun-fc2 2.5.2 raises ``fc2.FcError(message, status_code, err_code, request_id)`` for an error
answer; but on a 4xx/5xx whose body is not JSON (a proxy's HTML page, a gateway's text) it
raises requests' ``JSONDecodeError`` while formatting its own log line, and the status is lost
(SDK-NOTES.md, "aliyun-fc2"). A refused connection, a DNS failure or a timeout surfaces as
``requests.ConnectionError`` / ``requests.Timeout`` after fc2's connect retries.

FC's statuses and codes (https://www.alibabacloud.com/help/en/functioncompute/error-codes):
400 InvalidArgument / MissingRequiredHeader / PathNotSupported / EntityTooLarge; 403
AccessDenied / SignatureNotMatch / InvalidAccessKeyID; 404 ServiceNotFound / FunctionNotFound /
AliasNotFound / VersionNotFound; 429 ResourceExhausted; 500 InternalServerError; 503
ResourceThrottled. A repeated stateful invocation id is answered 409 (older documents: 400),
https://www.alibabacloud.com/help/en/fc/task-deduplication .
"""

from __future__ import annotations

import json
from typing import Any

from devkit import exitcodes

#: What FC names a repeated stateful async invocation id.
DUPLICATE_CODE = "StatefulAsyncInvocationAlreadyExists"
#: GetStatefulAsyncInvocation for an id FC does not (yet) know.
NOT_FOUND_CODE = "StatefulAsyncInvocationNotFound"

KIND_EXIT = {
    "usage": exitcodes.USAGE,
    "auth": exitcodes.AUTH,
    "not_found": exitcodes.NOT_FOUND,
    "throttled": exitcodes.THROTTLED,
    "server": exitcodes.SERVER,
    "network": exitcodes.NETWORK,
}


class HookError(Exception):
    """A call to FC that did not succeed: its kind (a key of ``KIND_EXIT``) and what FC said."""

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, code: str = "", request_id: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    @property
    def exit_code(self) -> int:
        """The documented exit code of this kind of failure."""
        return KIND_EXIT[self.kind]

    def line(self) -> str:
        """The one line a CI log shows."""
        said = " ".join(p for p in (str(self.status or ""), self.code) if p)
        where = f" (request id {self.request_id})" if self.request_id else ""
        return (
            f"{self.kind.replace('_', ' ')}: {f'FC answered {said}: ' if said else ''}{self.message}{where}"
        )

    def to_dict(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "kind": self.kind,
            "exit_code": self.exit_code,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
        }


def is_duplicate(status: int | None, code: str) -> bool:
    """FC's answer to a stateful invocation id it has seen: 409 (or 400 with the duplicate code)."""
    return status == 409 or (status == 400 and code == DUPLICATE_CODE)


def kind_of(status: int, code: str) -> str:
    """The kind of an FC error answer, from its status (and code, where the status is shared)."""
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 429 or (status == 503 and code == "ResourceThrottled"):
        return "throttled"
    if 400 <= status < 500 and status not in (408, 499):
        return "usage"
    return "server"


def from_answer(status: int, body: str, request_id: str = "") -> HookError:
    """An FC error answer (status and raw body) as a ``HookError``."""
    try:
        detail = json.loads(body)
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return HookError(
            "server", f"FC answered {status} with a body that is not FC's: {_clip(body)}", status=status
        )
    code = str(detail.get("ErrorCode") or detail.get("errorCode") or "")
    message = str(detail.get("ErrorMessage") or detail.get("errorMessage") or _clip(body))
    return HookError(kind_of(status, code), message, status=status, code=code, request_id=request_id)


def from_exception(exc: BaseException) -> HookError | None:
    """The ``HookError`` for what fc2 or requests raised; None for anything else (a bug: let it show)."""
    import fc2
    import requests

    if isinstance(exc, fc2.FcError):
        # fc2 puts the error body, re-serialised with its RequestId, in the message.
        return from_answer(int(exc.status_code), str(exc.message), str(exc.request_id or ""))
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return HookError("server", f"FC answered an error whose body is not JSON: {_clip(exc.doc)}")
    if isinstance(exc, requests.exceptions.Timeout):
        return HookError("network", f"FC did not answer in time ({type(exc).__name__})")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return HookError("network", f"cannot reach FC: {_reason(exc)}")
    if isinstance(exc, requests.exceptions.RequestException):
        return HookError("network", f"the request to FC failed: {_reason(exc)}")
    return None


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3's MaxRetryError, whose .reason is the last socket error.
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", None)
    return str(reason or inner)


def _clip(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
