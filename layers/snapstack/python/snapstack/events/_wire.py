"""Shared decoding machinery: a path-tracking reader over parsed JSON, times, and the safety net.

Every decoder reads its input through ``Node``, which knows the dotted path of the value it
wraps, so a wrong field is reported as ``events[0].oss.object.key`` and not as a bare
``KeyError``. ``decoding`` is the last line of defence: whatever a decoder lets slip
(a pydantic ``ValidationError`` or a stray ``ValueError``/``TypeError``) leaves as an
``EventDecodeError``; a rule starting with ``"unexpected"`` marks such a slip, which the tests
treat as a bug.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, ParamSpec, TypeVar

from pydantic import ValidationError

from snapstack.events.errors import EventDecodeError

P = ParamSpec("P")
R = TypeVar("R")

# Real trigger events nest about six levels deep; a bound keeps later code (logging, repr,
# json.dumps) away from the interpreter's recursion limit on hostile input.
MAX_DEPTH = 64
ROOT = "$"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The range an event time may take. Slots, cooldown windows and names are computed from event
# times with offsets of at most a few weeks and a day's worth of time zone, so nothing past this
# check can leave datetime's range (years 1 to 9999): a year-1 or year-9999 time is refused
# here, as the bad input it is, instead of raising OverflowError later.
EARLIEST = _EPOCH
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)
# Epoch values at or above this are milliseconds: 1e11 seconds is the year 5138, while 1e11 ms
# is 1973, before any event this code will ever see.
_MS_THRESHOLD = 10**11
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*", re.ASCII)
_ISO_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,9}))?"
    r"(Z|z|PRC|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)
# CMS system events: 20181226T220114.058+0800
_COMPACT_TIME = re.compile(
    r"([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)
_JSON_TYPES = (str, int, float, bool, type(None), list, dict)


def join(path: str, key: str | int) -> str:
    """Extend a dotted path by a key (``a.b``) or an index (``a[0]``); odd keys are quoted."""
    base = "" if path == ROOT else path
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _IDENT.fullmatch(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key[:64])}]"


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    names = {str: "string", float: "number", list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def preview(value: Any) -> str:
    """A short, one-line rendering of a value for an error message."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        # repr() of a huge int raises ValueError (int max str digits): name its size instead.
        return repr(value) if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, float):
        return repr(value)
    return f"a JSON {json_type(value)}"


def iso(moment: datetime) -> str:
    """An aware datetime as ISO-8601 with a ``Z`` for UTC (stable text for dedupe keys)."""
    return moment.isoformat().replace("+00:00", "Z")


def fail(shape: str, path: str, rule: str) -> NoReturn:
    """Raise the EventDecodeError for ``path`` (the root when empty)."""
    raise EventDecodeError(shape, path or ROOT, rule)


def check_json(value: Any, shape: str, path: str = ROOT) -> None:
    """Refuse values that are not plain JSON, or nest deeper than MAX_DEPTH (iteratively)."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            fail(shape, path, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    fail(shape, path, f"object keys must be strings (got {json_type(key)})")
                stack.append((child, join(path, key), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, join(path, i), depth + 1) for i, child in enumerate(item))
        elif not isinstance(item, _JSON_TYPES):
            fail(shape, path, f"not a JSON value (got {type(item).__name__})")
        elif isinstance(item, float) and not math.isfinite(item):
            fail(shape, path, "NaN and Infinity are not JSON numbers")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str, shape: str, path: str = ROOT) -> Any:
    """Parse JSON text strictly (no NaN/Infinity), converting every failure to EventDecodeError
    on ``path`` (the field the text came from)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        fail(shape, path, f"invalid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})")
    except RecursionError:
        fail(shape, path, f"invalid JSON: nested deeper than {MAX_DEPTH} levels")
    except ValueError as exc:  # NaN/Infinity, or an integer literal over the digit limit
        fail(shape, path, f"invalid JSON: {exc}")
    check_json(value, shape, path)
    return value


def _build_time(match: re.Match[str], shape: str, path: str, text: str) -> datetime:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None:
        fail(shape, path, f"time {preview(text)} has no time zone (expected Z or an offset like +08:00)")
    if zone in ("Z", "z"):
        offset = timedelta(0)
    elif zone == "PRC":
        # EventBridge documents times like 2020-11-19T21:04:42.179PRC: China Standard Time.
        offset = timedelta(hours=8)
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if zone[0] == "-":
            offset = -offset
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, timezone(offset)
        )
        moment = local.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        fail(shape, path, f"time {preview(text)} is not a valid date and time")
    return in_range(moment, shape, path, preview(text))


def in_range(moment: datetime, shape: str, path: str, shown: str) -> datetime:
    """``moment`` when it lies in [EARLIEST, LATEST), else EventDecodeError naming ``shown``."""
    if not EARLIEST <= moment < LATEST:
        fail(
            shape,
            path,
            f"time {shown} is outside the range an event time may take "
            f"({iso(EARLIEST)} to {iso(LATEST - timedelta(seconds=1))})",
        )
    return moment


def parse_time(text: str, shape: str, path: str) -> datetime:
    """Parse an ISO-8601 time (``Z``, ``±HH:MM``, ``±HHMM`` or ``PRC``) or the compact CMS form
    ``20181226T220114.058+0800`` into an aware UTC datetime; a time without a zone is refused."""
    match = _ISO_TIME.fullmatch(text) or _COMPACT_TIME.fullmatch(text)
    if match is None:
        fail(shape, path, f"{preview(text)} is not an ISO-8601 time such as 2026-11-27T04:00:00Z")
    return _build_time(match, shape, path, text)


def epoch_time(value: int, shape: str, path: str, *, unit: str) -> datetime:
    """An epoch number as an aware UTC datetime; ``unit`` is ``"s"``, ``"ms"`` or ``"auto"``
    (milliseconds when the value is at least 1e11, else seconds)."""
    if value <= 0:
        fail(shape, path, f"epoch time must be positive (got {preview(value)})")
    millis = unit == "ms" or (unit == "auto" and value >= _MS_THRESHOLD)
    try:
        moment = _EPOCH + (timedelta(milliseconds=value) if millis else timedelta(seconds=value))
    except OverflowError:
        moment = LATEST  # past datetime's range: refused below like any time past LATEST
    return in_range(moment, shape, path, f"{preview(value)} {'ms' if millis else 's'} since the epoch")


class Node:
    """A JSON value with its path: typed, path-aware access to the fields of an object."""

    __slots__ = ("path", "shape", "value")

    def __init__(self, shape: str, path: str, value: Any) -> None:
        self.shape = shape
        self.path = path
        self.value = value

    def at(self, key: str | int) -> str:
        """The path of a child."""
        return join(self.path, key)

    def fail(self, rule: str, key: str | int | None = None) -> NoReturn:
        """Raise EventDecodeError for this node, or for its child ``key``."""
        fail(self.shape, self.path if key is None else self.at(key), rule)

    def obj(self) -> dict[str, Any]:
        """This node's value, which must be a JSON object."""
        if not isinstance(self.value, dict):
            self.fail(f"must be a JSON object (got {json_type(self.value)})")
        return self.value

    def get(self, key: str) -> Any:
        """The raw value under ``key`` (None when missing)."""
        return self.obj().get(key)

    def child(self, key: str) -> Node:
        """The value under ``key`` as a Node; missing or null is an error."""
        value = self.obj().get(key)
        if value is None:
            self.fail("is required" if key not in self.obj() else "must not be null", key)
        return Node(self.shape, self.at(key), value)

    def opt_child(self, key: str) -> Node | None:
        """The value under ``key`` as a Node, or None when missing or null."""
        value = self.obj().get(key)
        return None if value is None else Node(self.shape, self.at(key), value)

    def req_obj(self, key: str) -> Node:
        """A required JSON object field."""
        node = self.child(key)
        node.obj()
        return node

    def opt_obj(self, key: str) -> Node | None:
        """An optional JSON object field."""
        node = self.opt_child(key)
        if node is not None:
            node.obj()
        return node

    def text(self, *, allow_empty: bool = False) -> str:
        """This node's value, which must be a string (non-empty unless allowed)."""
        if not isinstance(self.value, str):
            self.fail(f"must be a string (got {json_type(self.value)})")
        if not allow_empty and not self.value:
            self.fail("must not be empty")
        return self.value

    def req_str(self, key: str, *, allow_empty: bool = False) -> str:
        """A required string field."""
        return self.child(key).text(allow_empty=allow_empty)

    def opt_str(self, key: str) -> str | None:
        """An optional string field (missing or null -> None; empty strings are kept)."""
        node = self.opt_child(key)
        return None if node is None else node.text(allow_empty=True)

    def integer(self, *, minimum: int | None = None) -> int:
        """This node's value, which must be a JSON integer (booleans and floats are refused)."""
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"must be an integer (got {json_type(self.value)})")
        if minimum is not None and self.value < minimum:
            self.fail(f"must be at least {minimum} (got {preview(self.value)})")
        return self.value

    def req_int(self, key: str, *, minimum: int | None = None) -> int:
        """A required integer field."""
        return self.child(key).integer(minimum=minimum)

    def opt_int(self, key: str, *, minimum: int | None = None) -> int | None:
        """An optional integer field."""
        node = self.opt_child(key)
        return None if node is None else node.integer(minimum=minimum)

    def req_list(self, key: str) -> list[Node]:
        """A required JSON array field, as Nodes."""
        node = self.child(key)
        if not isinstance(node.value, list):
            node.fail(f"must be a JSON array (got {json_type(node.value)})")
        return list(node.items())

    def items(self) -> Iterator[Node]:
        """The elements of this node's array."""
        values: list[Any] = self.value
        for i, value in enumerate(values):
            yield Node(self.shape, self.at(i), value)

    def time(self, key: str) -> datetime:
        """A required time field given as an ISO-8601 (or compact CMS) string."""
        return parse_time(self.req_str(key), self.shape, self.at(key))

    def opt_time(self, key: str) -> datetime | None:
        """An optional time field given as an ISO-8601 (or compact CMS) string."""
        text = self.opt_str(key)
        return None if text is None else parse_time(text, self.shape, self.at(key))

    def str_dict(self) -> dict[str, str]:
        """This object's members, whose values must all be strings."""
        return {
            key: Node(self.shape, self.at(key), v).text(allow_empty=True) for key, v in self.obj().items()
        }


def _loc_path(loc: tuple[int | str, ...]) -> str:
    path = ROOT
    for part in loc:
        path = join(path, part)
    return path


def decoding(shape: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a decoder so nothing but EventDecodeError leaves it.

    A ValidationError names the model field it failed on; anything else a decoder lets slip is
    reported as ``unexpected <ExceptionType>`` so a test can tell a slip from a handled rule.
    """

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def decoder(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except EventDecodeError:
                raise
            except ValidationError as exc:
                first = exc.errors()[0]
                raise EventDecodeError(shape, _loc_path(tuple(first["loc"])), first["msg"]) from None
            except (ValueError, TypeError, LookupError, RecursionError, OverflowError) as exc:
                raise EventDecodeError(shape, ROOT, f"unexpected {type(exc).__name__}: {exc}") from None

        return decoder

    return wrap
