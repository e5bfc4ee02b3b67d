"""Snapshot names, descriptions and tags, rendered from a policy and checked against the contract.

Templates use plain ``{field}`` placeholders from a fixed set (``TEMPLATE_FIELDS``), with
``{{``/``}}`` for literal braces. An unknown field, a positional ``{}``, an attribute or index
(``{disk_id.x}``, ``{disk_id[0]}``), a conversion (``{disk_id!r}``), a format spec
(``{disk_id:>9}``) or an unbalanced brace is a policy error, found when the policy is loaded:
rendering a checked template cannot raise, so no invocation ever meets a KeyError. A rendering
that breaks a SnapshotName/Description rule is found at load time too (``model.Policy``).

Tags obey a documented priority within ECS's limit of 20:
1. provenance (``snapstack:policy``, ``snapstack:trigger``, ``snapstack:slot``) — pruning and
   audits rely on them, so they always fit;
2. the policy's own tags;
3. the disk's tags, when ``copy_disk_tags`` is set: in key order, skipping ``acs:``/``aliyun``
   system tags (ECS refuses them) and keys already present, until 20; the rest are dropped and
   counted.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from snapstack.ecs.request import MAX_TAGS

PROVENANCE_KEYS = ("snapstack:policy", "snapstack:trigger", "snapstack:slot")
TEMPLATE_FIELDS = frozenset({"policy", "trigger", "disk_id", "instance_id", "slot", "date", "reason"})
SAMPLE_VALUES = {
    "policy": "sample",
    "trigger": "timer",
    "disk_id": "d-bp1sample0000000000",
    "instance_id": "i-bp1sample0000000000",
    "slot": "20261127T0000",
    "date": "20261127",
    "reason": "sample reason",
}


def check_template(template: str, what: str) -> None:
    """Raise ValueError naming ``what`` unless every placeholder is a plain ``{field}`` from
    ``TEMPLATE_FIELDS`` (see the module docstring)."""
    allowed = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone "{" or "}"
        raise ValueError(f"{what}: {exc} (write {{{{ or }}}} for a literal brace)") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in TEMPLATE_FIELDS:
            raise ValueError(f"{what}: unknown placeholder {shown}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(
                f"{what}: placeholder {shown} takes no conversion or format spec; write {{{name}}}"
            )


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill a template (fields already checked)."""
    return template.format_map(dict(values))


@dataclass(frozen=True)
class TagSet:
    """The tags for one snapshot, and how many copied disk tags did not fit."""

    tags: tuple[tuple[str, str], ...]
    dropped: int


def build_tags(
    provenance: Mapping[str, str],
    configured: Mapping[str, str],
    disk_tags: Mapping[str, str],
) -> TagSet:
    """Merge the three tag sources by priority (see the module docstring)."""
    merged: dict[str, str] = dict(provenance)
    for key, value in configured.items():
        merged.setdefault(key, value)
    dropped = 0
    for key in sorted(disk_tags):
        if key in merged or key.startswith(("acs:", "aliyun")):
            continue
        if len(merged) >= MAX_TAGS:
            dropped += 1
            continue
        merged[key] = disk_tags[key]
    return TagSet(tuple(merged.items()), dropped)
