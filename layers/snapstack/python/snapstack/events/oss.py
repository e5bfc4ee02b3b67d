"""OSS trigger: ``{"events": [{eventName, eventSource, eventTime, oss: {bucket, object}, ...}]}``.

Facts and the decisions taken where the platform is vague (sources in ``events/README.md``):

- ``eventName`` arrives without the ``oss:`` prefix the trigger config uses; if a prefix is
  present anyway it is dropped so filters compare one spelling.
- Only some events mean "this object now exists in full": ``FINAL_EVENT_NAMES`` (in the trigger
  config's ``oss:`` spelling). A multipart upload also sends InitiateMultipartUpload (before the
  object exists) and one UploadPart per part; AppendObject fires on every append of an object
  that keeps growing; PutSymlink creates no bytes (its target had its own event);
  ObjectRemoved/ObjectModified events are not uploads. ``OssRecord.is_final`` tells them apart.
- How ``object.key`` is encoded is not documented. Keys reach us either as stored (UTF-8) or
  form-encoded as S3 notifications do (space as ``+``, other bytes as ``%XX``), and the two
  readings disagree only on ``+`` and ``%XX``. ``OssRecord.key_candidates`` gives both, the
  form-decoded one first; a reader takes the first candidate whose object has the event's eTag,
  so ``a+b``, ``a b``, a literal ``%2B`` and non-ASCII keys all reach the object the event was for.
- ``eTag`` and ``size`` are required (the eTag identifies the object version); ``objectMeta``
  (FC 3.0 only), ``deltaSize`` and ``responseElements.requestId`` are optional.
- Nothing here is trusted: the bucket, region and key are checked against the function's
  configuration by the handler (``key_problem`` says why a key is not a plain object key).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, Node, decoding, preview

#: The OSS events that mean "this object now exists in full", spelled as a trigger's ``events``
#: list spells them (the event itself carries them without ``oss:``). Sources: events/README.md.
FINAL_EVENT_NAMES: tuple[str, ...] = (
    "oss:ObjectCreated:PutObject",
    "oss:ObjectCreated:PostObject",
    "oss:ObjectCreated:CopyObject",
    "oss:ObjectCreated:CompleteMultipartUpload",
)
#: An OSS object name is 1 to 1023 bytes of UTF-8 and cannot start with '/' or '\\'.
MAX_KEY_BYTES = 1023
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ObjectMeta(BaseModel):
    """FC 3.0 ``objectMeta``: the object's MIME type and its ``x-oss-meta-*`` user metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    mime_type: str | None = None
    user_meta: dict[str, str] = {}


class OssRecord(BaseModel):
    """One element of an OSS event's ``events`` list."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_name: str
    event_time: AwareDatetime
    region: str
    bucket_name: str
    bucket_arn: str
    object_key: str
    object_key_raw: str
    etag: str
    size: int
    delta_size: int | None = None
    request_id: str | None = None
    object_meta: ObjectMeta | None = None

    @property
    def dedupe_key(self) -> str:
        """Bucket + key + eTag: one version of one object."""
        return f"oss:{self.bucket_name}/{self.object_key}@{self.etag}"

    @property
    def is_final(self) -> bool:
        """Whether this event means the object now exists in full (``FINAL_EVENT_NAMES``)."""
        return f"oss:{self.event_name}" in FINAL_EVENT_NAMES

    @property
    def key_candidates(self) -> tuple[str, ...]:
        """The keys this event may name, most likely first: form-decoded, then as delivered."""
        return tuple(dict.fromkeys((self.object_key, self.object_key_raw)))


class OssEvent(BaseModel):
    """An OSS trigger event: one or more object records (normally one)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "oss"

    records: tuple[OssRecord, ...]

    @classmethod
    @decoding("oss")
    def from_json(cls, value: Any) -> OssEvent:
        """Decode the parsed JSON of an OSS event; raises EventDecodeError."""
        node = Node(cls.shape, ROOT, value)
        items = node.req_list("events")
        if not items:
            node.fail("must hold at least one record", "events")
        return cls(records=tuple(_record(item) for item in items))


def decode_key(raw: str) -> str:
    """The key read as form-encoded (``+`` is a space, ``%XX`` a byte of UTF-8).

    Text with no ``+`` and no escape is its own reading; escapes that do not spell UTF-8 mean the
    key is a literal name containing ``%`` and is returned as delivered.
    """
    if "+" not in raw and not _ESCAPE.search(raw):
        return raw
    try:
        return unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        return raw


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a plain object key, or None when it is.

    A plain key is 1-1023 bytes of UTF-8 (OSS's limit), does not start with ``/`` or ``\\``,
    holds no control character and no ``.``/``..`` or empty path segment (an HTTP client may
    fold those into another path, i.e. another object or bucket).
    """
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "must be valid UTF-8"
    if not 1 <= size <= MAX_KEY_BYTES:
        return f"must be 1 to {MAX_KEY_BYTES} bytes (got {size})"
    if key.startswith(("/", "\\")):
        return "must not start with '/' or '\\'"
    if _CONTROL.search(key):
        return "must not contain control characters"
    segments = key.split("/")
    if any(s in (".", "..") for s in segments) or "" in segments[:-1]:
        return "must not contain '.', '..' or empty path segments"
    return None


def _meta(node: Node | None) -> ObjectMeta | None:
    if node is None:
        return None
    user = node.opt_obj("userMeta")
    return ObjectMeta(mime_type=node.opt_str("mimeType"), user_meta=user.str_dict() if user else {})


def _record(item: Node) -> OssRecord:
    source = item.opt_str("eventSource")
    if source is not None and source != "acs:oss":
        item.fail(f"must be 'acs:oss' (got {preview(source)})", "eventSource")
    name = item.req_str("eventName")
    oss = item.req_obj("oss")
    bucket = oss.req_obj("bucket")
    obj = oss.req_obj("object")
    arn = bucket.req_str("arn")
    if not arn.startswith("acs:oss:"):
        bucket.fail("must be an OSS ARN acs:oss:<region>:<uid>:<bucket>", "arn")
    key = obj.req_str("key")
    response = item.opt_obj("responseElements")
    return OssRecord(
        event_name=name.removeprefix("oss:"),
        event_time=item.time("eventTime"),
        region=item.req_str("region"),
        bucket_name=bucket.req_str("name"),
        bucket_arn=arn,
        object_key=decode_key(key),
        object_key_raw=key,
        etag=obj.req_str("eTag", allow_empty=True),
        size=obj.req_int("size", minimum=0),
        delta_size=obj.opt_int("deltaSize"),
        request_id=response.opt_str("requestId") if response else None,
        object_meta=_meta(obj.opt_obj("objectMeta")),
    )
