"""MNS topic trigger: the four shapes FC delivers.

- ``stream``: STREAM format, no message attributes: the raw message body bytes.
- ``stream_attrs``: STREAM format with attributes: ``{"body": "...", "attrs": {"Extend": "<json>"}}``.
- ``json``: JSON format: ``{TopicOwner, Message, Subscriber, PublishTime (ms), SubscriptionName,
  MessageMD5, TopicName, MessageId}``.
- ``json_attrs``: the JSON object plus the attribute key/values merged at its top level.

Decisions:
- An object is the JSON form when it has at least two of the eight MNS keys, and the
  ``stream_attrs`` form when it has ``attrs`` and nothing but ``body``/``attrs``. Anything else
  an MNS trigger delivers (other JSON included) is a STREAM body: the publisher's own bytes.
- A STREAM body is text when it is UTF-8; otherwise it is kept as base64 with ``body_base64``.
- ``attributes``: for ``stream_attrs`` the ``attrs`` object with its ``Extend`` JSON string
  parsed and merged in (so both attribute forms read alike); for ``json_attrs`` the top-level
  keys beyond the eight MNS keys.
- ``MessageMD5`` is checked when present. It is the MD5 of the message body; whether MNS hashes
  the body as delivered or, for base64-publishing SDKs, the decoded bytes is not documented [?],
  so either match is accepted. A mismatch means a corrupted message and is an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, Node, decoding, epoch_time, load_json, preview
from snapstack.events.shapes import MNS_JSON_KEYS, is_mns_json, is_stream_attrs

_HEX32 = re.compile(r"[0-9A-Fa-f]{32}", re.ASCII)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", re.ASCII)


def base64_bytes(text: str) -> bytes | None:
    """The bytes a strict, padded base64 string encodes, or None when it is not base64."""
    if not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


class MnsMessage(BaseModel):
    """One message pushed by an MNS topic trigger, in any of its four forms."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "mns"

    form: Literal["stream", "stream_attrs", "json", "json_attrs"]
    message_id: str | None = None
    body: str
    body_base64: bool = False
    attributes: dict[str, Any] = {}
    topic: str | None = None
    publish_time: AwareDatetime | None = None

    @property
    def dedupe_key(self) -> str | None:
        """The MessageId (JSON forms); STREAM forms carry no id, so None."""
        return None if self.message_id is None else f"mns:{self.message_id}"

    @classmethod
    def from_stream(cls, raw: bytes | str) -> MnsMessage:
        """A STREAM body without attributes: the bytes as text, or base64 when not UTF-8."""
        if isinstance(raw, str):
            return cls(form="stream", body=raw)
        try:
            return cls(form="stream", body=raw.decode("utf-8"))
        except UnicodeDecodeError:
            return cls(form="stream", body=base64.b64encode(raw).decode("ascii"), body_base64=True)

    @classmethod
    @decoding("mns")
    def from_json(cls, value: Any) -> MnsMessage:
        """Decode a JSON-format or STREAM-with-attributes object; raises EventDecodeError."""
        node = Node(cls.shape, ROOT, value)
        obj = node.obj()
        if is_stream_attrs(obj):
            return cls(
                form="stream_attrs",
                body=node.req_str("body", allow_empty=True),
                attributes=_stream_attributes(node.req_obj("attrs")),
            )
        if not is_mns_json(obj):
            node.fail("is neither the MNS JSON form nor the STREAM-with-attributes form")
        message = node.req_str("Message", allow_empty=True)
        md5 = node.opt_str("MessageMD5")
        if md5 is not None:
            _check_md5(node, message, md5)
        for key in ("TopicOwner", "Subscriber", "SubscriptionName"):
            node.opt_str(key)  # not kept, but a wrong type still marks a malformed notification
        extra = {key: obj[key] for key in obj if key not in MNS_JSON_KEYS}
        return cls(
            form="json_attrs" if extra else "json",
            message_id=node.req_str("MessageId"),
            body=message,
            attributes=extra,
            topic=node.req_str("TopicName"),
            publish_time=epoch_time(
                node.req_int("PublishTime"), cls.shape, node.at("PublishTime"), unit="ms"
            ),
        )


def _stream_attributes(attrs: Node) -> dict[str, Any]:
    merged = {key: value for key, value in attrs.obj().items() if key != "Extend"}
    extend = attrs.opt_child("Extend")
    if extend is not None:
        parsed = load_json(extend.text(allow_empty=False), attrs.shape, extend.path)
        if not isinstance(parsed, dict):
            extend.fail("must be a JSON object encoded as a string")
        merged.update(parsed)
    return merged


def _check_md5(node: Node, message: str, md5: str) -> None:
    if not _HEX32.fullmatch(md5):
        node.fail(f"must be 32 hexadecimal digits (got {preview(md5)})", "MessageMD5")
    # surrogatepass: a lone surrogate from a JSON escape cannot be UTF-8; it hashes to a mismatch.
    candidates = [message.encode("utf-8", "surrogatepass")]
    decoded = base64_bytes(message)
    if decoded is not None:
        candidates.append(decoded)
    digests = [hashlib.md5(data, usedforsecurity=False).hexdigest() for data in candidates]
    if md5.lower() not in digests:
        node.fail(
            f"{md5} is not the MD5 of Message (computed {digests[0].upper()}): the message is corrupted",
            "MessageMD5",
        )
