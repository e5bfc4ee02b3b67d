"""EventDecodeError: the one exception the event decoders raise.

A trigger event that cannot be decoded is a fact about the input, not a bug in the handler, so
every failure (bad JSON, bad UTF-8, a missing or mistyped field, an unparseable time, a corrupt
MNS body) is reported the same way: which shape we took the event for, which field was wrong
and what rule it broke.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

_MAX_PART = 300


def _one_line(text: str) -> str:
    # The message ends up in a single structured log line: no raw newlines, bounded length.
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= _MAX_PART else flat[: _MAX_PART - 3] + "..."


class UnusableElement(BaseModel):
    """One element of a batch (or the body of an MNS topic message) that cannot be acted on.

    ``index`` is the element's position in the delivered JSON array (0 for an MNS message's
    body); ``field`` and ``rule`` say what was wrong, as in ``EventDecodeError``.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    field: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        """The element as it appears in an invocation summary."""
        return {"index": self.index, "field": self.field, "rule": _one_line(self.rule)}


class EventDecodeError(Exception):
    """An event could not be decoded into a trigger model.

    Attributes:
        shape: the shape the event was taken for (``"timer"``, ``"oss"``, ``"mns"``,
            ``"cloudevent"``, ``"batch"``, ``"cms_alarm"``, ``"system_event"``) or
            ``"unknown"`` when no shape matched.
        field: dotted path of the offending field, e.g. ``events[0].oss.object.key``;
            ``"$"`` means the event as a whole.
        rule: what was wrong, in words.
        elements: when the event is a batch (or an MNS message) none of whose elements could
            be used, every element's reason; ``field``/``rule`` then repeat the first one's.
    """

    def __init__(self, shape: str, field: str, rule: str, elements: tuple[UnusableElement, ...] = ()) -> None:
        super().__init__(shape, field, rule)
        self.shape = shape
        self.field = field
        self.rule = rule
        self.elements = elements

    def __str__(self) -> str:
        return f"cannot decode {self.shape} event: field {_one_line(self.field)}: {_one_line(self.rule)}"


def nothing_usable(shape: str, elements: Sequence[UnusableElement]) -> EventDecodeError:
    """The error for a batch none of whose ``elements`` (at least one) can be used: the first
    element's field and rule, with every element's reason attached."""
    first = elements[0]
    more = f" (and every other element is unusable too: {len(elements)} in all)" if len(elements) > 1 else ""
    return EventDecodeError(shape, first.field, first.rule + more, tuple(elements))
