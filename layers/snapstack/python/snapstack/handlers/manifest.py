"""Deploy manifests: untrusted JSON from a bucket, read size-capped and validated strictly.

A manifest may name targets and a reason, nothing else: names, retention and tags always come
from the function's policy, and the targets are still cut down to the policy's allow-list.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snapstack.ecs.credentials import resolve_credentials
from snapstack.handlers.runtime import BadInput, DependencyUnavailable
from snapstack.jsoninput import JsonInputError, parse_json_model
from snapstack.policy.model import Selector

if TYPE_CHECKING:
    from snapstack.config import ManifestSettings
    from snapstack.events.oss import OssRecord
    from snapstack.handlers.runtime import Runtime

_INSTANCE_ID = r"^i-[A-Za-z0-9-]{1,64}$"
_DISK_ID = r"^d-[A-Za-z0-9-]{1,64}$"
_REASON_DROP = re.compile(r"[^A-Za-z0-9 _.,:()-]")


class Manifest(BaseModel):
    """What a deploy manifest may say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_ids: tuple[str, ...] = Field(default=(), max_length=100)
    disk_ids: tuple[str, ...] = Field(default=(), max_length=100)
    disk_tags: dict[str, str] = Field(default_factory=dict, max_length=10)
    reason: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _ids_and_targets(self) -> Manifest:
        bad = [i for i in self.instance_ids if not re.match(_INSTANCE_ID, i)]
        bad += [d for d in self.disk_ids if not re.match(_DISK_ID, d)]
        if bad:
            raise ValueError(f"not instance (i-...) or disk (d-...) ids: {bad[:5]}")
        if not (self.instance_ids or self.disk_ids or self.disk_tags):
            raise ValueError("names no instance_ids, disk_ids or disk_tags")
        return self

    def selectors(self) -> list[Selector]:
        """The targets asked for, one selector per kind: a manifest means their union."""
        out = []
        if self.instance_ids:
            out.append(Selector(instance_ids=self.instance_ids))
        if self.disk_ids:
            out.append(Selector(disk_ids=self.disk_ids))
        if self.disk_tags:
            out.append(Selector(disk_tags=self.disk_tags))
        return out

    def safe_reason(self) -> str:
        """The reason reduced to characters a snapshot description accepts."""
        return _REASON_DROP.sub("", self.reason).strip()[:100]


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Validate manifest bytes; ``BadInput`` names the field and the rule."""
    try:
        return parse_json_model(Manifest, data)
    except JsonInputError as exc:
        raise BadInput(where, exc.field, exc.rule) from None


def read_manifest(record: OssRecord, settings: ManifestSettings, runtime: Runtime) -> Manifest | None:
    """Fetch and validate the manifest object; None when the object changed since the event."""
    where = f"manifest oss://{record.bucket_name}/{record.object_key}"
    if record.size > settings.max_bytes:
        raise BadInput(where, "size", f"{record.size} bytes is over the {settings.max_bytes}-byte limit")
    import oss2

    creds = resolve_credentials(runtime.invocation.context)
    auth = (
        oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
        if creds.security_token
        else oss2.Auth(creds.access_key_id, creds.access_key_secret)
    )
    region = record.region or runtime.invocation.region
    endpoint = os.environ.get("SNAPSTACK_OSS_ENDPOINT") or f"https://oss-{region}-internal.aliyuncs.com"
    # FC's preinstalled oss2 2.16.0 has no is_path_style (TypeError), so it is passed only when
    # asked for; every oss2 version addresses an IP or localhost endpoint path-style anyway.
    path_style = os.environ.get("SNAPSTACK_OSS_PATH_STYLE", "").lower() == "true"
    style = {"is_path_style": True} if path_style else {}
    bucket = oss2.Bucket(auth, endpoint, record.bucket_name, **style)
    try:
        obj = bucket.get_object(record.object_key)
        if _etag(obj.etag) != _etag(record.etag):
            return None  # overwritten since this event: the newer upload's own event handles it
        data = obj.read(settings.max_bytes + 1)
    except oss2.exceptions.NoSuchKey:
        raise BadInput(where, "key", "the object no longer exists") from None
    except oss2.exceptions.OssError as exc:  # network, auth, 5xx: not the event's fault
        detail = exc.details.get("details") or exc.message or type(exc).__name__
        raise DependencyUnavailable(f"OSS.{exc.code or 'RequestError'}", f"{where}: {detail}") from None
    if len(data) > settings.max_bytes:
        raise BadInput(where, "size", f"over the {settings.max_bytes}-byte limit")
    return parse_manifest(data, where)


def _etag(value: str | None) -> str:
    return (value or "").strip('"').lower()
