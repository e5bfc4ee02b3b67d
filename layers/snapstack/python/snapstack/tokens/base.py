"""The token table: the state machine that makes "one snapshot per logical slot" hold.

A record is keyed by a *slot token* (``slots.client_token``). Its states::

    (absent) --claim--> CLAIMED --mark_sent--> SENT --complete--> CREATED      (terminal: snapshot_id)
                           |                     |
                           +--------fail---------+--> FAILED(retryable)  --claim--> CLAIMED (RETRY)
                                                 +--> FAILED(final)      --rearm--> FAILED(retryable)
    CLAIMED/SENT whose lease ran out --claim by another owner--> CLAIMED (TAKEOVER)
    CREATED whose snapshot ended ``failed`` at ECS --reopen--> FAILED(retryable), next generation

- CLAIMED: ``owner`` holds the slot until ``lease_until``; it has sent nothing in this attempt.
- SENT: the owner is about to send, or has sent, CreateSnapshot with the ClientToken of
  ``generation`` (``slots.client_token_at``). Written *before* the request leaves.
- CREATED: ``snapshot_id`` is the slot's snapshot. Only ``reopen`` moves a record out of it, when
  ECS reports that very snapshot ``failed`` (the reconciler's check, ``snapstack/reconcile``).
- FAILED: ``error_code`` and ``detail`` say why; ``retryable`` records may be claimed again at
  once (the next attempt), final ones only after an operator's ``rearm`` (``snapstack tokens retry``).

Fields every transition keeps (so a reconciler or a later attempt can act safely):

- ``generation``: the ClientToken generation the *next* request must use. It moves forward only
  after ECS gave a definitive error answer to the current one, and is written before it is used,
  so a token whose first answer was an error is never sent again.
- ``in_doubt``: some request for this slot may have reached ECS and its outcome is unknown (set by
  ``mark_sent``, kept by ambiguous failures). A new owner must look the slot up at ECS (the
  ``snapstack:slot`` tag) before it sends anything; it clears the flag when it knows.
- ``attempts``: how many times an owner took the slot (deliveries that worked on it); an owner
  re-taking its own claim does not count. ``rearm`` resets it.

Who may take what: only the owner of a live lease writes ``mark_sent``/``renew_lease``/``complete``/
``fail`` (each is a compare-and-set against the version it holds, so a taken-over owner gets
``LeaseLost`` and must stop); anyone may ``claim``; ``rearm`` is an operator's (or the
reconciler's) act on FAILED only; ``reopen`` is the reconciler's on CREATED only.

Every transition is one of two primitives a backend provides — put-if-absent, and compare-and-set
on the record's ``version`` — so the state machine lives here, once, and two takers can never both
win. A write whose answer was lost (the backend may have applied it) is safe to repeat: a repeated
claim by the same owner takes its own claim back, and a compare-and-set that finds its own intended
record in place counts as done.

Lease arithmetic uses the table's ``clock`` (Redis: the server's clock, see ``tokens/redis.py``)
and waits ``clock_skew_seconds`` past a lease's end before another owner may take it over, so a
host clock running ahead by less than that never takes over a live claim.
"""

from __future__ import annotations

import abc
import enum
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_LEASE_SECONDS = 120.0
# FC keeps an async event for at most 7 days (maxAsyncEventAgeInSeconds <= 604800); a record
# must outlive every redelivery of the event that created it, so expiry defaults to 7 days + 1 h.
DEFAULT_RECORD_TTL_SECONDS = 7 * 86400 + 3600


class TokenState(str, enum.Enum):
    """Where a token's record stands (see the module docstring)."""

    CLAIMED = "claimed"
    SENT = "sent"
    CREATED = "created"
    FAILED = "failed"


#: States in which an owner holds a lease.
LEASED_STATES = frozenset({TokenState.CLAIMED, TokenState.SENT})


class TokenRecord(BaseModel):
    """One row of the token table (immutable; transitions produce a new record)."""

    model_config = ConfigDict(frozen=True)

    token: str
    state: TokenState
    owner: str
    version: int = 1
    attempts: int = 1
    generation: int = 0
    in_doubt: bool = False
    lease_until: float = 0.0
    snapshot_id: str | None = None
    error_code: str | None = None
    retryable: bool | None = None
    detail: str | None = None
    meta: dict[str, str] = Field(default_factory=dict)
    created_at: float
    updated_at: float
    expires_at: float

    def lease_expired(self, now: float, skew: float = 0.0) -> bool:
        """True when a lease ran out more than ``skew`` seconds ago (meaningless unless leased)."""
        return now >= self.lease_until + skew


class ClaimOutcome(str, enum.Enum):
    """What ``claim`` found. The first three mean the caller now owns the token."""

    CLAIMED = "claimed"  # first claim of this token
    RETRY = "retry"  # the previous attempt failed retryably; the caller retries it
    TAKEOVER = "takeover"  # the previous owner's lease expired (or it is the caller's own claim)
    DONE = "done"  # a snapshot already exists for this token
    BUSY = "busy"  # another owner holds a live lease
    FAILED = "failed"  # a final failure is recorded; not retried until re-armed


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


def record_from_json(body: str | bytes, token: str) -> TokenRecord:
    """A stored record's JSON (SQLite's and Redis's value) as a ``TokenRecord``.

    Raises ``TokenTableError`` naming ``token`` when the value is not a record (corrupted, or
    written by something else), like Tablestore's unreadable row: the executor then fails that
    one disk with no ECS call, instead of a validation traceback stopping every disk.
    """
    try:
        return TokenRecord.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        raise TokenTableError(
            f"token {token}: the stored value is not a token record ({where}: {first['msg']})"
        ) from None


class TokenTableUnavailable(TokenTableError):
    """The backend could not be reached, did not answer in time, or answered "not now" (Redis OOM,
    READONLY after a failover, Tablestore throttling). Transient; never means "not claimed"."""


class TokenTableFatal(TokenTableError):
    """The table cannot work for this invocation at all (credentials refused, table missing): the
    invocation fails so FC retries it, instead of every disk failing one by one."""


class TokenTableAuthError(TokenTableFatal):
    """The backend refused our credentials or permissions."""


class LeaseLost(TokenTableError):
    """A write by an owner whose claim was taken over (or never held)."""


class RearmRefused(TokenTableError):
    """``rearm`` of a record that must not be retried (it holds a snapshot, or is in progress)."""


def default_owner() -> str:
    """An owner id unique to this process and call site: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TokenTable(abc.ABC):
    """The state machine over a backend's primitives. Subclass once per backend."""

    #: URL scheme this backend serves (``sqlite``, ``redis``, ``tablestore``).
    scheme: str = ""
    #: Seconds past a lease's end before another owner may take it (see the module docstring).
    default_clock_skew: float = 0.0

    def __init__(
        self,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        record_ttl_seconds: float = DEFAULT_RECORD_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        clock_skew_seconds: float | None = None,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.record_ttl_seconds = record_ttl_seconds
        self.clock: Callable[[], float] = clock or self._backend_clock
        self.clock_skew = self.default_clock_skew if clock_skew_seconds is None else clock_skew_seconds
        # The record each of our own writes left, by (token, owner): the next write tries a
        # compare-and-set against it first and skips a read. The version check keeps it safe:
        # if anyone moved the record since, the CAS fails and the full path runs.
        self._held: dict[tuple[str, str], TokenRecord] = {}

    def _backend_clock(self) -> float:
        """The clock lease arithmetic uses when none is injected (a backend's own clock, if any)."""
        return time.time()

    # -- backend primitives -------------------------------------------------------------------

    @abc.abstractmethod
    def _get(self, token: str) -> TokenRecord | None:
        """Read one record, or None. An expired record may be returned; callers check."""

    def _get_many(self, tokens: list[str]) -> dict[str, TokenRecord]:
        """Read many records in as few round trips as the backend allows (default: one by one)."""
        found = {}
        for token in tokens:
            record = self._get(token)
            if record is not None:
                found[token] = record
        return found

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

    def use_credentials(  # noqa: B027 - only backends that sign requests need it
        self, access_key_id: str, access_key_secret: str, security_token: str | None
    ) -> None:
        """Sign later requests with these credentials (the invocation's, from the FC context)."""

    # -- the state machine ----------------------------------------------------------------------

    def claim(
        self,
        token: str,
        owner: str,
        *,
        lease_seconds: float | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> ClaimResult:
        """Try to take ``token`` for ``owner``; see ``ClaimOutcome`` for the answers.

        ``meta`` is merged under the stored meta: what the first claim wrote stays (values fixed
        per slot, e.g. the snapshot name a later delivery must send again).
        """
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
            own = current.owner == owner and current.state in LEASED_STATES
            taken = current.model_copy(
                update={
                    "state": TokenState.CLAIMED,
                    "owner": owner,
                    "version": current.version + 1,
                    # Re-taking one's own claim (after a lost answer) is not another delivery.
                    "attempts": current.attempts + (0 if own else 1),
                    "lease_until": now + lease,
                    "error_code": None,
                    "retryable": None,
                    "detail": None,
                    "meta": {**(meta or {}), **current.meta},
                    "updated_at": now,
                    # Activity on the slot renews the record, so a lease never outlives it.
                    "expires_at": max(current.expires_at, now + self.record_ttl_seconds),
                }
            )
            if self._cas(current.version, taken):
                self._held[(token, owner)] = taken
                kind = ClaimOutcome.RETRY if current.state is TokenState.FAILED else ClaimOutcome.TAKEOVER
                return ClaimResult(outcome=kind, record=taken)
        current = self._get(token)
        if current is None:
            raise TokenTableError(f"token {token}: could not settle a claim after repeated races")
        return ClaimResult(outcome=ClaimOutcome.BUSY, record=current)

    def _judge(self, current: TokenRecord, owner: str, now: float) -> ClaimOutcome | None:
        """The outcome for an existing record, or None when the caller may take it (over)."""
        if current.state is TokenState.CREATED:
            return ClaimOutcome.DONE
        if current.state is TokenState.FAILED:
            return None if current.retryable else ClaimOutcome.FAILED
        if current.owner != owner and not current.lease_expired(now, self.clock_skew):
            return ClaimOutcome.BUSY
        return None

    def mark_sent(
        self, token: str, owner: str, *, generation: int, lease_seconds: float | None = None
    ) -> TokenRecord:
        """Record, before sending it, that CreateSnapshot goes out with ``generation``'s ClientToken.

        Renews the lease too (``lease_seconds``, default the table's). ``LeaseLost`` when ``owner``
        no longer holds the slot: it must not send.
        """
        if generation < 0:
            raise ValueError("a generation is a whole number >= 0")
        lease = self.lease_seconds if lease_seconds is None else lease_seconds
        return self._write(
            token,
            owner,
            "sending",
            state=TokenState.SENT,
            generation=generation,
            in_doubt=True,
            lease_until=self.clock() + lease,
        )

    def renew_lease(self, token: str, owner: str, *, lease_seconds: float | None = None) -> TokenRecord:
        """Extend ``owner``'s lease (a heartbeat while it waits or retries). ``LeaseLost`` if gone."""
        lease = self.lease_seconds if lease_seconds is None else lease_seconds
        return self._write(token, owner, "renewing the lease", lease_until=self.clock() + lease)

    def settle_doubt(self, token: str, owner: str) -> TokenRecord:
        """Record that no request of this slot is in doubt any more (ECS was asked: nothing there)."""
        return self._write(token, owner, "settling the doubt", in_doubt=False)

    def complete(self, token: str, owner: str, snapshot_id: str) -> TokenRecord:
        """Record the snapshot made under ``owner``'s claim. Idempotent for the same snapshot."""
        return self._write(
            token,
            owner,
            "completion",
            state=TokenState.CREATED,
            snapshot_id=snapshot_id,
            in_doubt=False,
            lease_until=0.0,
        )

    def fail(
        self,
        token: str,
        owner: str,
        code: str,
        *,
        retryable: bool,
        generation: int | None = None,
        in_doubt: bool | None = None,
        detail: str | None = None,
    ) -> TokenRecord:
        """End ``owner``'s attempt with an error; a retryable one can be claimed again at once.

        ``generation``: the ClientToken generation the next attempt must use (after a definitive
        error answer, the next one); ``in_doubt``: whether a request may still have made a
        snapshot (None keeps the stored flag).
        """
        changes: dict[str, Any] = {
            "state": TokenState.FAILED,
            "error_code": code,
            "retryable": retryable,
            "detail": detail,
            "lease_until": 0.0,
        }
        if generation is not None:
            changes["generation"] = generation
        if in_doubt is not None:
            changes["in_doubt"] = in_doubt
        return self._write(token, owner, "the failure was recorded", **changes)

    def rearm(self, token: str, *, by: str = "operator") -> TokenRecord:
        """Make a FAILED record claimable again with a fresh delivery count and a new generation.

        ``RearmRefused`` for a record that holds a snapshot id or is in progress; ``LookupError``
        when there is no live record.
        """
        for _ in range(8):
            current = self.get(token)
            if current is None:
                raise LookupError(f"token {token}: no live record")
            if current.snapshot_id is not None or current.state is TokenState.CREATED:
                raise RearmRefused(f"token {token}: holds snapshot {current.snapshot_id}; not re-armed")
            if current.state is not TokenState.FAILED:
                raise RearmRefused(f"token {token}: {current.state.value} by {current.owner}; in progress")
            armed = current.model_copy(
                update={
                    "retryable": True,
                    "attempts": 0,
                    "generation": current.generation + 1,
                    "detail": f"re-armed by {by} after {current.error_code}",
                    "version": current.version + 1,
                    "updated_at": self.clock(),
                }
            )
            if self._cas(current.version, armed):
                return armed
        raise TokenTableError(f"token {token}: could not re-arm after repeated races")

    def reopen(self, token: str, snapshot_id: str, *, detail: str) -> TokenRecord:
        """CREATED(``snapshot_id``) -> FAILED(retryable): ECS reported the slot's snapshot ``failed``.

        The slot needs a new snapshot, made with the next ClientToken generation (the current one
        is ECS's record of the failed snapshot and would replay it), by whoever claims it next.
        The delivery count restarts (the slot had succeeded once), nothing is in doubt (the failed
        snapshot is known, and tag lookups skip failed snapshots). ``LookupError`` when there is
        no live record; ``RearmRefused`` when the record no longer holds that snapshot (another
        reconciler reopened it first, or it moved on).
        """
        for _ in range(8):
            current = self.get(token)
            if current is None:
                raise LookupError(f"token {token}: no live record")
            if current.state is not TokenState.CREATED or current.snapshot_id != snapshot_id:
                raise RearmRefused(
                    f"token {token}: {current.state.value} with {current.snapshot_id}, not {snapshot_id}"
                )
            now = self.clock()
            reopened = current.model_copy(
                update={
                    "state": TokenState.FAILED,
                    "snapshot_id": None,
                    "error_code": "SnapshotFailed",
                    "retryable": True,
                    "detail": detail,
                    "attempts": 0,
                    "generation": current.generation + 1,
                    "in_doubt": False,
                    "lease_until": 0.0,
                    "version": current.version + 1,
                    "updated_at": now,
                    "expires_at": max(current.expires_at, now + self.record_ttl_seconds),
                }
            )
            if self._cas(current.version, reopened):
                return reopened
        raise TokenTableError(f"token {token}: could not reopen after repeated races")

    def get(self, token: str) -> TokenRecord | None:
        """The live record of ``token``, or None (expired records read as absent)."""
        record = self._get(token)
        if record is None or record.expires_at <= self.clock():
            return None
        return record

    def get_many(self, tokens: Iterable[str]) -> dict[str, TokenRecord]:
        """The live records of ``tokens`` (absent and expired ones left out), in bulk."""
        wanted = list(dict.fromkeys(tokens))
        if not wanted:
            return {}
        now = self.clock()
        return {t: r for t, r in self._get_many(wanted).items() if r.expires_at > now}

    def records(self, *, state: TokenState | None = None) -> list[TokenRecord]:
        """Live records for audits, newest first, optionally only those in ``state``."""
        now = self.clock()
        rows = [r for r in self._scan() if r.expires_at > now and (state is None or r.state is state)]
        return sorted(rows, key=lambda r: r.updated_at, reverse=True)

    def unfinished_records(self) -> list[TokenRecord]:
        """Live records that are not CREATED (claimed, sent, failed of either kind), oldest first:
        what a reconciler looks through. A backend may narrow its scan (``_scan_unfinished``)."""
        now = self.clock()
        rows = [
            r for r in self._scan_unfinished() if r.expires_at > now and r.state is not TokenState.CREATED
        ]
        return sorted(rows, key=lambda r: r.created_at)

    def _scan_unfinished(self) -> Iterator[TokenRecord]:
        """Stored records that may not be CREATED (a superset is fine: the caller filters again)."""
        return self._scan()

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
                # (a write whose answer was lost reads back as this very record)
                if self._put_if_absent(record) or self._get(key) == record:
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
                if self._cas(current.version, record):
                    return record
        raise TokenTableError(f"record {key}: could not settle an update after repeated races")

    # -- helpers ----------------------------------------------------------------------------------

    def _cas(self, expected_version: int, record: TokenRecord) -> bool:
        """Compare-and-set that also succeeds when the intended record is already in place (the
        same write, repeated after its answer was lost)."""
        if self._compare_and_set(expected_version, record):
            return True
        return self._get(record.token) == record

    def _write(self, token: str, owner: str, what: str, **changes: Any) -> TokenRecord:
        """Change ``owner``'s record: one CAS against the record our last write left when we still
        hold it (no read), else read, check the owner and CAS."""
        held = self._held.pop((token, owner), None)
        if held is not None and held.expires_at > self.clock():
            done = self._changed(held, changes)
            if self._cas(held.version, done):
                self._keep(token, owner, done)
                return done
        current = self._require(token)
        if current.state is TokenState.CREATED and current.snapshot_id == changes.get("snapshot_id", False):
            return current  # completed already with this very snapshot
        self._check_owner(current, owner)
        done = self._changed(current, changes)
        if not self._cas(current.version, done):
            raise LeaseLost(f"token {token}: the claim changed hands before {what}")
        self._keep(token, owner, done)
        return done

    def _keep(self, token: str, owner: str, record: TokenRecord) -> None:
        if record.state in LEASED_STATES:
            self._held[(token, owner)] = record

    def _changed(self, record: TokenRecord, changes: dict[str, Any]) -> TokenRecord:
        update = {**changes, "version": record.version + 1, "updated_at": self.clock()}
        return record.model_copy(update=update)

    def _require(self, token: str) -> TokenRecord:
        # Live records only: completing an expired record would store a result that already reads as
        # absent, so the next claim would start the slot over and snapshot it a second time.
        current = self.get(token)
        if current is None:
            raise LeaseLost(f"token {token}: no record (never claimed, or expired and purged)")
        return current

    @staticmethod
    def _check_owner(current: TokenRecord, owner: str) -> None:
        if current.state not in LEASED_STATES or current.owner != owner:
            raise LeaseLost(
                f"token {current.token}: held by {current.owner!r} "
                f"in state {current.state.value}, not {owner!r}"
            )
