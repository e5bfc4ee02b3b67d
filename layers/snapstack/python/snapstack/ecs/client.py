"""The ECS client: the official SDK, with our retries and one error type.

``EcsClient`` wraps ``alibabacloud_ecs20140526.client.Client``. The SDK retries nothing by
default (and ignores ``RuntimeOptions.autoretry``), so the loop here owns every retry:
full-jitter backoff, the server's retry-after as a floor, a per-call attempt cap, a retry
budget shared by the invocation and the invocation's deadline. Both SDK exception families
(tea-openapi's ``AlibabaCloudException`` subclasses and darabonba's ``UnretryableException``
for transport failures) become one ``EcsError`` with the code, status, request id and
whether it may be retried (``errors.ERRORS``).

A transport failure after the request left is *ambiguous*: ECS may have created the snapshot.
It is retried with the same ClientToken, which ECS answers with the same SnapshotId; that is
why ``create_snapshot`` always sends a token. A *definitive* error answer (``EcsError.keeps_token``
is False) is never followed by the same token: ECS may answer a used token with its first
result forever. Before such a retry ``create_snapshot`` asks its ``renew`` hook for the next token
(the executor records the new generation in the token table first, see ``execute.py``).

Timeouts: ``SNAPSTACK_ECS_CONNECT_TIMEOUT`` (default 5 s) and ``SNAPSTACK_ECS_READ_TIMEOUT``
(default 30 s, three times the SDK's 10 s): a CreateSnapshot that ECS commits slowly should get
its answer, not become ambiguous; the lease (``SNAPSTACK_LEASE_SECONDS``, 120 s) stays well above it.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from snapstack.ecs.credentials import Credentials
from snapstack.ecs.errors import EcsApiError, EcsError, EcsTransportError
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.ecs.retry import Deadline, RetryBudget, RetryPolicy
from snapstack.tokens.slots import client_token_at

#: Called before a retry that needs a new ClientToken: (the definitive error, whether an earlier
#: attempt of this call may have reached ECS) -> the token to send next, or None to stop.
RenewToken = Callable[[EcsError, bool], "str | None"]
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 30.0

# Messages of requests/urllib3 errors raised before any byte of the request was sent.
_NOT_SENT_MARKERS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Connection refused",
    "ConnectTimeoutError",
    "Name or service not known",
    "nodename nor servname",
)


@dataclass(frozen=True)
class EcsConfig:
    """Where and how to reach ECS. ``endpoint``/``protocol`` point the client at the emulator."""

    region_id: str
    endpoint: str | None = None
    protocol: str = "https"
    connect_timeout_ms: int = int(DEFAULT_CONNECT_TIMEOUT_S * 1000)
    read_timeout_ms: int = int(DEFAULT_READ_TIMEOUT_S * 1000)
    signature_algorithm: str | None = None  # None = the SDK default (V3); "v2" = legacy RPC
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, fallback_region: str | None = None, **overrides: Any
    ) -> EcsConfig:
        """Settings from ``SNAPSTACK_ECS_*``, ``SNAPSTACK_RETRY_*`` and the region variables
        (``fallback_region`` when none is set, e.g. the FC context's); ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "region_id": env.get("SNAPSTACK_REGION")
            or env.get("FC_REGION")
            or env.get("ALIBABA_CLOUD_REGION_ID")
            or fallback_region,
            "endpoint": env.get("SNAPSTACK_ECS_ENDPOINT") or None,
            "protocol": env.get("SNAPSTACK_ECS_PROTOCOL") or "https",
            "connect_timeout_ms": _millis(env, "SNAPSTACK_ECS_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT_S),
            "read_timeout_ms": _millis(env, "SNAPSTACK_ECS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT_S),
            "retry": RetryPolicy(
                max_attempts=int(env.get("SNAPSTACK_RETRY_MAX_ATTEMPTS") or RetryPolicy.max_attempts),
                base_delay=float(env.get("SNAPSTACK_RETRY_BASE_DELAY") or RetryPolicy.base_delay),
                max_delay=float(env.get("SNAPSTACK_RETRY_MAX_DELAY") or RetryPolicy.max_delay),
            ),
        }
        values.update(overrides)
        if not values["region_id"]:
            raise EcsError("InvalidParameter", "no region: set SNAPSTACK_REGION or FC_REGION")
        return cls(**values)


def _millis(env: Mapping[str, str], name: str, default_seconds: float) -> int:
    text = env.get(name)
    if not text:
        return int(default_seconds * 1000)
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise EcsError("InvalidParameter", f"{name} must be seconds in (0, 3600], not {text!r}")
    return int(seconds * 1000)


@dataclass(frozen=True)
class CreateSnapshotResult:
    """A snapshot ECS accepted, and what it took."""

    snapshot_id: str
    request_id: str | None
    client_token: str
    attempts: int


def normalise(exc: BaseException) -> EcsError:
    """One ``EcsError`` for any exception the SDK raises."""
    if isinstance(exc, EcsError):
        return exc
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

    if isinstance(exc, AlibabaCloudException):
        retry_after_ms = getattr(exc, "retry_after", None)
        return EcsApiError(
            exc.code or "InternalError",
            _service_message(exc),
            status=exc.status_code,
            request_id=exc.request_id,
            retry_after=retry_after_ms / 1000 if retry_after_ms else None,
        )
    text = str(exc)
    if any(marker in text for marker in _NOT_SENT_MARKERS):
        return EcsTransportError("Transport.ConnectionFailed", text)
    if isinstance(exc, ValueError | KeyError):  # a 200 whose body is not an API response
        return EcsTransportError("Transport.BadResponse", f"{type(exc).__name__}: {text}")
    return EcsTransportError("Transport.Ambiguous", text)


def _service_message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        return str(data["Message"])
    return str(exc.message or "")


class EcsClient:
    """ECS calls with bounded, jittered retries. Thread-safe (the SDK client is shared)."""

    def __init__(
        self,
        config: EcsConfig,
        credentials: Credentials,
        *,
        budget: RetryBudget | None = None,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_error: Callable[[EcsError], None] | None = None,
    ) -> None:
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        sdk_config = Config(
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            security_token=credentials.security_token,
            region_id=config.region_id,
            endpoint=config.endpoint,
            protocol=config.protocol,
            connect_timeout=config.connect_timeout_ms,
            read_timeout=config.read_timeout_ms,
            signature_algorithm=config.signature_algorithm,
        )
        self.config = config
        self.budget = budget or RetryBudget()
        self.deadline = deadline or Deadline(None)
        self._sdk = Client(sdk_config)
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Sees every failed attempt, retried or not (metrics count throttles the retries hid).
        self._on_error = on_error

    def create_snapshot(
        self,
        request: CreateSnapshotRequest,
        *,
        pace: Callable[[], None] | None = None,
        renew: RenewToken | None = None,
    ) -> CreateSnapshotResult:
        """Create one snapshot. Retries after no answer or a 5xx reuse the ClientToken (ECS makes
        at most one snapshot per token); a retry after a definitive error answer uses the token
        ``renew`` returns (by default the next generation of the first token; None stops).

        ``pace`` runs before every attempt, retries included (a rate limiter's ``acquire``), so
        retried throttles are paced like first attempts instead of feeding more throttles.
        Raises ``EcsError`` (the last one) when the retries end.
        """
        if request.client_token is None:
            request = request.model_copy(update={"client_token": f"snapstack-{uuid.uuid4().hex}"})
        sdk_request = request.to_sdk()
        first = request.client_token or ""
        generations = itertools.count(1)

        def next_generation(_error: EcsError, _doubt: bool) -> str | None:
            return client_token_at(first, next(generations))

        body, attempts = self._call("create_snapshot", sdk_request, pace, renew or next_generation)
        return CreateSnapshotResult(
            snapshot_id=body.snapshot_id,
            request_id=body.request_id,
            client_token=sdk_request.client_token,
            attempts=attempts,
        )

    def call(self, operation: str, sdk_request: Any, *, pace: Callable[[], None] | None = None) -> Any:
        """Any SDK operation by its snake_case name (``describe_disks``...); returns the body.

        ``pace`` runs before every attempt, as for ``create_snapshot``.
        """
        body, _ = self._call(operation, sdk_request, pace)
        return body

    def _call(
        self,
        operation: str,
        sdk_request: Any,
        pace: Callable[[], None] | None = None,
        renew: RenewToken | None = None,
    ) -> tuple[Any, int]:
        from darabonba.runtime import RuntimeOptions

        method = getattr(self._sdk, f"{operation}_with_options")
        policy = self.config.retry
        self.budget.record_call()
        attempt = 0
        in_doubt = False  # an attempt of this call may have reached ECS and acted
        while True:
            attempt += 1
            if pace is not None:
                pace()
            try:
                response = method(sdk_request, RuntimeOptions())
                return response.body, attempt
            except Exception as raw:  # every SDK failure is normalised right here
                error = normalise(raw)
                error.attempts = attempt
                if self._on_error is not None:
                    self._on_error(error)
                wait = policy.backoff(attempt, self._rng, error.retry_after)
                if not self._may_retry(error, attempt, wait):
                    raise error from raw
                if renew is not None and not error.keeps_token:
                    token = renew(error, in_doubt)
                    if token is None:
                        raise error from raw
                    sdk_request.client_token = token
                in_doubt = in_doubt or error.may_have_acted
            self._sleep(wait)

    def _may_retry(self, error: EcsError, attempt: int, wait: float) -> bool:
        policy = self.config.retry
        return (
            error.retryable
            and attempt < policy.max_attempts
            and self.deadline.remaining() - wait > policy.deadline_margin
            and self.budget.try_spend()
        )
