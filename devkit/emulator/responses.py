"""The RPC wire of the ECS emulator (the moto "responses" layer): signatures, parameters, bodies.

Requests arrive as the official SDK sends them: ``POST /`` with every API parameter in the
query string (a form body is merged too), signed either with V3 ``ACS3-HMAC-SHA256`` (the
SDK default: ``Authorization`` and ``x-acs-*`` headers) or legacy V2 ``HMAC-SHA1``
(``Signature`` and friends in the query). Verification recomputes the signature exactly as
``alibabacloud_tea_openapi.utils`` builds it. Answers are JSON: the API's fields plus
``RequestId``; errors are ``{RequestId, HostId, Code, Message}`` with the taxonomy's status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, quote_plus

from devkit.emulator.models import (
    DISK_CATEGORIES,
    DISK_STATUSES,
    INSTANCE_STATUSES,
    SNAPSHOT_USAGES,
    ApiError,
    CreateTicket,
    DiskFilter,
    EcsState,
    InstanceFilter,
    Page,
    PageRequest,
    SnapshotFilter,
    TagFilter,
)
from snapstack.ecs.errors import InvalidRequest
from snapstack.ecs.request import CreateSnapshotRequest

API_VERSION = "2014-05-26"
V3_ALGORITHM = "ACS3-HMAC-SHA256"
#: How far a request's timestamp may be from the server's real clock (ECS allows 15 minutes).
MAX_CLOCK_SKEW = 900.0
#: V2 common parameters: signed, but not API parameters.
_V2_COMMON = frozenset(
    {
        "Action",
        "Format",
        "Version",
        "Timestamp",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureType",
        "AccessKeyId",
        "SecurityToken",
        "Signature",
    }
)


@dataclass(frozen=True)
class WireRequest:
    """One RPC request as it arrived: query and form parameters decoded, header names lower-case."""

    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Credential:
    """An AccessKey pair the emulator accepts; with ``security_token`` it is an STS triple."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None = None


# --- authentication ---------------------------------------------------------------------------------


def _v3_canonical_query(query: Mapping[str, str]) -> str:
    # As tea-openapi's get_canonical_query_string: keys sorted and left as they are, values
    # percent-encoded with only "~" safe, "key=" for an empty value.
    return "&".join(f"{k}={quote(query[k], safe='~', encoding='utf-8')}" for k in sorted(query))


def v2_signature(params: Mapping[str, str], method: str, secret: str) -> str:
    """The V2 (HMAC-SHA1) signature of ``params`` (without ``Signature``), as tea-openapi computes it."""
    canonical = "".join(
        f"&{quote(k, safe='~', encoding='utf-8')}={quote(params[k], safe='~', encoding='utf-8')}"
        for k in sorted(params)
    )
    to_sign = f"{method}&%2F&{quote_plus(canonical[1:], safe='~', encoding='utf-8')}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _parse_timestamp(value: str) -> float | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


class Authenticator:
    """Checks V3 and V2 signatures against the configured credentials, for one API version
    (ECS's by default; the ROS stand-in checks ROS's the same way)."""

    def __init__(self, credentials: list[Credential], api_version: str = API_VERSION) -> None:
        self._keys = {c.access_key_id: c for c in credentials}
        self.api_version = api_version
        self._nonce_lock = threading.Lock()
        self._nonces: set[str] = set()
        self._nonce_expiry: deque[tuple[float, str]] = deque()

    def verify(self, req: WireRequest) -> str:
        """Authenticate one request; returns its Action. Raises ``ApiError`` (auth codes) otherwise.

        V3 signs the URL query and hashes the body; V2 signs query and form parameters together.
        """
        authorization = req.headers.get("authorization")
        if authorization is not None:
            return self._verify_v3(req, authorization)
        if "Signature" in req.query or "Signature" in req.form:
            return self._verify_v2(req.method, {**req.query, **req.form})
        raise ApiError("IncompleteSignature", "no Authorization header and no Signature parameter")

    def _credential(self, access_key_id: str, token: str | None) -> Credential:
        cred = self._keys.get(access_key_id)
        if cred is None:
            raise ApiError("InvalidAccessKeyId.NotFound", access_key_id)
        if (token or None) != cred.security_token:
            raise ApiError("InvalidSecurityToken.MismatchWithAccessKey")
        return cred

    def _fresh(self, stamp: str | None, nonce: str | None) -> None:
        if not stamp or not nonce:
            raise ApiError("IncompleteSignature", "timestamp and signature nonce are required")
        when = _parse_timestamp(stamp)
        if when is None:
            raise ApiError("IncompleteSignature", f"malformed timestamp {stamp!r}")
        now = time.time()
        if abs(now - when) > MAX_CLOCK_SKEW:
            raise ApiError("InvalidTimeStamp.Expired")
        with self._nonce_lock:
            while self._nonce_expiry and self._nonce_expiry[0][0] < now:
                self._nonces.discard(self._nonce_expiry.popleft()[1])
            if nonce in self._nonces:
                raise ApiError("SignatureNonceUsed")
            self._nonces.add(nonce)
            self._nonce_expiry.append((now + 2 * MAX_CLOCK_SKEW, nonce))

    def _verify_v3(self, req: WireRequest, authorization: str) -> str:
        headers = req.headers
        algorithm, _, rest = authorization.partition(" ")
        if algorithm != V3_ALGORITHM:
            raise ApiError("IncompleteSignature", f"unsupported signature algorithm {algorithm!r}")
        parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
        access_key_id, signed, signature = (
            parts.get(k) for k in ("Credential", "SignedHeaders", "Signature")
        )
        if not access_key_id or not signed or not signature:
            raise ApiError(
                "IncompleteSignature", "Authorization needs Credential, SignedHeaders and Signature"
            )
        signed_names = signed.split(";")
        unsigned = [h for h in headers if h.startswith("x-acs-") and h not in signed_names]
        if "host" not in signed_names or unsigned:
            raise ApiError(
                "IncompleteSignature", f"host and every x-acs-* header must be signed ({unsigned})"
            )
        action = headers.get("x-acs-action", "")
        payload_hash = headers.get("x-acs-content-sha256", "")
        if not action or not payload_hash:
            raise ApiError("IncompleteSignature", "x-acs-action and x-acs-content-sha256 are required")
        cred = self._credential(access_key_id, headers.get("x-acs-security-token"))
        canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in sorted(signed_names))
        canonical = "\n".join(
            (req.method, req.path, _v3_canonical_query(req.query), canonical_headers, signed, payload_hash)
        )
        to_sign = f"{V3_ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(cred.access_key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if (
            not hmac.compare_digest(expected, signature)
            or hashlib.sha256(req.body).hexdigest() != payload_hash
        ):
            raise ApiError("SignatureDoesNotMatch")
        self._fresh(headers.get("x-acs-date"), headers.get("x-acs-signature-nonce"))
        if headers.get("x-acs-version") != self.api_version:
            raise ApiError("InvalidAction.NotFound", f"version {headers.get('x-acs-version')!r}")
        return action

    def _verify_v2(self, method: str, query: Mapping[str, str]) -> str:
        access_key_id = query.get("AccessKeyId")
        if not access_key_id or query.get("SignatureMethod") != "HMAC-SHA1":
            raise ApiError("IncompleteSignature", "AccessKeyId and SignatureMethod=HMAC-SHA1 are required")
        if query.get("SignatureVersion") != "1.0":
            raise ApiError("IncompleteSignature", "SignatureVersion must be 1.0")
        cred = self._credential(access_key_id, query.get("SecurityToken"))
        signed = {k: v for k, v in query.items() if k != "Signature"}
        if not hmac.compare_digest(v2_signature(signed, method, cred.access_key_secret), query["Signature"]):
            raise ApiError("SignatureDoesNotMatch")
        self._fresh(query.get("Timestamp"), query.get("SignatureNonce"))
        if query.get("Version") != self.api_version:
            raise ApiError("InvalidAction.NotFound", f"version {query.get('Version')!r}")
        action = query.get("Action")
        if not action:
            raise ApiError("MissingParameter", "Action")
        return action


def api_params(query: Mapping[str, str], signed_v2: bool) -> dict[str, str]:
    """The API's own parameters (V2's common parameters removed)."""
    if not signed_v2:
        return dict(query)
    return {k: v for k, v in query.items() if k not in _V2_COMMON}


# --- parameter parsing for the Describe* APIs ------------------------------------------------------


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ApiError("MissingParameter", name)
    return value


def _choice(params: Mapping[str, str], name: str, allowed: frozenset[str], all_value: str) -> str | None:
    value = params.get(name)
    if value is None or value.lower() == all_value.lower():
        return None
    if value not in allowed:
        also = f" or {all_value}" if all_value else ""
        raise ApiError("InvalidParameter", f"{name} must be one of {sorted(allowed)}{also}")
    return value


def _json_ids(params: Mapping[str, str], name: str) -> frozenset[str] | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        ids = json.loads(raw)
    except ValueError:
        raise ApiError("InvalidParameter", f"{name} must be a JSON array of ids") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError("InvalidParameter", f"{name} must be a JSON array of ids")
    if len(ids) > 100:
        raise ApiError("InvalidParameter", f"{name} takes at most 100 ids")
    return frozenset(ids)


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError("InvalidParameter", f"{name} must be a whole number") from None


def _tag_filter(params: Mapping[str, str]) -> TagFilter:
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    for name, value in params.items():
        head, _, rest = name.partition(".")
        if head != "Tag":
            continue
        n, _, part = rest.partition(".")
        if not n.isdigit() or part not in ("Key", "Value") or not 1 <= int(n) <= 20:
            raise ApiError("InvalidParameter", f"{name}: tag filters are Tag.N.Key / Tag.N.Value, N 1 to 20")
        (keys if part == "Key" else values)[int(n)] = value
    if set(values) - set(keys) or not all(keys.values()):
        raise ApiError("InvalidParameter", "every Tag.N.Value needs a non-empty Tag.N.Key")
    return TagFilter(tuple((keys[n], values.get(n)) for n in sorted(keys)))


def encode_token(seq: int) -> str:
    """An opaque NextToken for the item with sequence ``seq``."""
    return base64.urlsafe_b64encode(f"emu1:{seq}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, _, seq = text.partition(":")
        if prefix == "emu1" and seq.isdigit():
            return int(seq)
    except ValueError:
        pass
    raise ApiError("InvalidParameter", "NextToken is not a token this API returned")


@dataclass(frozen=True)
class _Paging:
    page: PageRequest
    legacy: bool
    page_number: int = 1


def _paging(params: Mapping[str, str], max_results_cap: int, max_results_floor: int) -> _Paging:
    """NextToken/MaxResults (clamped like ECS) or the legacy PageNumber/PageSize (1..100)."""
    number, size = _int(params, "PageNumber"), _int(params, "PageSize")
    token, max_results = params.get("NextToken"), _int(params, "MaxResults")
    if (number is not None or size is not None) and token is None and max_results is None:
        number, size = 1 if number is None else number, 10 if size is None else size
        if number < 1 or not 1 <= size <= 100:
            raise ApiError("InvalidParameter", "PageNumber must be >= 1 and PageSize 1 to 100")
        return _Paging(PageRequest(limit=size, offset=(number - 1) * size), legacy=True, page_number=number)
    limit = min(max_results_cap, max(max_results_floor, max_results if max_results is not None else 10))
    return _Paging(PageRequest(limit=limit, after=_decode_token(token) if token else None), legacy=False)


def _paged(page: Page, paging: _Paging, key: str, item: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"TotalCount": page.total, key: {item: items}}
    if paging.legacy:
        out.update(PageNumber=paging.page_number, PageSize=paging.page.limit)
    else:
        out.update(NextToken=encode_token(page.last_seq) if page.last_seq is not None else "")
    return out


def _tags(tags: Mapping[str, str]) -> dict[str, Any]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}


def _disk_wire(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "DiskId": d["disk_id"],
        "DiskName": d["name"],
        "Description": d["description"],
        "RegionId": d["region_id"],
        "ZoneId": d["zone_id"],
        "InstanceId": d["instance_id"] or "",
        "Device": d["device"],
        "Type": d["type"],
        "Category": d["category"],
        "Size": d["size"],
        "Status": d["status"],
        "Portable": d["portable"],
        "Encrypted": d["kms_key_id"] is not None,
        "KMSKeyId": d["kms_key_id"] or "",
        "MultiAttach": "Enabled" if d["volume_id"] else "Disabled",
        "CreationTime": d["creation_time"],
        "OperationLocks": {"OperationLock": [{"LockReason": "financial"}] if d["in_arrears"] else []},
        "Tags": _tags(d["tags"]),
    }


def _snapshot_wire(s: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "SnapshotId": s["snapshot_id"],
        "SnapshotName": s["name"],
        "Description": s["description"],
        "Status": s["status"],
        "Progress": f"{s['progress']}%",
        "Available": s["status"] == "accomplished" or s["instant_access"],
        "SourceDiskId": s["disk_id"],
        "SourceDiskType": s["source_disk_type"],
        "SourceDiskSize": str(s["source_disk_size"]),
        "CreationTime": s["creation_time"],
        "RetentionDays": s["retention_days"],
        "SnapshotType": s["snapshot_type"],
        "Category": s["category"],
        "InstantAccess": s["instant_access"],
        "InstantAccessRetentionDays": s["instant_access_retention_days"],
        "Usage": s["usage"],
        "Encrypted": s["kms_key_id"] is not None,
        "KMSKeyId": s["kms_key_id"] or "",
        "ResourceGroupId": s["resource_group_id"],
        "Tags": _tags(s["tags"]),
    }


def _instance_wire(i: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "InstanceId": i["instance_id"],
        "InstanceName": i["name"],
        "RegionId": i["region_id"],
        "ZoneId": i["zone_id"],
        "Status": i["status"],
        "CreationTime": i["creation_time"],
        "StartTime": i["start_time"],
        "OperationLocks": {"LockReason": [{"LockReason": r} for r in i["lock_reasons"]]},
        "Tags": _tags(i["tags"]),
    }


# --- the actions -------------------------------------------------------------------------------------


class Prepared:
    """A validated request: ``commit`` performs it (after any injected latency)."""

    def __init__(self, commit: Callable[[], dict[str, Any]], abort: Callable[[], None] | None = None) -> None:
        self.commit = commit
        self._abort = abort

    def abort(self) -> None:
        """Give up on a request that will not be committed (releases a ClientToken claim)."""
        if self._abort is not None:
            self._abort()


def _bool(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    value = {"true": True, "false": False}.get(raw.lower())
    if value is None:
        raise ApiError("InvalidParameter", f"{name} must be true or false")
    return value


class Actions:
    """Parses each API's parameters and binds them to the state."""

    def __init__(self, state: EcsState) -> None:
        self.state = state
        self._prepare: dict[str, Callable[[Mapping[str, str]], Prepared]] = {
            "CreateSnapshot": self._create_snapshot,
            "DeleteSnapshot": self._delete_snapshot,
            "DescribeDisks": self._describe_disks,
            "DescribeSnapshots": self._describe_snapshots,
            "DescribeInstances": self._describe_instances,
        }

    @property
    def names(self) -> frozenset[str]:
        """The supported actions."""
        return frozenset(self._prepare)

    def prepare(self, action: str, params: Mapping[str, str]) -> Prepared:
        """Validate and claim; raises ``ApiError`` (InvalidAction.NotFound for an unknown action)."""
        handler = self._prepare.get(action)
        if handler is None:
            raise ApiError("InvalidAction.NotFound", action)
        return handler(params)

    def _create_snapshot(self, params: Mapping[str, str]) -> Prepared:
        try:
            req = CreateSnapshotRequest.from_query(params)
        except InvalidRequest as exc:
            raise ApiError(exc.code, exc.message) from None
        ticket: CreateTicket = self.state.begin_create(req)
        return Prepared(
            lambda: {"SnapshotId": self.state.commit_create(ticket)},
            lambda: self.state.abort_create(ticket),
        )

    def _delete_snapshot(self, params: Mapping[str, str]) -> Prepared:
        snapshot_id = _required(params, "SnapshotId")
        force = _bool(params, "Force")

        def commit() -> dict[str, Any]:
            self.state.delete_snapshot(snapshot_id, force)
            return {}

        return Prepared(commit)

    def _describe_disks(self, params: Mapping[str, str]) -> Prepared:
        flt = DiskFilter(
            region_id=_required(params, "RegionId"),
            disk_ids=_json_ids(params, "DiskIds"),
            instance_id=params.get("InstanceId") or None,
            disk_type=_choice(params, "DiskType", frozenset({"system", "data"}), "all"),
            status=_choice(params, "Status", DISK_STATUSES, "All"),
            category=_choice(params, "Category", DISK_CATEGORIES, "all"),
            zone_id=params.get("ZoneId") or None,
            tags=_tag_filter(params),
        )
        paging = _paging(params, max_results_cap=500, max_results_floor=10)

        def commit() -> dict[str, Any]:
            page = self.state.describe_disks(flt, paging.page)
            return _paged(page, paging, "Disks", "Disk", [_disk_wire(d) for d in page.items])

        return Prepared(commit)

    def _describe_snapshots(self, params: Mapping[str, str]) -> Prepared:
        source_type = params.get("SourceDiskType")
        flt = SnapshotFilter(
            region_id=_required(params, "RegionId"),
            snapshot_ids=_json_ids(params, "SnapshotIds"),
            disk_id=params.get("DiskId") or None,
            instance_id=params.get("InstanceId") or None,
            status=_choice(params, "Status", frozenset({"progressing", "accomplished", "failed"}), "all"),
            snapshot_type=_choice(params, "SnapshotType", frozenset({"auto", "user"}), "all"),
            # The SDK documents SourceDiskType values as case-insensitive.
            source_disk_type=_choice(
                {"SourceDiskType": source_type.lower()} if source_type else {},
                "SourceDiskType",
                frozenset({"system", "data"}),
                "all",
            ),
            snapshot_name=params.get("SnapshotName") or None,
            usage=_choice(params, "Usage", SNAPSHOT_USAGES, ""),  # no "all" value is documented
            tags=_tag_filter(params),
        )
        paging = _paging(params, max_results_cap=100, max_results_floor=1)

        def commit() -> dict[str, Any]:
            page = self.state.describe_snapshots(flt, paging.page)
            return _paged(page, paging, "Snapshots", "Snapshot", [_snapshot_wire(s) for s in page.items])

        return Prepared(commit)

    def _describe_instances(self, params: Mapping[str, str]) -> Prepared:
        flt = InstanceFilter(
            region_id=_required(params, "RegionId"),
            instance_ids=_json_ids(params, "InstanceIds"),
            status=_choice(params, "Status", INSTANCE_STATUSES, "all"),
            tags=_tag_filter(params),
        )
        paging = _paging(params, max_results_cap=100, max_results_floor=10)

        def commit() -> dict[str, Any]:
            page = self.state.describe_instances(flt, paging.page)
            return _paged(page, paging, "Instances", "Instance", [_instance_wire(i) for i in page.items])

        return Prepared(commit)


def error_body(err: ApiError, request_id: str, host: str) -> bytes:
    """The JSON error document ECS answers with."""
    doc = {"RequestId": request_id, "HostId": host, "Code": err.code, "Message": err.message}
    return json.dumps(doc, separators=(",", ":")).encode()


def ok_body(result: Mapping[str, Any], request_id: str) -> bytes:
    """The JSON success document: the API's fields plus RequestId."""
    return json.dumps({"RequestId": request_id, **result}, separators=(",", ":")).encode()
