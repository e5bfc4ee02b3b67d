"""Alarm cooldowns: one alarm-driven snapshot of a disk per cooldown, one per alarm, and a daily cap.

The policy's ``period`` is a cooldown: no new alarm-driven snapshot of a disk within ``period``
of the last one, whatever rule, carrier or clock hour the alarm came with. Three facts live in
the token table, beside the claims, under keys no ClientToken uses (``ssw-``/``sse-`` + 32 hex
digits of the SHA-256 of a slot key that carries the namespace: FC service, function, policy):

- **The disk's window** (``ssw-``): when its current window opened (``start``, the token table's
  clock), its ``label`` (that instant, UTC, to the second: the slot part every snapshot of the
  window shares), the ``reason`` of the alarm that opened it, and how many windows opened that
  local day (``day``, ``count``, in the policy's time zone). An alarm received before
  ``start + period`` joins the window, so it gets the window's ClientToken: one snapshot. Later,
  the first alarm opens the next window. Opening is a conditional write (put-if-absent, or
  compare-and-set on the version read), so of two deliveries racing for a disk exactly one opens
  the window and the other joins it. The record lives until the later of the window's end and
  the end of its day, so the day's count lives as long as it counts.
- **The daily cap**: a window is not opened once ``max_snapshots_per_day`` windows opened that
  local day; the disk is ``denied``. This bounds what a flood of alarms can do to a disk's
  256-snapshot quota, whatever their rule ids (anyone who can publish to the topic can send
  them).
- **The alarm's window** (``sse-``): each alarm identity (``AlarmSignal.dedupe_id``: the
  platform's event id where there is one) is mapped to the window it first got, per disk, for 7
  days + 1 hour (as long as a claim; FC keeps an async event at most 7 days). The same alarm
  delivered again — FC's retry, its next status (``...Reboot:Scheduled`` then ``:Executing``),
  another transport — lands on that window however long after: one incident, one snapshot.

An alarm's own time never chooses anything: windows open at the time of receipt, by the token
table's clock, so a replayed or forged old alarm cannot pick its slot. Nothing here calls ECS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from snapstack.tokens.base import DEFAULT_RECORD_TTL_SECONDS, RecordChange, TokenRecord, TokenTable
from snapstack.tokens.slots import slot_key

WINDOW_PREFIX = "ssw-"
EVENT_PREFIX = "sse-"
#: How long an alarm identity stays mapped to its window.
EVENT_TTL_SECONDS = DEFAULT_RECORD_TTL_SECONDS

How = Literal["event", "joined", "opened", "capped"]


@dataclass(frozen=True)
class Assignment:
    """Where one disk's alarm snapshot goes.

    ``how``: ``event`` (this alarm already had a window), ``joined`` (a live window), ``opened``
    (a new one) or ``capped`` (the daily cap refused a new one; ``window`` is then empty).
    ``start`` is the window's opening instant (epoch seconds), ``reason`` the opening alarm's.
    """

    disk_id: str
    how: How
    window: str = ""
    start: float = 0.0
    reason: str = ""
    day: str = ""


def record_key(prefix: str, kind: str, **parts: str) -> str:
    """A token-table key for a record beside the claims: ``prefix`` + 32 hex digits."""
    return prefix + hashlib.sha256(slot_key(kind, **parts).encode("utf-8")).hexdigest()[:32]


def label_of(start: float) -> str:
    """A window's label: its opening instant, UTC, to the second."""
    return datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cooldowns:
    """The window, cap and alarm records of one alarm policy (see the module docstring)."""

    def __init__(
        self,
        table: TokenTable,
        *,
        namespace: Mapping[str, str],
        owner: str,
        period: timedelta,
        zone: ZoneInfo,
        cap: int,
    ) -> None:
        self.table = table
        self.namespace = dict(namespace)
        self.owner = owner
        self.period = period.total_seconds()
        self.zone = zone
        self.cap = cap

    def assign(self, disk_id: str, identities: Sequence[str], reason: str) -> Assignment:
        """The window for an alarm snapshot of ``disk_id`` asked for by the alarms ``identities``.

        ``reason`` is kept if this call opens the window. Raises TokenTableError (and its
        TokenTableUnavailable) when the table fails.
        """
        identities = list(dict.fromkeys(identities))  # a batch may carry one alarm several times
        for identity in identities:
            known = self.table.get(self._event_key(identity, disk_id))
            if known is not None and "window" in known.meta:
                return self._assignment(disk_id, "event", known)
        verdict: list[How] = []
        window = self.table.update_record(
            record_key(WINDOW_PREFIX, "alarm-window", **self.namespace, disk=disk_id),
            self.owner,
            self._open_or_join(disk_id, reason, verdict),
        )
        if verdict[-1] == "capped" or window is None:
            day = window.meta.get("day", "") if window is not None else ""
            return Assignment(disk_id, "capped", day=day)
        mapping = {key: window.meta[key] for key in ("window", "start", "reason", "day")}
        for identity in identities:
            mapped = self.table.update_record(
                self._event_key(identity, disk_id), self.owner, _once(mapping, EVENT_TTL_SECONDS)
            )
            if mapped is not None and mapped.meta.get("window") != mapping["window"]:
                # A concurrent delivery of this very alarm mapped it first: its window wins.
                return self._assignment(disk_id, "event", mapped)
        return self._assignment(disk_id, verdict[-1], window)

    def _open_or_join(self, disk_id: str, reason: str, verdict: list[How]) -> RecordChange:
        def change(current: TokenRecord | None, now: float) -> tuple[dict[str, str], float] | None:
            if current is not None and now < float(current.meta["start"]) + self.period:
                verdict.append("joined")
                return None
            day = datetime.fromtimestamp(now, self.zone).date()
            same_day = current is not None and current.meta.get("day") == day.isoformat()
            count = int(current.meta["count"]) if current is not None and same_day else 0
            if count >= self.cap:
                verdict.append("capped")
                return None
            verdict.append("opened")
            meta = {
                "kind": "alarm-window",
                "disk_id": disk_id,
                "window": label_of(now),
                "start": repr(now),
                "reason": reason,
                "day": day.isoformat(),
                "count": str(count + 1),
            }
            return meta, max(now + self.period, self._end_of(day))

        return change

    def _end_of(self, day: date) -> float:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone).timestamp()

    def _event_key(self, identity: str, disk_id: str) -> str:
        return record_key(EVENT_PREFIX, "alarm-event", **self.namespace, alarm=identity, disk=disk_id)

    @staticmethod
    def _assignment(disk_id: str, how: How, record: TokenRecord) -> Assignment:
        meta = record.meta
        return Assignment(disk_id, how, meta["window"], float(meta["start"]), meta["reason"], meta["day"])


def _once(
    meta: Mapping[str, str], ttl: float
) -> Callable[[TokenRecord | None, float], tuple[dict[str, str], float] | None]:
    """A change that writes ``meta`` only where no record is: the first mapping stays."""

    def change(current: TokenRecord | None, now: float) -> tuple[dict[str, str], float] | None:
        return None if current is not None else ({"kind": "alarm-event", **meta}, now + ttl)

    return change
