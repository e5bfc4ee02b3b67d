"""The token table: a small state machine that makes "one snapshot per logical slot" hold.

A token is the ClientToken derived from a slot key (see ``slots.py``). Its record moves
``claimed -> created | failed``; an expired lease or a retryable failure can be taken over.

Every transition is one of two primitives a backend provides — put-if-absent, and
compare-and-set on the record's ``version`` — so the state machine lives here, once, and two
takers can never both win: only one compare-and-set on a given version succeeds.
"""

from __future__ import annotations

import abc
import enum
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_LEASE_SECONDS = 120.0
# FC keeps an async event for at most 7 days (maxAsyncEventAgeInSeconds <= 604800); a record
# must outlive every redelivery of the event that created it, so expiry defaults to 7 days + 1 h.
DEFAULT_RECORD_TTL_SECONDS = 7 * 86400 + 3600


class TokenState(str, enum.Enum):
    """Where a token's record stands."""

    CLAIMED = "claimed"
    CREATED = "created"
    FAILED = "failed"


class TokenRecord(BaseModel):
    """One row of the token table (immutable; transitions produce a new record)."""

    model_config = ConfigDict(frozen=True)

    token: str
    state: TokenState
    owner: str
    version: int = 1
    attempts: int = 1
    lease_until: float = 0.0
    snapshot_id: str | None = None
    error_code: str | None = None
    retryable: bool | None = None
    meta: dict[str, str] = Field(default_factory=dict)
    created_at: float
    updated_at: float
    expires_at: float

    def lease_expired(self, now: float) -> bool:
        """True when a claim's lease has run out (meaningless for other states)."""
        return now >= self.lease_until


class ClaimOutcome(str, enum.Enum):
    """What ``claim`` found. The first three mean the caller now owns the token."""

    CLAIMED = "claimed"  # first claim of this token
    RETRY = "retry"  # the previous attempt failed retryably; the caller retries it
    TAKEOVER = "takeover"  # the previous owner's lease expired; the caller took over
    DONE = "done"  # a snapshot already exists for this token
    BUSY = "busy"  # another owner holds a live lease
    FAILED = "failed"  # a non-retryable failure is recorded; do not retry


OWNED_OUTCOMES = frozenset({ClaimOutcome.CLAIMED, ClaimOutcome.RETRY, ClaimOutcome.TAKEOVER})


class ClaimResult(BaseModel):
    """The answer to ``claim``: the outcome and the record as it stands after the call."""

    model_config = ConfigDict(frozen=True)

    outcome: ClaimOutcome
    record: TokenRecord

    @property
    def owned(self) -> bool:
        """True when the caller holds the token and should go on to create the snapshot."""
        return self.outcome in OWNED_OUTCOMES


#: ``update_record``'s callback: (the live record or None, the table's clock) -> the record's next
#: ``(meta, expires_at)``, or None to leave it as it stands.
RecordChange: TypeAlias = Callable[["TokenRecord | None", float], "tuple[Mapping[str, str], float] | None"]


class TokenTableError(Exception):
    """Base class of every token-table error."""


class TokenTableUnavailable(TokenTableError):
    """The backend could not be reached or did not answer in time. Never means "not claimed"."""


class LeaseLost(TokenTableError):
    """``complete``/``fail`` by an owner whose claim was taken over (or never held)."""


def default_owner() -> str:
    """An owner id unique to this process and call site: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TokenTable(abc.ABC):
    """The state machine over a backend's two primitives. Subclass once per backend."""

    #: URL scheme this backend serves (``sqlite``, ``redis``, ``tablestore``).
    scheme: str = ""

    def __init__(
        self,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        record_ttl_seconds: float = DEFAULT_RECORD_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.record_ttl_seconds = record_ttl_seconds
        self.clock = clock
        # The record each of our own claims wrote, by (token, owner): complete/fail try a
        # compare-and-set against it first and skip a read. The version check keeps it safe:
        # if anyone moved the record since, the CAS fails and the full path runs.
        self._held: dict[tuple[str, str], TokenRecord] = {}

    # -- backend primitives -------------------------------------------------------------------

    @abc.abstractmethod
    def _get(self, token: str) -> TokenRecord | None:
        """Read one record, or None. An expired record may be returned; callers check."""

    @abc.abstractmethod
    def _put_if_absent(self, record: TokenRecord) -> bool:
        """Insert ``record`` unless a live record with its token exists. True if inserted.

        A record whose ``expires_at`` has passed counts as absent and is replaced.
        """

    @abc.abstractmethod
    def _compare_and_set(self, expected_version: int, record: TokenRecord) -> bool:
        """Replace the record of ``record.token`` if its version is ``expected_version``."""

    @abc.abstractmethod
    def _scan(self) -> Iterator[TokenRecord]:
        """Every stored record, in no particular order."""

    @abc.abstractmethod
    def _delete_if_expired(self, token: str, now: float) -> bool:
        """Delete the record of ``token`` if ``expires_at <= now``. True if deleted."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to close
        """Release connections. Optional for backends that hold none."""

    # -- the state machine ----------------------------------------------------------------------

    def claim(
        self,
        token: str,
        owner: str,
        *,
        lease_seconds: float | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> ClaimResult:
        """Try to take ``token`` for ``owner``; see ``ClaimOutcome`` for the answers."""
        lease = self.lease_seconds if lease_seconds is None else lease_seconds
        now = self.clock()
        fresh = TokenRecord(
            token=token,
            state=TokenState.CLAIMED,
            owner=owner,
            # Versions start at the claim time in ms, not 1: a record that replaces an expired
            # one must never repeat a version an old owner could still compare-and-set against.
            version=int(now * 1000),
            lease_until=now + lease,
            meta=dict(meta or {}),
            created_at=now,
            updated_at=now,
            expires_at=now + self.record_ttl_seconds,
        )
        # Bounded: each lost race means another taker moved the record forward.
        for _ in range(8):
            if self._put_if_absent(fresh):
                self._held[(token, owner)] = fresh
                return ClaimResult(outcome=ClaimOutcome.CLAIMED, record=fresh)
            current = self._get(token)
            if current is None or current.expires_at <= now:
                continue  # purged or expired between the two calls: insert again
            outcome = self._judge(current, owner, now)
            if outcome is not None:
                return ClaimResult(outcome=outcome, record=current)
            taken = current.model_copy(
                update={
                    "state": TokenState.CLAIMED,
                    "owner": owner,
                    "version": current.version + 1,
                    "attempts": current.attempts + 1,
                    "lease_until": now + lease,
                    "error_code": None,
                    "retryable": None,
                    "meta": {**current.meta, **(meta or {})},
                    "updated_at": now,
                    # Activity on the slot renews the record, so a lease never outlives it.
                    "expires_at": max(current.expires_at, now + self.record_ttl_seconds),
                }
            )
            if self._compare_and_set(current.version, taken):
                self._held[(token, owner)] = taken
                kind = ClaimOutcome.RETRY if current.state is TokenState.FAILED else ClaimOutcome.TAKEOVER
                return ClaimResult(outcome=kind, record=taken)
        current = self._get(token)
        if current is None:
            raise TokenTableError(f"token {token}: could not settle a claim after repeated races")
        return ClaimResult(outcome=ClaimOutcome.BUSY, record=current)

    @staticmethod
    def _judge(current: TokenRecord, owner: str, now: float) -> ClaimOutcome | None:
        """The outcome for an existing record, or None when the caller may take it over."""
        if current.state is TokenState.CREATED:
            return ClaimOutcome.DONE
        if current.state is TokenState.FAILED:
            return None if current.retryable else ClaimOutcome.FAILED
        if current.owner != owner and not current.lease_expired(now):
            return ClaimOutcome.BUSY
        return None

    def complete(self, token: str, owner: str, snapshot_id: str) -> TokenRecord:
        """Record the snapshot made under ``owner``'s claim. Idempotent for the same snapshot."""
        return self._finish(token, owner, "completion", state=TokenState.CREATED, snapshot_id=snapshot_id)

    def fail(self, token: str, owner: str, code: str, *, retryable: bool) -> TokenRecord:
        """Record a failed attempt; a retryable one can be claimed again at once."""
        return self._finish(
            token,
            owner,
            "the failure was recorded",
            state=TokenState.FAILED,
            error_code=code,
            retryable=retryable,
        )

    def get(self, token: str) -> TokenRecord | None:
        """The live record of ``token``, or None (expired records read as absent)."""
        record = self._get(token)
        if record is None or record.expires_at <= self.clock():
            return None
        return record

    def records(self, *, state: TokenState | None = None) -> list[TokenRecord]:
        """Live records for audits, newest first, optionally only those in ``state``."""
        now = self.clock()
        rows = [r for r in self._scan() if r.expires_at > now and (state is None or r.state is state)]
        return sorted(rows, key=lambda r: r.updated_at, reverse=True)

    def purge(self) -> int:
        """Delete expired records; returns how many went."""
        now = self.clock()
        expired = [r.token for r in self._scan() if r.expires_at <= now]
        return sum(1 for token in expired if self._delete_if_expired(token, now))

    # -- records beside the claims ----------------------------------------------------------------

    def update_record(
        self,
        key: str,
        owner: str,
        change: RecordChange,
        *,
        state: TokenState = TokenState.CREATED,
    ) -> TokenRecord | None:
        """Read, change and write one record atomically: state kept beside the claims (an alarm's
        cooldown window, what an event was mapped to), under a key no ClientToken uses.

        ``change(current, now)`` gets the live record (None when there is none or it expired) and
        the table's clock, and returns the record's next ``meta`` and ``expires_at`` (epoch
        seconds), or None to leave the record as it stands. A new record is written with
        put-if-absent, a change to an existing one with compare-and-set on the version read; if
        another writer got there first, ``change`` runs again on what that writer left. So two
        concurrent callers can never both act on the same old record, and ``change`` must depend
        only on its arguments (it may record its verdict in the caller's variables: the last
        call's verdict is the one that was written).

        The record is written with ``state``, ``owner``, ``meta``, ``created_at``,
        ``updated_at``, ``expires_at`` and ``version`` only (the claim fields keep their
        defaults). Returns the record as it stands afterwards (None when there was none and
        ``change`` made none). Raises TokenTableUnavailable when the backend does not answer, and
        TokenTableError after 8 lost races in a row.
        """
        for _ in range(8):
            now = self.clock()
            current = self._get(key)
            if current is not None and current.expires_at <= now:
                current = None  # reads as absent; put-if-absent replaces it
            update = change(current, now)
            if update is None:
                return current
            meta, expires_at = dict(update[0]), float(update[1])
            if current is None:
                record = TokenRecord(
                    token=key,
                    state=state,
                    owner=owner,
                    # From the clock in ms, as in ``claim``: never a version an expired record had.
                    version=int(now * 1000),
                    meta=meta,
                    created_at=now,
                    updated_at=now,
                    expires_at=expires_at,
                )
                if self._put_if_absent(record):
                    return record
            else:
                record = current.model_copy(
                    update={
                        "state": state,
                        "owner": owner,
                        "version": current.version + 1,
                        "meta": meta,
                        "updated_at": now,
                        "expires_at": expires_at,
                    }
                )
                if self._compare_and_set(current.version, record):
                    return record
        raise TokenTableError(f"record {key}: could not settle an update after repeated races")

    # -- helpers ----------------------------------------------------------------------------------

    def _finish(self, token: str, owner: str, what: str, **changes: Any) -> TokenRecord:
        """End ``owner``'s claim with ``changes``: one CAS against our own claim's record when we
        still hold it (no read), else read, check the owner and CAS."""
        held = self._held.pop((token, owner), None)
        if held is not None and held.expires_at > self.clock():
            done = self._ended(held, changes)
            if self._compare_and_set(held.version, done):
                return done
        current = self._require(token)
        if current.state is TokenState.CREATED and current.snapshot_id == changes.get("snapshot_id", False):
            return current  # completed already with this very snapshot
        self._check_owner(current, owner)
        done = self._ended(current, changes)
        if not self._compare_and_set(current.version, done):
            raise LeaseLost(f"token {token}: the claim changed hands before {what}")
        return done

    def _ended(self, record: TokenRecord, changes: dict[str, Any]) -> TokenRecord:
        return record.model_copy(
            update={**changes, "version": record.version + 1, "lease_until": 0.0, "updated_at": self.clock()}
        )

    def _require(self, token: str) -> TokenRecord:
        # Live records only: completing an expired record would store a result that already reads as
        # absent, so the next claim would start the slot over and snapshot it a second time.
        current = self.get(token)
        if current is None:
            raise LeaseLost(f"token {token}: no record (never claimed, or expired and purged)")
        return current

    @staticmethod
    def _check_owner(current: TokenRecord, owner: str) -> None:
        if current.state is not TokenState.CLAIMED or current.owner != owner:
            raise LeaseLost(
                f"token {current.token}: held by {current.owner!r} "
                f"in state {current.state.value}, not {owner!r}"
            )
