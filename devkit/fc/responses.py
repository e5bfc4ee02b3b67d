"""The wire of the local FC endpoint (the moto "responses" layer): signature, paths, headers, bodies.

Requests arrive as ``aliyun-fc2`` 2.5.2 sends them (``fc2/client.py``, ``fc2/auth.py``):

- ``POST /2016-08-15/services/{service}[.{qualifier}]/functions/{function}/invocations`` with the
  event as the body; ``x-fc-invocation-type: Async`` (else sync) and, for async, an optional
  ``x-fc-stateful-async-invocation-id``;
- ``GET /2016-08-15/services/{service}[.{qualifier}]/functions/{function}/stateful-async-invocations/{id}``
  (GetStatefulAsyncInvocation; fc2 has no method for it, the path is the one the official FC 2.0
  Java SDK uses: github.com/aliyun/fc-java-sdk ``src/main/java/com/aliyuncs/fc/constants/Const.java``).

Signature (https://www.alibabacloud.com/help/en/functioncompute/signature-authentication and
``fc2/auth.py``): ``Authorization: FC <AccessKeyId>:<base64 HMAC-SHA256(secret, string_to_sign)>``
with ``string_to_sign = METHOD \\n Content-MD5 \\n Content-Type \\n Date \\n`` followed by every
``x-fc-*`` header (lower-cased, sorted, ``name:value\\n``) and the unescaped path. The Date must be
within 15 minutes of the server's clock; an STS token travels as ``x-fc-security-token``.

Errors are ``{"ErrorCode": ..., "ErrorMessage": ...}`` (what fc2's ``FcError`` and the Java SDK's
``ClientException`` read) with ``x-fc-request-id``; codes and statuses from
https://www.alibabacloud.com/help/en/functioncompute/error-codes .
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devkit.emulator.responses import Credential
from devkit.fc.models import API_VERSION, AsyncInvocation, FcApiError

#: How far a request's Date may be from the server's clock (signature-authentication doc).
MAX_CLOCK_SKEW = 900.0
#: Payload limits: async 128 KB, sync 32 MB (FACTS.md section 5, FC 2.0 limits page).
ASYNC_PAYLOAD_LIMIT = 128 * 1024
SYNC_PAYLOAD_LIMIT = 32 * 1024 * 1024

INVOCATION_TYPE = "x-fc-invocation-type"
INVOCATION_ID = "x-fc-stateful-async-invocation-id"
REQUEST_ID = "x-fc-request-id"
ERROR_TYPE = "x-fc-error-type"

_INVOKE = re.compile(rf"^/{API_VERSION}/services/([^/]+)/functions/([^/]+)/invocations$")
_STATUS = re.compile(
    rf"^/{API_VERSION}/services/([^/]+)/functions/([^/]+)/stateful-async-invocations/([^/]+)$"
)


@dataclass(frozen=True)
class Route:
    """What an API request asks for: an invocation, or a stateful invocation's status."""

    action: str  # "invoke" | "status"
    service_part: str  # service[.qualifier]
    function: str
    invocation_id: str = ""


def route(method: str, path: str) -> Route:
    """The API a request calls; 400 ``PathNotSupported`` for any other method and path."""
    if method == "POST" and (match := _INVOKE.match(path)):
        return Route("invoke", match[1], match[2])
    if method == "GET" and (match := _STATUS.match(path)):
        return Route("status", match[1], match[2], match[3])
    raise FcApiError(400, "PathNotSupported", f"'{method}' against '{path}' is not supported")


def string_to_sign(method: str, path: str, headers: Mapping[str, str]) -> str:
    """What FC signs for a request whose header names are lower-case."""
    fc_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(h for h in headers if h.startswith("x-fc-")))
    parts = (method.upper(), headers.get("content-md5", ""), headers.get("content-type", ""), headers["date"])
    return "\n".join((*parts, fc_headers + path))


def signature(secret: str, method: str, path: str, headers: Mapping[str, str]) -> str:
    """The base64 HMAC-SHA256 signature of a request."""
    digest = hmac.new(secret.encode(), string_to_sign(method, path, headers).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


class FcAuthenticator:
    """Checks ``Authorization: FC <AccessKeyId>:<signature>`` against the configured credentials."""

    def __init__(self, credentials: Iterable[Credential], clock: Callable[[], float] = time.time) -> None:
        self._keys = {c.access_key_id: c for c in credentials}
        self._clock = clock

    def verify(self, method: str, path: str, headers: Mapping[str, str]) -> Credential:
        """The caller's credential; ``FcApiError`` (400/403) when the request is not signed right."""
        authorization = headers.get("authorization")
        if not authorization:
            raise FcApiError(403, "AccessDenied", "the request has no Authorization header")
        scheme, _, rest = authorization.partition(" ")
        access_key_id, _, given = rest.partition(":")
        if scheme != "FC" or not access_key_id or not given:
            raise FcApiError(403, "AccessDenied", "Authorization must be 'FC <AccessKeyId>:<signature>'")
        if not headers.get("date"):
            raise FcApiError(400, "MissingRequiredHeader", "required HTTP header date was not specified")
        cred = self._keys.get(access_key_id)
        if cred is None:
            raise FcApiError(403, "InvalidAccessKeyID", f"invalid access key ID '{access_key_id}'")
        if headers.get("x-fc-security-token", "") != (cred.security_token or ""):
            raise FcApiError(403, "AccessDenied", "the security token does not belong to this access key")
        if not hmac.compare_digest(signature(cred.access_key_secret, method, path, headers), given):
            raise FcApiError(
                403,
                "SignatureNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your access key and signing method",
            )
        sent = email.utils.parsedate_to_datetime(headers["date"]).timestamp()
        if abs(self._clock() - sent) > MAX_CLOCK_SKEW:
            raise FcApiError(
                403, "AccessDenied", "the Date header is more than 15 minutes from the server's time"
            )
        return cred


def invocation_type(headers: Mapping[str, str]) -> str:
    """``"Async"`` or ``"Sync"`` (the default); 400 ``InvalidArgument`` for anything else."""
    value = headers.get(INVOCATION_TYPE, "Sync")
    if value.lower() not in ("async", "sync"):
        raise FcApiError(400, "InvalidArgument", f"{INVOCATION_TYPE} must be Sync or Async, not {value!r}")
    return "Async" if value.lower() == "async" else "Sync"


def check_payload(payload: bytes, kind: str) -> None:
    """400 ``EntityTooLarge`` over the async or sync limit."""
    limit = ASYNC_PAYLOAD_LIMIT if kind == "Async" else SYNC_PAYLOAD_LIMIT
    if len(payload) > limit:
        raise FcApiError(400, "EntityTooLarge", f"payload size exceeds maximum allowed size ({limit} bytes)")


def error_body(err: FcApiError) -> bytes:
    """FC's error body."""
    return json.dumps({"ErrorCode": err.code, "ErrorMessage": err.message}).encode()


def invocation_body(record: AsyncInvocation) -> bytes:
    """A stateful invocation as GetStatefulAsyncInvocation answers it (times in epoch ms)."""
    body: dict[str, Any] = {
        "serviceName": record.ref.service,
        "functionName": record.ref.function,
        "qualifier": record.ref.qualifier,
        "invocationId": record.invocation_id,
        "requestId": record.request_id,
        "status": record.status,
        "startedTime": record.started_ms,
        "endTime": record.end_ms,
        "alreadyRetriedTimes": max(record.attempts - 1, 0),
        "invocationErrorMessage": record.error_message,
        "invocationPayload": record.payload.decode("utf-8", "replace"),
    }
    if record.return_payload is not None:
        body["returnPayload"] = record.return_payload
    return json.dumps(body).encode()
