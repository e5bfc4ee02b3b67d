"""Snapshot names, descriptions and tags, rendered from a policy and checked against the contract.

Templates use plain ``{field}`` placeholders from a fixed set (``TEMPLATE_FIELDS``), with
``{{``/``}}`` for literal braces. An unknown field, a positional ``{}``, an attribute or index
(``{disk_id.x}``, ``{disk_id[0]}``), a conversion (``{disk_id!r}``), a format spec
(``{disk_id:>9}``) or an unbalanced brace is a policy error, found when the policy is loaded:
rendering a checked template cannot raise, so no invocation ever meets a KeyError. A rendering
that breaks a SnapshotName/Description rule is found at load time too (``model.Policy``).

Text that comes from events (a manifest's or an invoker's reason, an alarm's rule id, an object
key) is untrusted: ``clean_text`` bounds it and drops what could forge or hide content in a log
line or the console (control characters, newlines, bidi overrides, zero-width characters), and
``name_part`` reduces a value to what a SnapshotName accepts. ``build_intents`` applies both to
every trigger's reason and slot label, so no trigger can skip them.

Tags obey a documented priority within ECS's limit of 20:
1. provenance (``snapstack:policy``, ``snapstack:trigger``, ``snapstack:slot``,
   ``snapstack:stack``: the FC service name) — pruning and audits rely on them, so they always fit;
2. the policy's own tags;
3. the disk's tags, when ``copy_disk_tags`` is set: in key order, skipping ``acs:``/``aliyun``
   system tags (ECS refuses them) and keys already present, until 20; the rest are dropped and
   counted.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from snapstack.ecs.request import MAX_TAGS

PROVENANCE_KEYS = ("snapstack:policy", "snapstack:trigger", "snapstack:slot", "snapstack:stack")
#: The provenance tags retention reads: which policy, of which stack, made a snapshot.
POLICY_TAG, STACK_TAG = PROVENANCE_KEYS[0], PROVENANCE_KEYS[3]
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
#: Provenance tag values (keyed like ``PROVENANCE_KEYS`` without the prefix) for a policy's load-time check.
SAMPLE_PROVENANCE = {"policy": "sample", "trigger": "timer", "slot": "20261127T0000", "stack": "snapstack"}
#: Characters of event-supplied text (``{reason}``) a description may carry. ECS allows 256 in a
#: Description (seed: "2 to 256 characters"); a policy's own template text takes the rest, and
#: the policy is checked at load time with a reason this long and with none.
REASON_MAX = 100
#: Characters of a slot label (``{slot}``) inside a SnapshotName (128 at most, seed).
SLOT_LABEL_MAX = 40
# SnapshotName characters (seed: letters, digits, ':', '_', '-'); ASCII here, so a label reads the
# same in every console and log.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9:_-]+")


def clean_text(text: str, limit: int = REASON_MAX) -> str:
    """Untrusted text made fit for a snapshot description and a log line.

    Every Unicode control, format or unassigned character is dropped (``Cc``: NUL, ESC, DEL...;
    ``Cf``: the bidi overrides U+202A-U+202E and isolates U+2066-U+2069, zero-width characters;
    ``Cs``/``Co``/``Cn``), every run of whitespace including newlines and the line/paragraph
    separators U+2028/U+2029 becomes one space, and the result is stripped and cut to ``limit``
    characters. Letters of any script are kept.
    """
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif unicodedata.category(char)[0] != "C":
            kept.append(char)
    return " ".join("".join(kept).split())[:limit].rstrip()


def name_part(text: str, limit: int = SLOT_LABEL_MAX) -> str:
    """``text`` as a piece of a SnapshotName: only ``A-Z a-z 0-9 : _ -``, at most ``limit`` characters.

    Runs of other characters become one ``-`` (``web/1.4.2`` -> ``web-1-4-2``). A value that had
    to be cut, or that has nothing usable left, ends in 8 hex digits of its SHA-256 so that two
    long values that share a beginning still get different labels.
    """
    safe = _NAME_UNSAFE.sub("-", text).strip("-")
    if safe and len(safe) <= limit:
        return safe
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = safe[: max(0, limit - len(digest) - 1)].rstrip("-")
    return f"{head}-{digest}" if head else digest


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


def check_untrusted_fields(template: str, what: str) -> None:
    """Raise ValueError when event-supplied text could open the rendering.

    ECS refuses a name or description that starts with ``http://`` or ``https://`` (seed), and
    ``{reason}`` is whatever an event says, so it may not be the first thing in a template.
    """
    if template.lstrip().startswith("{reason"):
        raise ValueError(f"{what}: may not start with {{reason}}, which comes from events")


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
