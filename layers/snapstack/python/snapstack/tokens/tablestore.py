"""The token table in Tablestore (OTS), the serverless production default.

URL: ``tablestore://INSTANCE/TABLE[?endpoint=https://INSTANCE.cn-hangzhou.ots.aliyuncs.com]``.
Without ``endpoint`` the public endpoint of the function's region is used,
``https://INSTANCE.<region>.ots.aliyuncs.com``, with the region from ``FC_REGION`` (set by Function
Compute) or ``ALIBABA_CLOUD_REGION_ID``.

Credentials come from ``use_credentials`` (the handler passes the invocation's, from the FC
context, on every invocation, so STS rotation never leaves the table signing with stale keys), else
from the ``access_key_id``/``access_key_secret``/``security_token`` arguments, else from
``ALIBABA_CLOUD_ACCESS_KEY_ID``, ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` and ``ALIBABA_CLOUD_SECURITY_TOKEN``.
Refused credentials (``OTSAuthFailed``, ``OTSNoPermissionAccess``...) raise ``TokenTableAuthError``
and a missing table ``TokenTableFatal``: the invocation fails for FC to retry, not each disk.

Clocks: Tablestore offers no clock to read, so lease arithmetic uses the host's clock with a skew
margin (``default_clock_skew``, 15 s): FC hosts keep NTP time, far closer than that; a host further
off than the margin could take over a live claim early, and the tag lookup before any resend of a
slot in doubt (``tokens/base.py``) is what still keeps that from making a second snapshot.

Each record is one row keyed by ``token`` (STRING), with one column per field: ``state``,
``owner``, ``version``, ``attempts``, ``generation``, ``in_doubt``, ``lease_until``,
``snapshot_id``, ``error_code``, ``retryable``, ``detail``, ``meta`` (JSON), ``created_at``,
``updated_at`` and ``expires_at`` (absent optional fields are absent columns). The primitives
are single conditional row writes, which Tablestore makes atomic:

* put-if-absent is PutRow with ``EXPECT_NOT_EXIST``; when that fails on a record that has expired
  by this table's clock, the record is replaced by a compare-and-set on its version;
* compare-and-set is PutRow with ``EXPECT_EXIST`` and ``version == expected`` (a missing ``version``
  column fails the check), replacing the whole row;
* purge deletes a row only while ``expires_at <= now`` still holds (DeleteRow with a condition).

``ensure_table()`` creates the table with TTL -1: records carry their own ``expires_at`` and
``purge`` deletes them. Tablestore's TTL is no substitute: it is table-wide and at least a day, it
counts from each cell's last write (the server's clock) rather than from the record's expiry (the
table's injectable clock), and expired rows vanish lazily, so expiry would not be observable or
testable the way the state machine needs.

A down or hung service must not stall an invocation: the socket timeout defaults to 3 s and the
SDK's retries (for throttling, and for reads on server errors) are capped low. Connection errors,
timeouts and retryable service errors raise ``TokenTableUnavailable``; a lost condition check is
the primitives' ``False``. The ``tablestore`` SDK is imported when a table is constructed, not with
this module, because the import alone costs about 300 ms of cold start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pydantic

from snapstack.tokens.base import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RECORD_TTL_SECONDS,
    TokenRecord,
    TokenTable,
    TokenTableAuthError,
    TokenTableError,
    TokenTableFatal,
    TokenTableUnavailable,
)

ACCESS_KEY_ID_ENV = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ACCESS_KEY_SECRET_ENV = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
SECURITY_TOKEN_ENV = "ALIBABA_CLOUD_SECURITY_TOKEN"
REGION_ENVS = ("FC_REGION", "ALIBABA_CLOUD_REGION_ID")

PRIMARY_KEY = "token"
_CONDITION_CHECK_FAIL = "OTSConditionCheckFail"
_ALREADY_EXISTS = "OTSObjectAlreadyExist"
#: Rows one BatchGetRow reads at most (https://www.alibabacloud.com/help/doc-detail/27310.html).
BATCH_GET_ROWS = 100
# Service errors that say "not now" rather than "never": throttling, partitions moving, overload.
_TRANSIENT_CODES = frozenset(
    {
        "OTSServerBusy",
        "OTSServerUnavailable",
        "OTSInternalServerError",
        "OTSTimeout",
        "OTSPartitionUnavailable",
        "OTSTableNotReady",
        "OTSNotEnoughCapacityUnit",
        "OTSCapacityUnitExhausted",
        "OTSRowOperationConflict",
        "OTSOperationConflict",
        "OTSOperationThrottled",
        "OTSQuotaExhausted",
    }
)
_AUTH_CODES = frozenset(
    {"OTSAuthFailed", "OTSNoPermissionAccess", "OTSAccessDenied", "OTSInvalidSecurityToken", "OTSStsExpired"}
)
_MISSING_CODES = frozenset({"OTSObjectNotExist", "OTSInstanceNotFound"})
# Replacing an expired record races with other takers; each lost round means the record moved on.
_REPLACE_ATTEMPTS = 4
# The SDK logs every non-2xx answer at ERROR, and a failed condition check is this backend's normal
# flow (every duplicate event makes one), so its logger is quiet unless configured otherwise.
SDK_LOGGER = "snapstack.tokens.tablestore.sdk"


def parse_url(url: str) -> tuple[str, str, str]:
    """``(endpoint, instance, table)`` of a ``tablestore://INSTANCE/TABLE[?endpoint=...]`` URL."""
    parts = urlsplit(url)
    table = parts.path.lstrip("/")
    if parts.scheme != "tablestore" or not parts.netloc or not table or "/" in table:
        raise ValueError(f"not a Tablestore token table URL (tablestore://INSTANCE/TABLE): {url!r}")
    instance = parts.netloc
    endpoints = parse_qs(parts.query).get("endpoint")
    if endpoints:
        return endpoints[-1], instance, table
    region = next((os.environ[name] for name in REGION_ENVS if os.environ.get(name)), None)
    if region is None:
        raise ValueError(
            f"{url!r} names no endpoint and neither of {', '.join(REGION_ENVS)} is set: add ?endpoint=..."
        )
    return f"https://{instance}.{region}.ots.aliyuncs.com", instance, table


def _credentials(
    access_key_id: str | None, access_key_secret: str | None, security_token: str | None
) -> tuple[str, str, str | None] | None:
    """The explicit key pair, else the environment's; None when neither has one."""
    if access_key_id is None:
        # All three come from one place: an explicit key pair never picks up the runtime's STS token.
        access_key_id = os.environ.get(ACCESS_KEY_ID_ENV)
        access_key_secret = access_key_secret or os.environ.get(ACCESS_KEY_SECRET_ENV)
        security_token = security_token or os.environ.get(SECURITY_TOKEN_ENV) or None
    if not access_key_id or not access_key_secret:
        return None
    return access_key_id, access_key_secret, security_token


class _NativeCodecNotice(logging.Filter):
    """Drops the SDK's import-time notice that its native codec is unavailable (it falls back to pure
    Python, which is what FC's runtime gets): one line per import on every cold start otherwise.
    Every other record of those loggers passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Native" not in record.getMessage() or "not available" not in record.getMessage()


def silence_native_codec_notice() -> None:
    """Filter the SDK's native-codec notices on the two loggers that emit them (call before the SDK
    is first imported; importing this module does not import the SDK)."""
    for name in ("tablestore.encoder", "tablestore.decoder"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NativeCodecNotice) for f in logger.filters):
            logger.addFilter(_NativeCodecNotice())


def quiet_sdk_import() -> Any:
    """Import the ``tablestore`` SDK with its native-codec notices filtered out; returns the module."""
    silence_native_codec_notice()
    import tablestore

    return tablestore


def _columns(record: TokenRecord) -> list[tuple[str, Any]]:
    """The attribute columns of ``record``'s row (typed explicitly: Tablestore compares by type)."""
    columns: list[tuple[str, Any]] = [
        ("state", record.state.value),
        ("owner", record.owner),
        ("version", int(record.version)),
        ("attempts", int(record.attempts)),
        ("generation", int(record.generation)),
        ("in_doubt", bool(record.in_doubt)),
        ("lease_until", float(record.lease_until)),
        ("meta", json.dumps(record.meta, sort_keys=True)),
        ("created_at", float(record.created_at)),
        ("updated_at", float(record.updated_at)),
        ("expires_at", float(record.expires_at)),
    ]
    if record.snapshot_id is not None:
        columns.append(("snapshot_id", record.snapshot_id))
    if record.error_code is not None:
        columns.append(("error_code", record.error_code))
    if record.retryable is not None:
        columns.append(("retryable", bool(record.retryable)))
    if record.detail is not None:
        columns.append(("detail", record.detail))
    return columns


def _record(primary_key: list[tuple[str, Any]], attribute_columns: list[tuple[Any, ...]]) -> TokenRecord:
    """Rebuild a record from a row as the SDK returns it (columns are ``(name, value, timestamp)``)."""
    token = primary_key[0][1]
    fields: dict[str, Any] = {"token": token}
    for name, value, *_ in attribute_columns:
        fields.setdefault(name, value)  # newest version first; only one is kept anyway
    try:
        fields["meta"] = json.loads(fields.get("meta", "{}"))
        return TokenRecord.model_validate(fields)
    except (ValueError, pydantic.ValidationError) as exc:
        raise TokenTableError(f"token {token}: the stored row is not a token record: {exc}") from exc


class TablestoreTokenTable(TokenTable):
    """The token table in one Tablestore table (see the module docstring for the layout)."""

    scheme = "tablestore"

    def __init__(
        self,
        url: str,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        security_token: str | None = None,
        socket_timeout: float = 3.0,
        max_retries: int = 2,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        record_ttl_seconds: float = DEFAULT_RECORD_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        clock_skew_seconds: float | None = None,
    ) -> None:
        """Open the table at ``url``; no request is made until the first operation.

        ``socket_timeout`` bounds connecting and each wait for an answer (seconds); ``max_retries``
        caps the SDK's retries of throttled requests (and of reads that hit a server error).
        ``ValueError`` for a malformed URL or no region to derive the endpoint from. Missing
        credentials are an error at the first operation (``use_credentials`` may still bring them).
        """
        super().__init__(
            lease_seconds=lease_seconds,
            record_ttl_seconds=record_ttl_seconds,
            clock=clock,
            clock_skew_seconds=clock_skew_seconds,
        )
        self.endpoint, self.instance, self.table = parse_url(url)
        self._credentials = _credentials(access_key_id, access_key_secret, security_token)
        # Imported here, not at the top: ~300 ms that only this backend should pay. urllib3 is the
        # SDK's transport, whose connection errors reach the caller unwrapped.
        tablestore = quiet_sdk_import()
        import urllib3.exceptions

        self._ots: Any = tablestore
        self._network_errors: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)
        sdk_logger = logging.getLogger(SDK_LOGGER)
        if sdk_logger.level == logging.NOTSET:
            sdk_logger.setLevel(logging.CRITICAL)
        self._socket_timeout = socket_timeout
        self._max_retries = max_retries
        self._client_lock = threading.Lock()
        self._sdk_client: Any = None
        self._client_credentials: tuple[str, str, str | None] | None = None

    default_clock_skew = 15.0

    def use_credentials(self, access_key_id: str, access_key_secret: str, security_token: str | None) -> None:
        """Sign later requests with these credentials; the SDK client is rebuilt when they change."""
        with self._client_lock:
            self._credentials = (access_key_id, access_key_secret, security_token)

    @property
    def _client(self) -> Any:
        """The SDK client for the current credentials (no connection is made until a request)."""
        with self._client_lock:
            wanted = self._credentials
            if wanted is None:
                raise TokenTableAuthError(
                    f"Tablestore {self.instance}/{self.table}: no credentials (the FC context, or "
                    f"{ACCESS_KEY_ID_ENV} and {ACCESS_KEY_SECRET_ENV})"
                )
            if self._sdk_client is None or wanted != self._client_credentials:
                ots = self._ots
                retry_policy = ots.DefaultRetryPolicy()
                retry_policy.max_retry_times = self._max_retries
                retry_policy.max_retry_delay = 1
                key_id, key_secret, token = wanted
                self._sdk_client = ots.OTSClient(
                    self.endpoint,
                    key_id,
                    key_secret,
                    self.instance,
                    sts_token=token,
                    socket_timeout=self._socket_timeout,
                    retry_policy=retry_policy,
                    logger_name=SDK_LOGGER,
                )
                self._client_credentials = wanted
            return self._sdk_client

    # -- administration ---------------------------------------------------------------------------

    def ensure_table(self) -> None:
        """Create the table if it is missing (TTL -1, one version); check its key if it exists.

        Run it at deploy time: a freshly created table takes a moment to load on the real service.
        """
        ots = self._ots
        meta = ots.TableMeta(self.table, [(PRIMARY_KEY, "STRING")])
        options = ots.TableOptions(time_to_live=-1, max_version=1)
        try:
            with self._guard():
                self._client.create_table(meta, options, ots.ReservedThroughput(ots.CapacityUnit(0, 0)))
            return
        except TokenTableError as exc:
            if getattr(exc.__cause__, "code", None) != _ALREADY_EXISTS:
                raise
        with self._guard():
            schema = self._client.describe_table(self.table).table_meta.schema_of_primary_key
        if [tuple(column) for column in schema] != [(PRIMARY_KEY, "STRING")]:
            raise TokenTableError(
                f"Tablestore table {self.table} has the primary key {schema}, "
                f"not [({PRIMARY_KEY!r}, 'STRING')]"
            )

    def close(self) -> None:
        """Drop pooled connections (the SDK's client has no close of its own)."""
        with self._client_lock:
            if self._sdk_client is not None:
                self._sdk_client.connection.pool.clear()

    # -- primitives -------------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        ots = self._ots
        try:
            yield
        except ots.OTSServiceError as exc:
            detail = (
                f"Tablestore {self.instance}/{self.table}: {exc.code} {exc.message} (HTTP {exc.http_status})"
            )
            if exc.code in _TRANSIENT_CODES or (exc.http_status or 0) >= 500:
                raise TokenTableUnavailable(detail) from exc
            if exc.code in _AUTH_CODES:
                raise TokenTableAuthError(detail) from exc
            if exc.code in _MISSING_CODES:
                raise TokenTableFatal(
                    f"Tablestore table {self.table} does not exist in instance {self.instance} "
                    f"({exc.code}): create it (snapstack tablestore / ensure_table)"
                ) from exc
            raise TokenTableError(detail) from exc
        except ots.OTSClientError as exc:
            # With an HTTP status the answer was unusable (bad checksum, date, signature): the
            # service is not trustworthy right now. Without one the request could not be built.
            kind = TokenTableUnavailable if exc.http_status is not None else TokenTableError
            raise kind(f"Tablestore {self.instance}/{self.table}: {exc.message}") from exc
        except self._network_errors as exc:
            raise TokenTableUnavailable(
                f"Tablestore {self.instance}/{self.table} unreachable: {exc}"
            ) from exc

    def _key(self, token: str) -> list[tuple[str, str]]:
        return [(PRIMARY_KEY, token)]

    def _version_is(self, version: int) -> Any:
        ots = self._ots
        return ots.Condition(
            ots.RowExistenceExpectation.EXPECT_EXIST,
            ots.SingleColumnCondition(
                "version", int(version), ots.ComparatorType.EQUAL, pass_if_missing=False
            ),
        )

    def _conditionally(self, write: Callable[[], object]) -> bool:
        """Run a conditional write; False when its condition did not hold."""
        try:
            with self._guard():
                write()
        except TokenTableError as exc:
            if getattr(exc.__cause__, "code", None) == _CONDITION_CHECK_FAIL:
                return False
            raise
        return True

    def _put(self, record: TokenRecord, condition: Any) -> bool:
        """PutRow (the whole record) under ``condition``; False when the condition did not hold."""
        row = self._ots.Row(self._key(record.token), _columns(record))
        return self._conditionally(lambda: self._client.put_row(self.table, row, condition))

    def _get(self, token: str) -> TokenRecord | None:
        with self._guard():
            _, row, _ = self._client.get_row(self.table, self._key(token), max_version=1)
        return None if row is None else _record(row.primary_key, row.attribute_columns)

    def _get_many(self, tokens: list[str]) -> dict[str, TokenRecord]:
        # BatchGetRow, 100 rows a request (its limit); a row the service could not read fails the
        # whole read, as one GetRow would: the caller only ever learns "absent" from a real answer.
        ots = self._ots
        found: dict[str, TokenRecord] = {}
        for i in range(0, len(tokens), BATCH_GET_ROWS):
            request = ots.BatchGetRowRequest()
            keys = [self._key(token) for token in tokens[i : i + BATCH_GET_ROWS]]
            request.add(ots.TableInBatchGetRowItem(self.table, keys, max_version=1))
            with self._guard():
                response = self._client.batch_get_row(request)
                for item in response.get_result_by_table(self.table) or []:
                    if not item.is_ok:
                        raise ots.OTSServiceError(200, item.error_code, item.error_message)
                    if item.row is not None:
                        record = _record(item.row.primary_key, item.row.attribute_columns)
                        found[record.token] = record
        return found

    def _put_if_absent(self, record: TokenRecord) -> bool:
        absent = self._ots.Condition(self._ots.RowExistenceExpectation.EXPECT_NOT_EXIST)
        for _ in range(_REPLACE_ATTEMPTS):
            if self._put(record, absent):
                return True
            current = self._get(record.token)
            if current is None:
                continue  # deleted since the failed put: try again
            if current.expires_at > self.clock():
                return False
            # Expired counts as absent: replace it, unless another taker changes it first.
            if self._put(record, self._version_is(current.version)):
                return True
        return False

    def _compare_and_set(self, expected_version: int, record: TokenRecord) -> bool:
        return self._put(record, self._version_is(expected_version))

    def _scan(self, column_filter: Any = None) -> Iterator[TokenRecord]:
        ots = self._ots
        start: list[tuple[str, Any]] | None = [(PRIMARY_KEY, ots.INF_MIN)]
        end = [(PRIMARY_KEY, ots.INF_MAX)]
        while start is not None:
            # The service pages (at most 5000 rows or 4 MB per answer) and says where to go on.
            with self._guard():
                _, start, rows, _ = self._client.get_range(
                    self.table, ots.Direction.FORWARD, start, end, column_filter=column_filter, max_version=1
                )
            for row in rows:
                yield _record(row.primary_key, row.attribute_columns)

    def _scan_unfinished(self) -> Iterator[TokenRecord]:
        # Filtered by the service: only rows whose state is not CREATED come back (the service
        # still reads every row; the answers, and the parsing here, shrink to the open ones).
        ots = self._ots
        return self._scan(ots.SingleColumnCondition("state", "created", ots.ComparatorType.NOT_EQUAL))

    def _delete_if_expired(self, token: str, now: float) -> bool:
        ots = self._ots
        condition = ots.Condition(
            ots.RowExistenceExpectation.EXPECT_EXIST,
            ots.SingleColumnCondition(
                "expires_at", float(now), ots.ComparatorType.LESS_EQUAL, pass_if_missing=False
            ),
        )
        return self._conditionally(lambda: self._client.delete_row(self.table, self._key(token), condition))
