"""The invocation's summary: every disk counted, per-disk detail kept within a size bound.

A run over 200,000 disks must not hold 200,000 results, nor return them: the summary FC gets
back (and an async destination forwards) has a bound whatever the fleet. ``Tally`` takes each
result as it is decided (from any thread) and keeps:

- the count per outcome, of every disk;
- ``errors``: one entry per (outcome, error code): how many disks, the first ``SAMPLE_DISKS`` of
  them and the first message; at most ``ERROR_GROUPS`` entries (further codes are counted
  under ``(other codes)``);
- ``disks``: per-disk detail (the same fields as before) for at most ``limit`` disks, sorted by
  disk id. When a run decides more, the ones that need attention are kept first (failed,
  deferred, in progress, denied, skipped, then created and deduplicated; earlier before later)
  and ``disks_omitted`` says how many were left out. Messages are cut to ``MESSAGE_CHARS``.

Every disk's full detail is in its log line (``snapshot decision``), which is where an audit of
a large run reads it. With the default ``limit`` of 1,000 (``SNAPSTACK_SUMMARY_DISKS``) the JSON
summary stays under about 600 KB in the worst case (every kept disk with a message cut to its
limit) and about 180 KB for a typical large run (1,000 created disks); a run of at most
``limit`` disks gets every disk, as before.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from snapstack.execute import DiskResult, Intent, Outcome

#: Disks whose detail the summary carries by default (``SNAPSTACK_SUMMARY_DISKS``).
DEFAULT_SUMMARY_DISKS = 1000
#: A message in the summary is cut to this many characters (the log line has it whole).
MESSAGE_CHARS = 300
#: Distinct (outcome, error code) entries in ``errors``; more are counted as ``(other codes)``.
ERROR_GROUPS = 50
#: Disk ids named per ``errors`` entry.
SAMPLE_DISKS = 5
#: Notes the summary carries; more are counted in a last note.
MAX_NOTES = 50
OTHER_CODES = "(other codes)"
#: Kept first when the detail must be cut: the outcomes that need someone's attention.
_ATTENTION = ("failed", "deferred", "in_progress", "denied", "skipped")


def _rank(outcome: Outcome) -> int:
    value = outcome.value
    return len(_ATTENTION) - _ATTENTION.index(value) if value in _ATTENTION else 0


class Tally:
    """Results aggregated as they are decided (thread-safe); see the module docstring."""

    def __init__(self, limit: int = DEFAULT_SUMMARY_DISKS) -> None:
        self.limit = limit
        self._counts: Counter[str] = Counter()
        self._kept: list[tuple[int, int, DiskResult]] = []  # min-heap: least worth keeping first
        self._errors: dict[tuple[str, str], dict[str, Any]] = {}
        self._seen = 0
        self._lock = threading.Lock()

    def add(self, result: DiskResult, _intent: Intent | None = None) -> None:
        """Count ``result``; keep its detail if it is among the ``limit`` most worth keeping.

        The signature is ``Executor.stream``'s sink (the intent is not needed here).
        """
        with self._lock:
            self._seen += 1
            self._counts[result.outcome.value] += 1
            if result.error_code:
                self._group(result)
            entry = (_rank(result.outcome), -self._seen, result)
            if len(self._kept) < self.limit:
                heapq.heappush(self._kept, entry)
            elif self._kept and entry[:2] > self._kept[0][:2]:
                heapq.heapreplace(self._kept, entry)

    def add_all(self, results: Iterable[DiskResult]) -> None:
        """``add`` each of ``results``."""
        for result in results:
            self.add(result)

    @property
    def total(self) -> int:
        """Disks decided so far."""
        return self._seen

    def count(self, outcome: Outcome) -> int:
        """Disks that ended with ``outcome``."""
        return self._counts[outcome.value]

    def counts(self) -> dict[str, int]:
        """Every outcome's count (zeros included), in ``Outcome``'s order."""
        return {o.value: self._counts[o.value] for o in Outcome}

    def disks(self) -> list[dict[str, Any]]:
        """The kept disks' detail, sorted by disk id, messages cut to ``MESSAGE_CHARS``."""
        kept = sorted((r for _, _, r in self._kept), key=lambda r: r.disk_id)
        return [_cut(r.model_dump(exclude_none=True, mode="json")) for r in kept]

    @property
    def omitted(self) -> int:
        """Disks decided whose detail the summary leaves out."""
        return self._seen - len(self._kept)

    def errors(self) -> list[dict[str, Any]]:
        """One entry per (outcome, error code), most frequent first."""
        groups = sorted(self._errors.values(), key=lambda g: (-g["count"], g["outcome"], g["error_code"]))
        return [dict(g, disks=list(g["disks"])) for g in groups]

    def _group(self, result: DiskResult) -> None:
        code = result.error_code or ""
        key = (result.outcome.value, code)
        if key not in self._errors and len(self._errors) >= ERROR_GROUPS:
            key = (result.outcome.value, OTHER_CODES)
        group = self._errors.get(key)
        if group is None:
            group = {"outcome": key[0], "error_code": key[1], "count": 0, "disks": []}
            if result.message:
                group["message"] = result.message[:MESSAGE_CHARS]
            self._errors[key] = group
        group["count"] += 1
        if len(group["disks"]) < SAMPLE_DISKS:
            group["disks"].append(result.disk_id)


def _cut(entry: dict[str, Any]) -> dict[str, Any]:
    for key in ("message", "warning"):
        text = entry.get(key)
        if isinstance(text, str) and len(text) > MESSAGE_CHARS:
            entry[key] = text[: MESSAGE_CHARS - 1] + "…"
    return entry


def bounded_notes(notes: list[str]) -> list[str]:
    """At most ``MAX_NOTES`` notes, each cut to ``MESSAGE_CHARS``; a last note counts the rest."""
    kept = [n[:MESSAGE_CHARS] for n in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        kept.append(f"... and {len(notes) - MAX_NOTES} more notes")
    return kept
