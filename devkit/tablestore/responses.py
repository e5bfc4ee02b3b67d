"""The Tablestore wire protocol: request authentication, protobuf bodies and response signing.

A request is ``POST /<Operation>`` with a protobuf body (rows inside it in plainbuffer format) and
``x-ots-*`` headers: date, API version, AccessKey ID, instance name, the body's MD5 and a signature.
The signature is HMAC-SHA1 (``x-ots-signature``) keyed by the AccessKey secret, or HMAC-SHA256
(``x-ots-signaturev4``) keyed by a key derived from the secret, the sign date and the region, over::

    /<Operation>\\nPOST\\n<sorted query>\\n<sorted "name:value" x-ots-* headers, one per line>\\n

The answer carries ``x-ots-contentmd5``, ``x-ots-requestid``, ``x-ots-date`` and
``x-ots-contenttype``, and an ``Authorization: OTS <AccessKeyId>:<signature>`` header: HMAC-SHA1,
with the request's signing key, over the sorted response ``x-ots-*`` headers and the path. The SDK
checks all of it (and that the date is within 15 minutes), so every answer here is signed the same
way. Errors are an ``Error`` message (code, message) with the service's HTTP status.

The protobuf classes are the SDK's own generated ones; what a request means is decided here and in
``models.py``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tablestore.protobuf.table_store_filter_pb2 as filter_pb
import tablestore.protobuf.table_store_pb2 as pb

from devkit.tablestore.models import (
    CellChange,
    CellOp,
    Comparator,
    CompositeFilter,
    Condition,
    Existence,
    LogicalOperator,
    OTSError,
    PKColumn,
    PKType,
    ReadSpec,
    RowView,
    SingleColumnFilter,
    Store,
    TableOptions,
    Value,
    VType,
    parameter_invalid,
)
from devkit.tablestore.plainbuffer import (
    DecodedRow,
    PlainBufferError,
    decode_row,
    decode_variant,
    encode_row,
    encode_rows,
)

API_VERSION = "2015-12-31"
# The SDK rejects answers whose date is further than this from its clock; the service does the same.
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
CAPACITY_UNIT_BYTES = 4096
#: Rows one BatchGetRow may read ("up to 100 rows",
#: https://www.alibabacloud.com/help/en/tablestore/developer-reference/batch-get-row-in-python,
#: and the API reference https://www.alibabacloud.com/help/doc-detail/27310.html).
BATCH_GET_ROWS = 100
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_INT64_MAX = (1 << 63) - 1

_SIGNATURE = "x-ots-signature"
_SIGNATURE_V4 = "x-ots-signaturev4"
_REQUIRED_HEADERS = (
    "x-ots-date",
    "x-ots-apiversion",
    "x-ots-accesskeyid",
    "x-ots-instancename",
    "x-ots-contentmd5",
)


@dataclass(frozen=True)
class Credential:
    """An AccessKey pair the emulator accepts; with a security token it is an STS credential."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who sent an authenticated request, and the key its answer is signed with."""

    access_key_id: str
    signing_key: bytes


def auth_failed(message: str) -> OTSError:
    """403 OTSAuthFailed."""
    return OTSError(403, "OTSAuthFailed", message)


def now_header() -> str:
    """The current time as ``x-ots-date`` spells it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def content_md5(body: bytes) -> str:
    """Base64 of the body's MD5, as ``x-ots-contentmd5`` carries it."""
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")


def _hmac(key: bytes, text: str, digest: Callable[[], Any]) -> bytes:
    return hmac.new(key, text.encode("utf-8"), digest).digest()


def _ots_headers(headers: Mapping[str, str], *, exclude: tuple[str, ...] = ()) -> str:
    items = sorted(
        f"{name}:{value.strip()}"
        for name, value in headers.items()
        if name.startswith("x-ots-") and name not in exclude
    )
    return "\n".join(items)


def v4_signing_key(secret: str, sign_date: str, region: str) -> bytes:
    """The SignV4 key: a chain of HMAC-SHA256 over date, region, product and a constant."""
    key = _hmac(("aliyun_v4" + secret).encode("utf-8"), sign_date, hashlib.sha256)
    key = _hmac(key, region, hashlib.sha256)
    key = _hmac(key, "ots", hashlib.sha256)
    key = _hmac(key, "aliyun_v4_request", hashlib.sha256)
    return base64.b64encode(key)


def authenticate(
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    instance: str,
    credentials: Mapping[str, Credential],
) -> Caller:
    """Check a request's headers, signature and body MD5; ``headers`` have lower-case names."""
    for name in _REQUIRED_HEADERS:
        if name not in headers:
            raise parameter_invalid(f"Missing header: {name}.")
    v4 = _SIGNATURE_V4 in headers
    if not v4 and _SIGNATURE not in headers:
        raise parameter_invalid(f"Missing header: {_SIGNATURE}.")
    date = headers["x-ots-date"]
    try:
        sent = datetime.datetime.strptime(date, _DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise parameter_invalid(f"Invalid date format: {date}.") from None
    if abs(datetime.datetime.now(datetime.timezone.utc) - sent) > MAX_CLOCK_SKEW:
        raise auth_failed(f"Mismatch between system time and x-ots-date: {date}.")
    if headers["x-ots-apiversion"] != API_VERSION:
        raise parameter_invalid(f"Unsupported API version: {headers['x-ots-apiversion']}.")
    credential = credentials.get(headers["x-ots-accesskeyid"])
    if credential is None:
        raise auth_failed("The AccessKeyID does not exist.")
    if headers["x-ots-instancename"] != instance:
        raise auth_failed("The instance is not found.")
    if credential.security_token is not None and headers.get("x-ots-ststoken") != credential.security_token:
        raise auth_failed("The security token is invalid.")
    text = f"{path}\nPOST\n\n{_ots_headers(headers, exclude=(_SIGNATURE, _SIGNATURE_V4))}\n"
    if v4:
        for name in ("x-ots-signdate", "x-ots-signregion"):
            if name not in headers:
                raise parameter_invalid(f"Missing header: {name}.")
        key = v4_signing_key(
            credential.access_key_secret, headers["x-ots-signdate"], headers["x-ots-signregion"]
        )
        expected = base64.b64encode(_hmac(key, text + "ots", hashlib.sha256)).decode("ascii")
        given = headers[_SIGNATURE_V4]
    else:
        key = credential.access_key_secret.encode("utf-8")
        expected = base64.b64encode(_hmac(key, text, hashlib.sha1)).decode("ascii")
        given = headers[_SIGNATURE]
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8")):
        raise auth_failed("Signature mismatch.")
    if headers["x-ots-contentmd5"] != content_md5(body):
        raise auth_failed("Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
    return Caller(credential.access_key_id, key)


def response_headers(path: str, body: bytes, caller: Caller | None) -> dict[str, str]:
    """The ``x-ots-*`` headers of an answer, signed for ``caller`` when the request was authentic."""
    headers = {
        "x-ots-contentmd5": content_md5(body),
        "x-ots-requestid": str(uuid.uuid4()),
        "x-ots-date": now_header(),
        "x-ots-contenttype": "protocol buffer",
    }
    if caller is not None:
        signature = base64.b64encode(
            _hmac(caller.signing_key, f"{_ots_headers(headers)}\n{path}", hashlib.sha1)
        )
        headers["authorization"] = f"OTS {caller.access_key_id}:{signature.decode('ascii')}"
    return headers


def error_body(error: OTSError) -> bytes:
    """The protobuf ``Error`` an error answer carries."""
    message = pb.Error()
    message.code = error.code
    message.message = error.message
    body: bytes = message.SerializeToString()
    return body


# -- request parsing --------------------------------------------------------------------------------


def _parse(message_class: Any, body: bytes) -> Any:
    message = message_class()
    try:
        message.ParseFromString(body)
    except Exception:  # google.protobuf's DecodeError: the body is not this message
        raise parameter_invalid("Failed to parse the request body as a protobuf message.") from None
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())
        raise parameter_invalid(f"Missing required field in the request: {missing}.")
    return message


def _decode(data: bytes, what: str) -> DecodedRow:
    try:
        return decode_row(data)
    except PlainBufferError as exc:
        raise parameter_invalid(f"Invalid {what}: {exc}.") from None


def _primary_key(data: bytes, what: str) -> tuple[tuple[str, Value], ...]:
    row = _decode(data, what)
    if row.cells:
        raise parameter_invalid(f"The {what} must not carry attribute columns.")
    return row.primary_key


def _column_filter(data: bytes) -> SingleColumnFilter | CompositeFilter:
    wrapper = _parse(filter_pb.Filter, data)
    if wrapper.type == filter_pb.FT_SINGLE_COLUMN_VALUE:
        single = _parse(filter_pb.SingleColumnValueFilter, wrapper.filter)
        try:
            value = decode_variant(single.column_value)
        except PlainBufferError as exc:
            raise parameter_invalid(f"Invalid column value in a column condition: {exc}.") from None
        regex = cast_type = None
        if single.HasField("value_trans_rule"):
            rule = single.value_trans_rule
            regex = rule.regex
            cast_type = VType(rule.cast_type) if rule.HasField("cast_type") else None
        return SingleColumnFilter(
            comparator=Comparator(single.comparator),
            column=single.column_name,
            value=value,
            filter_if_missing=single.filter_if_missing,
            latest_version_only=single.latest_version_only,
            regex=regex,
            cast_type=cast_type,
        )
    if wrapper.type == filter_pb.FT_COMPOSITE_COLUMN_VALUE:
        composite = _parse(filter_pb.CompositeColumnValueFilter, wrapper.filter)
        subs = tuple(_column_filter(sub.SerializeToString()) for sub in composite.sub_filters)
        operator = LogicalOperator(composite.combinator)
        if operator is LogicalOperator.NOT and len(subs) != 1:
            raise parameter_invalid("The NOT operator takes exactly one sub condition.")
        if not subs:
            raise parameter_invalid("A composite column condition needs at least one sub condition.")
        return CompositeFilter(operator, subs)
    raise parameter_invalid("Column pagination filters are not supported by the Tablestore emulator.")


def _condition(message: Any) -> Condition:
    column_filter = _column_filter(message.column_condition) if message.HasField("column_condition") else None
    return Condition(Existence(message.row_existence), column_filter)


def _return_pk(message: Any) -> bool:
    if not message.HasField("return_content"):
        return False
    return_type = message.return_content.return_type
    if return_type == pb.RT_AFTER_MODIFY:
        raise parameter_invalid("ReturnType RT_AFTER_MODIFY is not supported by the Tablestore emulator.")
    return bool(return_type == pb.RT_PK)


def _no_transaction(message: Any) -> None:
    if message.HasField("transaction_id"):
        raise parameter_invalid("Local transactions are not supported by the Tablestore emulator.")


def _read_spec(message: Any) -> ReadSpec:
    token = message.DESCRIPTOR.fields_by_name["token"]  # optional in GetRow, repeated in BatchGetRow
    if len(message.token) if token.label == token.LABEL_REPEATED else message.HasField("token"):
        raise parameter_invalid("Wide-row tokens are not supported by the Tablestore emulator.")
    time_range = None
    if message.HasField("time_range"):
        window = message.time_range
        if window.HasField("specific_time"):
            time_range = (window.specific_time, window.specific_time + 1)
        else:
            time_range = (window.start_time, window.end_time if window.HasField("end_time") else _INT64_MAX)
    return ReadSpec(
        columns_to_get=tuple(message.columns_to_get),
        max_versions=message.max_versions if message.HasField("max_versions") else None,
        time_range=time_range,
        column_filter=_column_filter(message.filter) if message.HasField("filter") else None,
        start_column=message.start_column if message.HasField("start_column") else None,
        end_column=message.end_column if message.HasField("end_column") else None,
    )


def _cell_changes(row: DecodedRow) -> list[CellChange]:
    return [CellChange(cell.name, cell.value, cell.timestamp, cell.op) for cell in row.cells]


def _units(size: int) -> int:
    return max(1, math.ceil(size / CAPACITY_UNIT_BYTES))


def _consumed(message: Any, *, read: int = 0, write: int = 0) -> None:
    message.consumed.capacity_unit.read = read
    message.consumed.capacity_unit.write = write


def _write_read_units(condition: Condition) -> int:
    # A conditional write reads the row first, and the service bills that read.
    return 1 if condition.existence is not Existence.IGNORE or condition.column_filter is not None else 0


# -- operations -------------------------------------------------------------------------------------

_PK_TYPES = {pb.INTEGER: PKType.INTEGER, pb.STRING: PKType.STRING, pb.BINARY: PKType.BINARY}
_PK_TYPE_NAMES = {pb.INTEGER: "INTEGER", pb.STRING: "STRING", pb.BINARY: "BINARY", pb.PK_BOOLEAN: "BOOLEAN"}
_PB_PK_TYPES = {PKType.INTEGER: pb.INTEGER, PKType.STRING: pb.STRING, PKType.BINARY: pb.BINARY}
_DEFINED_TYPES = {
    pb.DCT_INTEGER: "INTEGER",
    pb.DCT_DOUBLE: "DOUBLE",
    pb.DCT_BOOLEAN: "BOOLEAN",
    pb.DCT_STRING: "STRING",
    pb.DCT_BLOB: "BINARY",
}
_PB_DEFINED_TYPES = {name: number for number, name in _DEFINED_TYPES.items()}


def _create_table(store: Store, body: bytes) -> Any:
    request = _parse(pb.CreateTableRequest, body)
    if len(request.index_metas):
        raise parameter_invalid("Secondary indexes are not supported by the Tablestore emulator.")
    if request.HasField("stream_spec") and request.stream_spec.enable_stream:
        raise parameter_invalid("Streams are not supported by the Tablestore emulator.")
    if request.HasField("sse_spec") and request.sse_spec.enable:
        raise parameter_invalid("Server-side encryption is not supported by the Tablestore emulator.")
    primary_key = []
    for column in request.table_meta.primary_key:
        if column.type not in _PK_TYPES:
            name = _PK_TYPE_NAMES.get(column.type, str(column.type))
            raise parameter_invalid(f"{name} is an invalid type for the primary key.")
        auto_increment = column.HasField("option") and column.option == pb.AUTO_INCREMENT
        primary_key.append(PKColumn(column.name, _PK_TYPES[column.type], auto_increment))
    given = request.table_options
    options = TableOptions(
        time_to_live=given.time_to_live if given.HasField("time_to_live") else -1,
        max_versions=given.max_versions if given.HasField("max_versions") else 1,
        deviation_cell_version_in_sec=(
            given.deviation_cell_version_in_sec if given.HasField("deviation_cell_version_in_sec") else 86400
        ),
        allow_update=given.allow_update if given.HasField("allow_update") else True,
    )
    capacity = request.reserved_throughput.capacity_unit
    store.create_table(
        request.table_meta.table_name,
        primary_key,
        options,
        defined_columns=[
            (column.name, _DEFINED_TYPES[column.type]) for column in request.table_meta.defined_column
        ],
        reserved_read=capacity.read if capacity.HasField("read") else 0,
        reserved_write=capacity.write if capacity.HasField("write") else 0,
    )
    return pb.CreateTableResponse()


def _describe_table(store: Store, body: bytes) -> Any:
    request = _parse(pb.DescribeTableRequest, body)
    table = store.describe_table(request.table_name)
    response = pb.DescribeTableResponse()
    meta = response.table_meta
    meta.table_name = table.name
    for column in table.primary_key:
        schema = meta.primary_key.add()
        schema.name = column.name
        schema.type = _PB_PK_TYPES[column.type]
        if column.auto_increment:
            schema.option = pb.AUTO_INCREMENT
    for name, type_name in table.defined_columns:
        defined = meta.defined_column.add()
        defined.name = name
        defined.type = _PB_DEFINED_TYPES[type_name]
    details = response.reserved_throughput_details
    details.capacity_unit.read = table.reserved_read
    details.capacity_unit.write = table.reserved_write
    details.last_increase_time = table.created_at
    options = response.table_options
    options.time_to_live = table.options.time_to_live
    options.max_versions = table.options.max_versions
    options.deviation_cell_version_in_sec = table.options.deviation_cell_version_in_sec
    options.allow_update = table.options.allow_update
    response.stream_details.enable_stream = False
    response.sse_details.enable = False
    return response


def _list_table(store: Store, body: bytes) -> Any:
    _parse(pb.ListTableRequest, body)
    response = pb.ListTableResponse()
    response.table_names.extend(store.list_tables())
    return response


def _delete_table(store: Store, body: bytes) -> Any:
    store.delete_table(_parse(pb.DeleteTableRequest, body).table_name)
    return pb.DeleteTableResponse()


def _put_row(store: Store, body: bytes) -> Any:
    request = _parse(pb.PutRowRequest, body)
    _no_transaction(request)
    row = _decode(request.row, "row")
    if row.delete_marker or any(cell.op is not CellOp.PUT for cell in row.cells):
        raise parameter_invalid("PutRow only puts columns: delete markers and cell types are not allowed.")
    condition = _condition(request.condition)
    return_pk = _return_pk(request)
    primary_key = store.put_row(request.table_name, row.primary_key, _cell_changes(row), condition)
    response = pb.PutRowResponse()
    _consumed(response, read=_write_read_units(condition), write=_units(len(request.row)))
    if return_pk:
        response.row = encode_row(primary_key)
    return response


def _update_row(store: Store, body: bytes) -> Any:
    request = _parse(pb.UpdateRowRequest, body)
    _no_transaction(request)
    row = _decode(request.row_change, "row change")
    if row.delete_marker:
        raise parameter_invalid("UpdateRow does not take a delete marker.")
    condition = _condition(request.condition)
    return_pk = _return_pk(request)
    primary_key = store.update_row(request.table_name, row.primary_key, _cell_changes(row), condition)
    response = pb.UpdateRowResponse()
    _consumed(response, read=_write_read_units(condition), write=_units(len(request.row_change)))
    if return_pk:
        response.row = encode_row(primary_key)
    return response


def _delete_row(store: Store, body: bytes) -> Any:
    request = _parse(pb.DeleteRowRequest, body)
    _no_transaction(request)
    row = _decode(request.primary_key, "primary key")
    if row.cells or not row.delete_marker:
        raise parameter_invalid("DeleteRow takes a primary key with a delete marker and no columns.")
    condition = _condition(request.condition)
    return_pk = _return_pk(request)
    store.delete_row(request.table_name, row.primary_key, condition)
    response = pb.DeleteRowResponse()
    _consumed(response, read=_write_read_units(condition), write=_units(len(request.primary_key)))
    if return_pk:
        response.row = encode_row(row.primary_key)
    return response


def _get_row(store: Store, body: bytes) -> Any:
    request = _parse(pb.GetRowRequest, body)
    _no_transaction(request)
    primary_key = _primary_key(request.primary_key, "primary key")
    view = store.get_row(request.table_name, primary_key, _read_spec(request))
    response = pb.GetRowResponse()
    response.row = b"" if view is None else encode_row(view.primary_key, view.cells)
    _consumed(response, read=_units(len(response.row)))
    return response


def _batch_get_row(store: Store, body: bytes) -> Any:
    """BatchGetRow: GetRow for each primary key, at most ``BATCH_GET_ROWS`` in all. A missing table
    or a bad primary key fails the whole request, as the service's does (row-level failures, which
    the service may answer with HTTP 200, do not happen here)."""
    request = _parse(pb.BatchGetRowRequest, body)
    rows = sum(len(table.primary_key) for table in request.tables)
    if rows > BATCH_GET_ROWS:
        raise parameter_invalid(f"Rows count exceeds the upper limit: {BATCH_GET_ROWS} (got {rows}).")
    response = pb.BatchGetRowResponse()
    for table in request.tables:
        answer = response.tables.add()
        answer.table_name = table.table_name
        spec = _read_spec(table)
        for raw in table.primary_key:
            view = store.get_row(table.table_name, _primary_key(raw, "primary key"), spec)
            row = answer.rows.add()
            row.is_ok = True
            row.row = b"" if view is None else encode_row(view.primary_key, view.cells)
            _consumed(row, read=_units(len(row.row)))
    return response


def _get_range(store: Store, body: bytes) -> Any:
    request = _parse(pb.GetRangeRequest, body)
    _no_transaction(request)
    rows, next_start = store.get_range(
        request.table_name,
        forward=request.direction == pb.FORWARD,
        start=_primary_key(request.inclusive_start_primary_key, "inclusive start primary key"),
        end=_primary_key(request.exclusive_end_primary_key, "exclusive end primary key"),
        spec=_read_spec(request),
        limit=request.limit if request.HasField("limit") else None,
    )
    response = pb.GetRangeResponse()
    response.rows = _encode_views(rows)
    if next_start is not None:
        response.next_start_primary_key = encode_row(next_start)
    _consumed(response, read=_units(len(response.rows)))
    return response


def _encode_views(rows: list[RowView]) -> bytes:
    return encode_rows((view.primary_key, view.cells) for view in rows) if rows else b""


OPERATIONS: dict[str, Callable[[Store, bytes], Any]] = {
    "CreateTable": _create_table,
    "DescribeTable": _describe_table,
    "ListTable": _list_table,
    "DeleteTable": _delete_table,
    "PutRow": _put_row,
    "GetRow": _get_row,
    "BatchGetRow": _batch_get_row,
    "UpdateRow": _update_row,
    "DeleteRow": _delete_row,
    "GetRange": _get_range,
}


def operation(path: str) -> str:
    """The operation a request path names; unknown ones fail as the service fails them."""
    name = path.rsplit("/", 1)[-1]
    if name not in OPERATIONS:
        raise parameter_invalid(f"Unsupported operation: '{name}'.")
    return name


def dispatch(name: str, store: Store, body: bytes) -> bytes:
    """Run operation ``name`` on ``store``; the serialized response, or ``OTSError``."""
    answer: bytes = OPERATIONS[name](store, body).SerializeToString()
    return answer
