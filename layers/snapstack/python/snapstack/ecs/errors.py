"""The ECS error taxonomy: every code the CreateSnapshot contract names, and what we do about it.

One table (``ERRORS``) maps each code to its HTTP status, the service's message and a
disposition — retry with backoff, skip (there is nothing to snapshot), or fail — with the
reason. The client, the handlers and the emulator all read this table; retry decisions are
made nowhere else. Codes outside the seed that the API really returns (auth, throttling
variants, missing parameters) are in the table too, marked ``seed=False``.

Two more facts per error decide the dedupe protocol (``execute.py``):

- ``EcsError.keeps_token``: whether a retry may send the *same* ClientToken. ECS's idempotence
  guide says to retry with the same token only after 500/503 or no answer
  (https://www.alibabacloud.com/help/en/ecs/developer-reference/how-to-ensure-idempotence,
  doc-detail/25693), and a token already used answers with its first result. So transport
  failures, 5xx answers and ``IdempotentProcessing`` (our own earlier request with this token is
  still running) keep the token; any other answer is *definitive*, and the next request of the
  slot uses a new token generation.
- ``ErrorSpec.scope``: ``request`` errors concern one disk; ``invocation`` errors (account state,
  credentials, RAM permission) would fail every disk the same way, so they fail the invocation
  (FC retries it later) instead of being recorded against each disk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Disposition(str, enum.Enum):
    """What a caller does with an error."""

    RETRY = "retry"  # transient: try again with backoff, the same ClientToken, within budget
    SKIP = "skip"  # nothing to snapshot: not a failure of the slot
    FAIL = "fail"  # permanent for this request: report it, do not retry


@dataclass(frozen=True)
class ErrorSpec:
    """One row of the taxonomy."""

    code: str
    status: int
    message: str
    disposition: Disposition
    reason: str
    seed: bool = True
    scope: str = "request"  # or "invocation": the account or the credentials, not this disk


R, S, F = Disposition.RETRY, Disposition.SKIP, Disposition.FAIL
INVOCATION = "invocation"

_ROWS: tuple[ErrorSpec, ...] = (
    # --- the CreateSnapshot contract (seed), in its order -------------------------------------------
    ErrorSpec(
        "InvalidParameter.KMSKeyId.NotFound",
        400,
        "The specified KMSKeyId does not exist.",
        F,
        "the disk's KMS key is gone; an operator must fix the key",
    ),
    ErrorSpec(
        "InvalidSnapshotName.Malformed",
        400,
        "The specified SnapshotName is wrongly formed.",
        F,
        "validation: the same name fails again",
    ),
    ErrorSpec(
        "IncorrectInstanceStatus",
        400,
        "The current status of the resource does not support this operation.",
        R,
        "the instance is starting or stopping; it settles to Running or Stopped shortly",
    ),
    ErrorSpec(
        "DiskCategory.OperationNotSupported",
        400,
        "The operation is not supported to the specified disk due to its disk category",
        F,
        "the disk category cannot do this (e.g. instant access on a non-ESSD disk)",
    ),
    ErrorSpec("Duplicate.TagKey", 400, "The Tag.N.Key contain duplicate key.", F, "validation"),
    ErrorSpec("InvalidTagKey.Malformed", 400, "The specified Tag.n.Key is not valid.", F, "validation"),
    ErrorSpec("InvalidTagValue.Malformed", 400, "The specified Tag.n.Value is not valid.", F, "validation"),
    ErrorSpec(
        "InvalidRetentionDays.Malformed", 400, "The specified RetentionDays is not valid.", F, "validation"
    ),
    ErrorSpec(
        "Throttling",
        403,
        "Request was denied due to user flow control.",
        R,
        "flow control: the API is usable again within a minute",
    ),
    ErrorSpec(
        "IncorrectDiskStatus.CreatingSnapshot",
        403,
        "A previous snapshot creation is in process.",
        R,
        "one snapshot at a time per disk: wait for the running one, then defer if still busy",
    ),
    ErrorSpec(
        "InstanceLockedForSecurity",
        403,
        "The disk attached instance is locked due to security.",
        F,
        "security lock: every operation on the instance is prohibited",
    ),
    ErrorSpec(
        "IncorrectDiskStatus.NeverAttached",
        403,
        "The specified disk has never been attached to any instance.",
        S,
        "the disk's data never changed: there is nothing to back up",
    ),
    ErrorSpec(
        "QuotaExceed.Snapshot",
        403,
        "The snapshot quota exceeds.",
        F,
        "256 manual snapshots on the disk: old snapshots must be deleted first",
    ),
    ErrorSpec(
        "IncorrectDiskStatus.NeverUsed",
        403,
        "The specified disk has never been used after creating.",
        S,
        "the disk's data never changed: there is nothing to back up",
    ),
    ErrorSpec(
        "CreateSnapshot.Failed",
        403,
        "The process of creating snapshot is failed.",
        R,
        "a server-side failure of this attempt; a later attempt usually succeeds",
    ),
    ErrorSpec(
        "DiskInArrears",
        403,
        "The specified operation is denied as your disk has expired.",
        F,
        "account state: overdue payment",
    ),
    ErrorSpec(
        "DiskId.ValueNotSupported",
        403,
        "The specified parameter diskid is not supported.",
        F,
        "this kind of block device cannot be snapshotted",
    ),
    ErrorSpec(
        "IncorrectDiskStatus",
        403,
        "The current disk status does not support this operation.",
        R,
        "the disk is in a transitional state (attaching, detaching, re-initialising)",
    ),
    ErrorSpec(
        "InvalidAccountStatus.NotEnoughBalance",
        403,
        "Your account does not have enough balance.",
        F,
        "account state",
        scope=INVOCATION,
    ),
    ErrorSpec(
        "InvalidAccountStatus.SnapshotServiceUnavailable",
        403,
        "Snapshot service has not been opened yet.",
        F,
        "account state: snapshot service not activated",
        scope=INVOCATION,
    ),
    ErrorSpec(
        "IncorrectVolumeStatus",
        403,
        "The current volume status does not support this operation.",
        R,
        "the shared block storage device is in a transitional state",
    ),
    ErrorSpec(
        "IdempotentParameterMismatch",
        403,
        "The specified clientToken is used.",
        R,
        "the token was used with other parameters (a policy edited between deliveries): the slot's "
        "snapshot is looked up by its tag, else a new token generation is used",
    ),
    ErrorSpec(
        "IncorrectDiskType.NotSupport",
        403,
        "The specified device type is not supported.",
        F,
        "the device type (e.g. a local disk) cannot be snapshotted",
    ),
    ErrorSpec(
        "IncorrectDiskStatus.Transferring",
        403,
        "The specified device is transferring, you can retry after the process is finished.",
        R,
        "the disk is being migrated; retry after it finishes",
    ),
    ErrorSpec(
        "InvalidParameter.KMSKeyId.CMKNotEnabled",
        403,
        "The CMK needs to be enabled.",
        F,
        "the disk's KMS key is disabled; an operator must enable it",
    ),
    ErrorSpec(
        "InvalidParameter.KMSKeyId.KMSUnauthorized",
        403,
        "ECS service have no right to access your KMS.",
        F,
        "ECS lacks the KMS grant",
    ),
    ErrorSpec(
        "IdempotentProcessing",
        403,
        "The previous idempotent request(s) is still processing.",
        R,
        "our earlier request with this ClientToken is still running; ask again shortly",
    ),
    ErrorSpec(
        "QuotaExceed.Tags",
        403,
        "The number of tags exceeds the upper limit of 20.",
        F,
        "validation: more than 20 tags",
    ),
    ErrorSpec(
        "InvalidSnapshotCategory.Malformed",
        403,
        "The specified Category is not valid.",
        F,
        "validation, or Category on an account that never used local snapshots",
    ),
    ErrorSpec(
        "IncorrectDiskStatus.Invalid",
        403,
        "The specified disk status invalid, restart instance and try again.",
        F,
        "the instance needs a restart by an operator",
    ),
    ErrorSpec(
        "InvalidDiskId.NotFound",
        404,
        "The specified DiskId does not exist.",
        F,
        "the disk does not exist (deleted, or a wrong id in the policy)",
    ),
    ErrorSpec(
        "InvalidDescription.Malformed", 404, "The specified description is wrongly formed.", F, "validation"
    ),
    ErrorSpec(
        "InvalidInstanceId.NotFound",
        404,
        "The specified InstanceId does not exist.",
        F,
        "the disk's instance does not exist",
    ),
    ErrorSpec(
        "InvalidVolumeId.NotFound",
        404,
        "The specified volume does not exist.",
        F,
        "the shared block storage device does not exist",
    ),
    ErrorSpec(
        "InternalError",
        500,
        "The request processing has failed due to some unknown error.",
        R,
        "a server-side fault",
    ),
    # --- real API codes outside the seed ------------------------------------------------------------
    ErrorSpec(
        "Throttling.User",
        403,
        "Request was denied due to user flow control.",
        R,
        "flow control (per-user variant)",
        seed=False,
    ),
    ErrorSpec(
        "ServiceUnavailable",
        503,
        "The request has failed due to a temporary failure of the server.",
        R,
        "a temporary server-side failure",
        seed=False,
    ),
    ErrorSpec(
        "MissingParameter",
        400,
        "The input parameter that is mandatory for processing this request is not supplied.",
        F,
        "validation: a required parameter is absent",
        seed=False,
    ),
    ErrorSpec(
        "InvalidParameter",
        400,
        "The specified parameter is not valid.",
        F,
        "validation: a rule the contract gives no specific code for",
        seed=False,
    ),
    ErrorSpec(
        "InvalidAccessKeyId.NotFound",
        404,
        "Specified access key is not found.",
        F,
        "auth: unknown AccessKey id",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "SignatureDoesNotMatch",
        400,
        "The request signature does not conform to Aliyun standards.",
        F,
        "auth: wrong AccessKey secret or a corrupted request",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "IncompleteSignature",
        400,
        "The request signature does not conform to Aliyun standards.",
        F,
        "auth: the signature or its headers are missing or malformed",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "InvalidSecurityToken.Expired",
        400,
        "Specified SecurityToken is expired.",
        F,
        "auth: the STS token expired (FC hands out a fresh one per invocation)",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "InvalidSecurityToken.Malformed",
        400,
        "Specified SecurityToken is malformed.",
        F,
        "auth: the STS token is not valid",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
        "Specified SecurityToken mismatch with the AccessKey.",
        F,
        "auth: the STS token belongs to other credentials",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "SignatureNonceUsed",
        400,
        "Specified signature nonce was used already.",
        R,
        "a replayed nonce: a new request gets a new nonce",
        seed=False,
    ),
    ErrorSpec(
        "InvalidTimeStamp.Expired",
        400,
        "Specified time stamp or date value is expired.",
        F,
        "the local clock is off by more than 15 minutes",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "Forbidden.RAM",
        403,
        "User not authorized to operate on the specified resource.",
        F,
        "auth: the role lacks the RAM permission",
        seed=False,
        scope=INVOCATION,
    ),
    ErrorSpec(
        "InvalidAction.NotFound",
        404,
        "Specified api is not found, please check your url and method.",
        F,
        "an API the endpoint does not offer (wrong endpoint or API version)",
        seed=False,
    ),
    # DeleteSnapshot (https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-deletesnapshot);
    # on DeleteSnapshot, IncorrectDiskStatus.CreatingSnapshot (a progressing snapshot) comes with
    # HTTP 400, not the 403 of CreateSnapshot.
    ErrorSpec(
        "SnapshotCreatedDisk",
        403,
        "The snapshot has been used to create disk(s).",
        F,
        "DeleteSnapshot: disks were created from it; only Force deletes it",
        seed=False,
    ),
    ErrorSpec(
        "SnapshotCreatedImage",
        403,
        "The snapshot has been used to create user defined image(s).",
        F,
        "DeleteSnapshot: a custom image uses it; the image must be deleted first (Force does not help)",
        seed=False,
    ),
    ErrorSpec(
        "Operation.Conflict",
        403,
        "The operation may conflicts with others, please retry later.",
        R,
        "DeleteSnapshot: another operation on the snapshot is running",
        seed=False,
    ),
    ErrorSpec(
        "InvalidOperation.RelatedSnapshotNotFinished",
        403,
        "The related standard snapshot is not finished.",
        R,
        "DeleteSnapshot: a snapshot it depends on is still being made",
        seed=False,
    ),
    ErrorSpec(
        "InvalidOperation.DeleteSharedSnapshotUnsupported",
        403,
        "The current snapshot shares authorization with other users. Please revoke the shared "
        "authorization through resource management first.",
        F,
        "DeleteSnapshot: the snapshot is shared with other accounts",
        seed=False,
    ),
    ErrorSpec(
        "InvalidOperation.ResourceManagedByCloudProduct",
        403,
        "The current operation is not supported because the resource is managed by a cloud product.",
        F,
        "DeleteSnapshot: another cloud product owns the snapshot",
        seed=False,
    ),
    ErrorSpec(
        "InvalidSnapshotId.NotFound",
        404,
        "The specified snapshot is not found.",
        F,
        "DeleteSnapshot: the snapshot is already gone",
        seed=False,
    ),
    ErrorSpec(
        "UnsupportedOperation",
        400,
        "The specified action is not supported.",
        F,
        "an API the service does not offer",
        seed=False,
    ),
    # --- raised by us, never by the service ------------------------------------------------------------
    ErrorSpec(
        "Credentials.Missing",
        0,
        "No credentials were found.",
        F,
        "configuration: neither the FC context nor the environment had credentials",
        seed=False,
        scope=INVOCATION,
    ),
    # --- transport, no answer from the service (our own codes) ----------------------------------------
    ErrorSpec(
        "Transport.ConnectionFailed",
        0,
        "The connection to the endpoint could not be made.",
        R,
        "nothing was sent: safe to retry",
        seed=False,
    ),
    ErrorSpec(
        "Transport.Ambiguous",
        0,
        "The connection failed after the request was sent.",
        R,
        "the service may have acted: retry with the same ClientToken, which makes it idempotent",
        seed=False,
    ),
    ErrorSpec(
        "Transport.BadResponse",
        0,
        "The service answered with a body that is not an API response.",
        R,
        "a proxy or load balancer answered instead of ECS",
        seed=False,
    ),
)

#: The taxonomy, by error code. InternalError's two seed messages share one row.
ERRORS: dict[str, ErrorSpec] = {row.code: row for row in _ROWS}

#: Codes of the CreateSnapshot contract (every one must be producible by the emulator).
SEED_CODES: frozenset[str] = frozenset(row.code for row in _ROWS if row.seed)


def classify(code: str) -> ErrorSpec:
    """The row for ``code``; an unknown code fails, with the code preserved in the row."""
    known = ERRORS.get(code)
    if known is not None:
        return known
    return ErrorSpec(code, 0, "", Disposition.FAIL, "an error code this version does not know", seed=False)


class EcsError(Exception):
    """Base of every ECS error we raise: it carries the API error code and its disposition."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.spec = classify(code)
        self.status = self.spec.status if status is None else status
        self.request_id = request_id
        self.retry_after = retry_after
        #: How many attempts were made before this error was raised (set by the client).
        self.attempts = 0

    @property
    def disposition(self) -> Disposition:
        """Retry, skip or fail, from the taxonomy."""
        return self.spec.disposition

    @property
    def retryable(self) -> bool:
        """True when the request may be sent again (see ``keeps_token`` for which ClientToken)."""
        return self.spec.disposition is Disposition.RETRY

    @property
    def keeps_token(self) -> bool:
        """True when a retry must reuse the same ClientToken (no definitive answer about it)."""
        return True

    @property
    def may_have_acted(self) -> bool:
        """True when the service may have carried the request out despite this error."""
        return False

    @property
    def invocation_wide(self) -> bool:
        """True for account- and credential-level errors: they fail the invocation, not one disk."""
        return self.spec.scope == INVOCATION


class EcsApiError(EcsError):
    """The service answered with an error."""

    @property
    def keeps_token(self) -> bool:
        """Only a 5xx answer or ``IdempotentProcessing`` leaves the token's fate open."""
        return (self.status or 0) >= 500 or self.code == "IdempotentProcessing"

    @property
    def may_have_acted(self) -> bool:
        """A 5xx may come after the work was done; IdempotentProcessing says it is under way."""
        return self.keeps_token


class EcsTransportError(EcsError):
    """No (usable) answer. ``ambiguous`` when the request may have reached the service.

    Transport errors always keep the token: without an answer nothing is known about it.
    """

    @property
    def ambiguous(self) -> bool:
        """True when the service may have acted on the request."""
        return self.code == "Transport.Ambiguous"

    @property
    def may_have_acted(self) -> bool:
        """Anything but a connection that was never made may have reached the service."""
        return self.code != "Transport.ConnectionFailed"


@dataclass(frozen=True)
class Violation:
    """One broken request rule: the wire field, the rule in words, and the code ECS would return."""

    field: str
    rule: str
    code: str

    def __str__(self) -> str:
        return f"{self.field} {self.rule}"


class InvalidRequest(EcsError):
    """A request that breaks the contract, caught before any call. Names each field and rule."""

    def __init__(self, violations: list[Violation]) -> None:
        if not violations:
            raise ValueError("InvalidRequest needs at least one violation")
        first = violations[0]
        text = "; ".join(str(v) if v.code == first.code else f"{v} ({v.code})" for v in violations)
        super().__init__(first.code, text)
        self.violations = tuple(violations)

    @property
    def field(self) -> str:
        """The wire name of the first offending field."""
        return self.violations[0].field

    @property
    def rule(self) -> str:
        """The first broken rule, in words."""
        return self.violations[0].rule
