"""FC's log entries and the fields an SLS index makes searchable in them.

FC writes each line a function prints to the service's log store as one entry: the line is the
``message`` field, next to ``functionName``, ``serviceName``, ``qualifier``, ``versionId`` and
``__topic__`` (https://www.alibabacloud.com/help/doc-detail/171396.htm).

``Index.from_resource`` reads an ``ALIYUN::SLS::Index`` resource's properties
(https://www.alibabacloud.com/help/en/ros/developer-reference/aliyun-sls-index). A ``json`` key
indexes the leaves of the JSON object in its value, each by its path (``message.outcome``) and its
own type; a field whose value is a JSON array is not indexed, and neither is a leaf whose value
does not fit its ``long``/``double`` type (https://www.alibabacloud.com/help/tc/sls/data-types).
Every sub-key tokenises with its key's delimiters and case rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Key types an index may give (the ROS schema's allowed values for KeyIndices.Type).
TEXT, LONG, DOUBLE, JSON = "text", "long", "double", "json"


class IndexSpecError(ValueError):
    """The index resource holds something this reader does not model."""


@dataclass(frozen=True)
class Key:
    """One searchable field: its path, type, tokenising rule and whether SQL may use it."""

    name: str
    type: str
    analytics: bool
    delimiter: str
    case_sensitive: bool


@dataclass(frozen=True)
class Index:
    """The searchable fields of a log store: path (``message.outcome``) -> ``Key``."""

    keys: Mapping[str, Key]

    @classmethod
    def from_resource(cls, properties: Mapping[str, Any]) -> Index:
        """The index an ``ALIYUN::SLS::Index`` resource's ``Properties`` define (ROS key names)."""
        keys: dict[str, Key] = {}
        for spec in properties.get("KeyIndices") or []:
            kind = spec["Type"]
            if kind not in (TEXT, LONG, DOUBLE, JSON):
                raise IndexSpecError(f"key {spec['Name']}: type {kind!r} is not modelled")
            delimiter = str(spec.get("Delimiter", ""))
            case = bool(spec.get("CaseSensitive", False))
            keys[spec["Name"]] = Key(spec["Name"], kind, bool(spec.get("EnableAnalytics")), delimiter, case)
            for sub in spec.get("JsonKeyIndices") or []:
                if kind != JSON:
                    raise IndexSpecError(f"key {spec['Name']}: JsonKeyIndices on a {kind} key")
                path = f"{spec['Name']}.{sub['Name']}"
                keys[path] = Key(path, sub["Type"], bool(sub.get("EnableAnalytics")), delimiter, case)
        return cls(keys)

    def fields(self, entry: Mapping[str, str]) -> dict[str, str | float]:
        """The indexed values of one log entry: path -> text or number (absent: not searchable)."""
        found: dict[str, str | float] = {}
        for name, raw in entry.items():
            key = self.keys.get(name)
            if key is None:
                continue
            if key.type != JSON:
                value = _typed(raw, key.type)
                if value is not None:
                    found[name] = value
                continue
            try:
                document = json.loads(raw)
            except ValueError:
                continue  # not JSON (FC's own start/end lines): no sub-key of it is searchable
            for path, leaf in _leaves(document, name):
                sub = self.keys.get(path)
                if sub is not None:
                    value = _typed(leaf, sub.type)
                    if value is not None:
                        found[path] = value
        return found


def _leaves(node: Any, prefix: str) -> list[tuple[str, Any]]:
    if not isinstance(node, dict):
        return []
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        path = f"{prefix}.{key}"
        if isinstance(value, dict):
            out.extend(_leaves(value, path))
        elif not isinstance(value, list) and value is not None:
            out.append((path, value))
    return out


def _typed(value: Any, kind: str) -> str | float | None:
    if kind == TEXT:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number: float = value
    else:
        try:
            number = float(str(value))
        except ValueError:
            return None
    if kind == LONG and number != int(number):
        return None
    return number


def fc_entries(stdout: str, *, function: str, service: str) -> list[dict[str, str]]:
    """The log entries FC writes for a function's stdout: one per non-empty line."""
    return [
        {
            "message": line,
            "functionName": function,
            "serviceName": service,
            "qualifier": "LATEST",
            "__topic__": service,
        }
        for line in stdout.splitlines()
        if line.strip()
    ]
