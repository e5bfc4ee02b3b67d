"""Deploy manifests: untrusted JSON from a deploy bucket, read size-capped and validated strictly.

A manifest may name targets, a reason and the deploy it belongs to, nothing else: names,
retention and tags always come from the function's policy, and the targets are still cut down
to the policy's allow-list. The object is read from the configured OSS endpoint only
(``config.oss_endpoint``), with the function's own credentials, under one of the keys the event
may mean (``OssRecord.key_candidates``): the first whose object carries the event's eTag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from snapstack.config import ConfigError
from snapstack.ecs.credentials import resolve_credentials
from snapstack.events.deploy import DeployTargets, check_deploy_id
from snapstack.handlers.runtime import BadInput, DependencyUnavailable
from snapstack.jsoninput import JsonInputError, parse_json_model

if TYPE_CHECKING:
    from snapstack.config import ManifestSettings, OssEndpoint
    from snapstack.events.oss import OssRecord
    from snapstack.handlers.runtime import Runtime


class Manifest(DeployTargets):
    """What a deploy manifest may say: the targets, a reason and (optionally) the deploy id.

    Without ``deploy_id`` the release is named by the key rule that matches the manifest's key,
    else by the manifest object itself (key + eTag).
    """

    deploy_id: str | None = None

    @field_validator("deploy_id")
    @classmethod
    def _deploy_id(cls, value: str | None) -> str | None:
        return None if value is None else check_deploy_id(value)


@dataclass(frozen=True)
class FoundManifest:
    """A manifest, and the key its object was found under."""

    manifest: Manifest
    key: str


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Validate manifest bytes; ``BadInput`` names the field and the rule."""
    try:
        return parse_json_model(Manifest, data)
    except JsonInputError as exc:
        raise BadInput(where, exc.field, exc.rule) from None


def open_bucket(endpoint: OssEndpoint, bucket_name: str, runtime: Runtime) -> Any:
    """An ``oss2.Bucket`` on the configured endpoint, signed with the invocation's credentials.

    The one place an OSS client is built. ``is_path_style`` is passed only when asked for: FC's
    python3.10 image preinstalls oss2 2.16.0, which lacks that argument (and already uses path
    style for an IP or ``localhost`` endpoint, as every oss2 does).
    """
    import oss2

    creds = resolve_credentials(runtime.invocation.context)
    auth = (
        oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
        if creds.security_token
        else oss2.Auth(creds.access_key_id, creds.access_key_secret)
    )
    if not endpoint.path_style:
        return oss2.Bucket(auth, endpoint.url, bucket_name)
    try:
        return oss2.Bucket(auth, endpoint.url, bucket_name, is_path_style=True)
    except TypeError:
        version = getattr(oss2, "__version__", "?")
        raise ConfigError(
            "environment", "SNAPSTACK_OSS_PATH_STYLE", f"oss2 {version} cannot address buckets path-style"
        ) from None


def read_manifest(
    record: OssRecord, settings: ManifestSettings, endpoint: OssEndpoint, runtime: Runtime
) -> FoundManifest | None:
    """Fetch and validate the manifest object the event names.

    Returns None when the object exists but no longer has the event's eTag (overwritten since:
    the newer upload's own event handles it). An object found under none of the candidate keys
    is not readable yet while the event is younger than ``missing_grace_seconds``
    (``DependencyUnavailable``: FC delivers the event again), and missing after that
    (``BadInput`` naming every key tried). Other OSS failures are ``DependencyUnavailable``.
    """
    import oss2

    where = f"manifest oss://{record.bucket_name}/{record.object_key_raw}"
    if record.size > settings.max_bytes:
        raise BadInput(where, "size", f"{record.size} bytes is over the {settings.max_bytes}-byte limit")
    bucket = open_bucket(endpoint, record.bucket_name, runtime)
    changed = False
    for key in record.key_candidates:
        try:
            obj = bucket.get_object(key)
            data = obj.read(settings.max_bytes + 1)
        except oss2.exceptions.NoSuchKey:
            continue
        except oss2.exceptions.OssError as exc:  # network, auth, 5xx: not the event's fault
            detail = exc.details.get("details") or exc.message or type(exc).__name__
            raise DependencyUnavailable(f"OSS.{exc.code or 'RequestError'}", f"{where}: {detail}") from None
        if _etag(obj.etag) != _etag(record.etag):
            changed = True  # another object under this reading of the key, or a newer version
            continue
        if len(data) > settings.max_bytes:
            raise BadInput(where, "size", f"over the {settings.max_bytes}-byte limit")
        return FoundManifest(parse_manifest(data, where), key)
    if changed:
        return None
    tried = ", ".join(repr(k) for k in record.key_candidates)
    age = (datetime.now(timezone.utc) - record.event_time).total_seconds()
    if age <= settings.missing_grace_seconds:
        raise DependencyUnavailable(
            "OSS.NoSuchKey", f"{where}: not readable yet under {tried}; FC will deliver the event again"
        )
    raise BadInput(where, "key", f"no object under the key(s) tried: {tried} ({age:.0f} s after the event)")


def _etag(value: str | None) -> str:
    return (value or "").strip('"').lower()
