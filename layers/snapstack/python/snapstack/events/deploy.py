"""The deploy request: what a CI job (or ``snapstack hook``) sends ``deploy_hook`` directly.

This model is the reference for the direct-invoke payload of decision D4. The payload is one
JSON object, the event bytes FC hands the function::

    {
      "deploy_id": "web-1.4.2-build-7",        required: names the release (see below)
      "reason": "pre-deploy of web 1.4.2",     optional, free text (cleaned, cut to 100 characters)
      "instance_ids": ["i-web-01"],            targets: at least one of the three kinds;
      "disk_ids": ["d-web-01-data"],           a request means their union
      "disk_tags": {"app": "web"}
    }

Rules an invoker cannot get around:

- The targets only *narrow* the function's allow-list (its policy's selector): a disk outside it
  ends ``denied`` with no ECS call, exactly as for a deploy manifest.
- Snapshot names, description template, retention and tags come from the policy alone. Any key
  not listed above (``retention_days``, ``tags``, ``snapshot_name``, ``policy``...) is an error,
  never silently ignored.
- One snapshot per disk per ``deploy_id``: the slot is deploy id + disk (decision D4), shared with
  manifests and key rules that name the same deploy. Sending the same request again (a CI re-run,
  an FC async retry) snapshots nothing new; a new ``deploy_id`` is a new release and snapshots
  again, even when nothing else changed.

``deploy_id``: 1 to 128 printable ASCII characters, no spaces (a git SHA, ``web-1.4.2``, a CI run
id, ``releases/web/1.4.2``). ``reason``: at most 500 characters as sent. Ids: ``i-...``/``d-...``,
at most 100 of each; ``disk_tags``: at most 10 pairs, keys 1-128 and values 0-128 characters.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from snapstack.events._wire import ROOT, Node, decoding
from snapstack.policy.model import Selector

DEPLOY_ID = re.compile(r"[\x21-\x7e]{1,128}")
_INSTANCE_ID = re.compile(r"i-[A-Za-z0-9-]{1,64}")
_DISK_ID = re.compile(r"d-[A-Za-z0-9-]{1,64}")


class DeployTargets(BaseModel):
    """The targets a deploy may name (a request or a manifest): instances, disks, disk tags."""

    # Lax on purpose: JSON arrays become tuples; pydantic v2 still refuses a number for a string.
    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_ids: tuple[str, ...] = Field(default=(), max_length=100)
    disk_ids: tuple[str, ...] = Field(default=(), max_length=100)
    disk_tags: dict[str, str] = Field(default_factory=dict, max_length=10)
    reason: str = Field(default="", max_length=500)

    @field_validator("disk_tags")
    @classmethod
    def _tag_sizes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k, v in value.items() if not 1 <= len(k) <= 128 or len(v) > 128]
        if bad:
            raise ValueError(f"tag keys must be 1-128 and values at most 128 characters: {bad[:3]}")
        return value

    @model_validator(mode="after")
    def _ids_and_targets(self) -> DeployTargets:
        bad = [i for i in self.instance_ids if not _INSTANCE_ID.fullmatch(i)]
        bad += [d for d in self.disk_ids if not _DISK_ID.fullmatch(d)]
        if bad:
            raise ValueError(f"not instance (i-...) or disk (d-...) ids: {bad[:5]}")
        if not (self.instance_ids or self.disk_ids or self.disk_tags):
            raise ValueError("names no instance_ids, disk_ids or disk_tags")
        return self

    def selectors(self) -> list[Selector]:
        """The targets asked for, one selector per kind: a deploy means their union."""
        out = []
        if self.instance_ids:
            out.append(Selector(instance_ids=self.instance_ids))
        if self.disk_ids:
            out.append(Selector(disk_ids=self.disk_ids))
        if self.disk_tags:
            out.append(Selector(disk_tags=self.disk_tags))
        return out


def check_deploy_id(value: str) -> str:
    """``value`` when it is a valid deploy id, else ValueError naming the rule."""
    if not DEPLOY_ID.fullmatch(value):
        raise ValueError("must be 1 to 128 printable ASCII characters without spaces")
    return value


class DeployRequest(DeployTargets):
    """The direct-invoke payload of ``deploy_hook`` (decision D4); see the module docstring."""

    shape: ClassVar[str] = "deploy"

    deploy_id: str

    @field_validator("deploy_id")
    @classmethod
    def _deploy_id(cls, value: str) -> str:
        return check_deploy_id(value)

    @classmethod
    @decoding("deploy")
    def from_json(cls, value: Any) -> DeployRequest:
        """Decode the parsed JSON of a deploy request; raises EventDecodeError."""
        Node(cls.shape, ROOT, value).obj()
        return cls.model_validate(value)
