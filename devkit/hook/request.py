"""What ``snapstack hook`` asks deploy_hook for: the direct-invoke payload and its invocation id.

The payload is TEAM.md's D4 contract: ``{"deploy_id", "reason", "instance_ids", "disk_ids",
"disk_tags"}``, ``deploy_id`` required and at least one target kind; a kind the command line does
not name is left out. deploy_hook validates it and narrows it to its policy's allow-list; this
module only refuses what cannot be sent at all.

The stateful async invocation id is derived from the deploy id and the targets (not the reason,
free text that a re-run may change): a re-run CI job submits the same id, which FC refuses as a
duplicate, so the same request is never queued twice. Another target set for the same deploy id
is another invocation; deploy_hook's slots (deploy id + disk) still keep each disk to one snapshot.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from devkit.fc.models import INVOCATION_ID

#: FC refuses a bigger async payload (128 KB, FACTS.md section 5).
ASYNC_PAYLOAD_LIMIT = 128 * 1024
_PREFIX = "snapstack-"
_SLUG_DROP = re.compile(r"[^A-Za-z0-9_-]+")
_SLUG_MAX = 80  # prefix 10 + slug 80 + "-" + digest 16 = 107 <= 128


class UsageError(ValueError):
    """The command line asks for something that cannot be sent; the message says what and why."""


@dataclass(frozen=True)
class HookRequest:
    """One deploy's snapshot request, as the command line gave it (duplicates dropped)."""

    deploy_id: str
    reason: str
    instance_ids: tuple[str, ...] = ()
    disk_ids: tuple[str, ...] = ()
    disk_tags: tuple[tuple[str, str], ...] = ()

    def payload(self) -> dict[str, Any]:
        """The D4 payload, with only the target kinds asked for."""
        out: dict[str, Any] = {"deploy_id": self.deploy_id, "reason": self.reason}
        if self.instance_ids:
            out["instance_ids"] = list(self.instance_ids)
        if self.disk_ids:
            out["disk_ids"] = list(self.disk_ids)
        if self.disk_tags:
            out["disk_tags"] = dict(self.disk_tags)
        return out

    def body(self) -> bytes:
        """The payload as the event bytes deploy_hook receives."""
        return json.dumps(self.payload(), ensure_ascii=False, separators=(",", ":")).encode()

    def invocation_id(self) -> str:
        """``snapstack-<readable deploy id>-<16 hex digits>``: the same for the same deploy and targets.

        The digest covers the exact deploy id and the sorted targets, so two deploy ids that read
        the same once reduced to FC's alphabet still get different ids.
        """
        identity = {
            "deploy_id": self.deploy_id,
            "instance_ids": sorted(self.instance_ids),
            "disk_ids": sorted(self.disk_ids),
            "disk_tags": sorted(self.disk_tags),
        }
        canonical = json.dumps(identity, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        slug = _SLUG_DROP.sub("-", self.deploy_id).strip("-")[:_SLUG_MAX].rstrip("-")
        return f"{_PREFIX}{slug}-{digest}" if slug else f"{_PREFIX}{digest}"


def parse_tag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key, value); the key must not be empty."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--tag {text!r}: expected KEY=VALUE")
    return key.strip(), value


def _unique(values: Iterable[str], option: str) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if not value.strip():
            raise UsageError(f"{option}: an empty id")
        if value.strip() not in out:
            out.append(value.strip())
    return tuple(out)


def build_request(
    deploy_id: str,
    reason: str,
    *,
    instances: Iterable[str] = (),
    disks: Iterable[str] = (),
    tags: Iterable[str] = (),
) -> HookRequest:
    """The request the command line describes; ``UsageError`` when it cannot be sent."""
    if not deploy_id.strip():
        raise UsageError("--deploy-id: must not be empty")
    tag_pairs: dict[str, str] = {}
    for key, value in (parse_tag(t) for t in tags):
        if tag_pairs.get(key, value) != value:
            raise UsageError(f"--tag {key}: given twice with different values")
        tag_pairs[key] = value
    request = HookRequest(
        deploy_id=deploy_id.strip(),
        reason=reason,
        instance_ids=_unique(instances, "--instance"),
        disk_ids=_unique(disks, "--disk"),
        disk_tags=tuple(tag_pairs.items()),
    )
    if not (request.instance_ids or request.disk_ids or request.disk_tags):
        raise UsageError("name at least one target: --instance ID, --disk ID or --tag KEY=VALUE")
    if len(request.body()) > ASYNC_PAYLOAD_LIMIT:
        raise UsageError(
            f"the request is {len(request.body())} bytes; FC takes at most {ASYNC_PAYLOAD_LIMIT}"
        )
    return request


def check_invocation_id(value: str) -> str:
    """An invocation id given on the command line, checked against FC's rule."""
    if not INVOCATION_ID.match(value):
        raise UsageError(
            f"--invocation-id {value!r}: FC takes letters, digits, _ and -, starting with a letter or _, "
            "at most 128 characters"
        )
    return value
