"""EventDecodeError: the one exception the event decoders raise.

A trigger event that cannot be decoded is a fact about the input, not a bug in the handler, so
every failure (bad JSON, bad UTF-8, a missing or mistyped field, an unparseable time, a corrupt
MNS body) is reported the same way: which shape we took the event for, which field was wrong
and what rule it broke.
"""

from __future__ import annotations

_MAX_PART = 300


def _one_line(text: str) -> str:
    # The message ends up in a single structured log line: no raw newlines, bounded length.
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= _MAX_PART else flat[: _MAX_PART - 3] + "..."


class EventDecodeError(Exception):
    """An event could not be decoded into a trigger model.

    Attributes:
        shape: the shape the event was taken for (``"timer"``, ``"oss"``, ``"mns"``,
            ``"cloudevent"``, ``"batch"``, ``"cms_alarm"``, ``"system_event"``) or
            ``"unknown"`` when no shape matched.
        field: dotted path of the offending field, e.g. ``events[0].oss.object.key``;
            ``"$"`` means the event as a whole.
        rule: what was wrong, in words.
    """

    def __init__(self, shape: str, field: str, rule: str) -> None:
        super().__init__(shape, field, rule)
        self.shape = shape
        self.field = field
        self.rule = rule

    def __str__(self) -> str:
        return f"cannot decode {self.shape} event: field {_one_line(self.field)}: {_one_line(self.rule)}"
