"""OSS trigger: ``{"events": [{eventName, eventSource, eventTime, oss: {bucket, object}, ...}]}``.

Decisions where the platform is vague:
- ``eventName`` arrives without the ``oss:`` prefix the trigger config uses; if a prefix is
  present anyway it is dropped so filters compare one spelling.
- The object key may be URL-encoded for unusual names [?]. A key containing ``%XX`` escapes
  that decode to valid UTF-8 is decoded (``object_key``); the key as delivered is kept in
  ``object_key_raw``. ``+`` is left alone: it is a legal, common character in object names.
- ``eTag`` and ``size`` are required (the dedupe key is bucket + key + eTag); ``objectMeta``
  (FC 3.0 only), ``deltaSize`` and ``responseElements.requestId`` are optional.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import unquote

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, Node, decoding, preview

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


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


def _decode_key(raw: str) -> str:
    if not _ESCAPE.search(raw):
        return raw
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        # Escapes that do not spell UTF-8: the key is a literal name containing '%'.
        return raw


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
        object_key=_decode_key(key),
        object_key_raw=key,
        etag=obj.req_str("eTag", allow_empty=True),
        size=obj.req_int("size", minimum=0),
        delta_size=obj.opt_int("deltaSize"),
        request_id=response.opt_str("requestId") if response else None,
        object_meta=_meta(obj.opt_obj("objectMeta")),
    )
