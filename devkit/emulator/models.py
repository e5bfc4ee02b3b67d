"""State and rules of the ECS emulator (the moto "models" layer): no HTTP here.

One ``EcsState`` holds an account, instances, disks, snapshots, KMS keys, shared block storage
volumes and the ClientToken table, behind one lock. Every rule of the CreateSnapshot contract
that depends on state lives here, in the order ``_check_disk`` documents; parameter rules come
from ``snapstack.ecs.request.CreateSnapshotRequest`` so server and client never drift.

Time is virtual (``VirtualClock``): snapshots progress, complete and expire (RetentionDays)
against it, so tests control the lifecycle without sleeping. Work that depends on time is
evaluated lazily: a snapshot's status is computed from its start time and duration when read,
and expired snapshots are released by the next operation that takes the lock.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import heapq
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, TypeVar

from snapstack.ecs.errors import ERRORS
from snapstack.ecs.request import CreateSnapshotRequest

#: Manual snapshots one disk may hold (the seed's first "cannot create" scenario).
MANUAL_SNAPSHOT_QUOTA = 256
DAY = 86400.0

INSTANCE_STATUSES = frozenset({"Pending", "Starting", "Running", "Stopping", "Stopped"})
DISK_STATUSES = frozenset(
    {"In_use", "Available", "Attaching", "Detaching", "Creating", "ReIniting", "Expired"}
)
#: Disk states a snapshot can be taken in (the seed allows Expired explicitly).
SNAPSHOTTABLE_DISK_STATUSES = frozenset({"In_use", "Available", "Expired"})
DISK_TYPES = frozenset({"system", "data"})
#: Local (instance-store) disks: no snapshots at all -> IncorrectDiskType.NotSupport.
LOCAL_CATEGORIES = frozenset({"local_ssd_pro", "local_hdd_pro", "ephemeral", "ephemeral_ssd"})
#: Elastic ephemeral disks are EBS devices without snapshot support -> DiskId.ValueNotSupported.
NO_SNAPSHOT_CATEGORIES = frozenset({"elastic_ephemeral_disk_standard", "elastic_ephemeral_disk_premium"})
#: Shared block storage (the contract's "volume").
SHARED_CATEGORIES = frozenset({"san_ssd", "san_efficiency"})
#: The seed: instant access "can be enabled only for enhanced SSDs (ESSDs)".
ESSD_CATEGORIES = frozenset({"cloud_essd"})
DISK_CATEGORIES = (
    frozenset({"cloud", "cloud_efficiency", "cloud_ssd", "cloud_essd", "cloud_auto", "cloud_essd_entry"})
    | LOCAL_CATEGORIES
    | NO_SNAPSHOT_CATEGORIES
    | SHARED_CATEGORIES
)
VOLUME_OK_STATUSES = frozenset({"Available", "In_use"})
KMS_KEY_STATES = frozenset({"Enabled", "Disabled", "PendingDeletion"})
SNAPSHOT_STATUSES = frozenset({"progressing", "accomplished", "failed"})
SNAPSHOT_TYPES = frozenset({"user", "auto"})
SNAPSHOT_USAGES = frozenset({"none", "disk", "image", "image_disk"})
#: What DeleteSnapshot does to a progressing snapshot (``account.delete_progressing``): the API
#: reference says the creation task is cancelled, and its error table lists
#: IncorrectDiskStatus.CreatingSnapshot (HTTP 400) for it; "refuse" answers that code.
DELETE_PROGRESSING = frozenset({"refuse", "cancel"})


class ApiError(Exception):
    """An API error answer: the code, its HTTP status and message from the taxonomy.

    ``status`` overrides the taxonomy's when one API answers a code with another status.
    """

    def __init__(self, code: str, detail: str | None = None, *, status: int | None = None) -> None:
        spec = ERRORS[code]
        message = spec.message
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = spec.status if status is None else status
        self.detail = detail
        self.message = f"{message} ({detail})" if detail else message


def known_code(code: str) -> bool:
    """True when the emulator can answer ``code`` (it is in the taxonomy)."""
    return code in ERRORS


# --- time -----------------------------------------------------------------------------------------


def iso(epoch: float) -> str:
    """ECS's timestamp format, UTC, second precision."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | float) -> float:
    """Epoch seconds from an ISO-8601 string (``Z`` or offset) or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class VirtualClock:
    """Virtual time: frozen unless advanced (``rate`` 0), or running at ``rate`` x real time.

    It never moves backwards, so a completed snapshot never turns back into a progressing one.
    """

    def __init__(self, start: float, rate: float = 0.0) -> None:
        if rate < 0:
            raise ValueError("clock rate must be >= 0")
        self._lock = threading.Lock()
        self._base = start
        self._anchor = time.monotonic()
        self._rate = rate

    def now(self) -> float:
        """Current virtual time, epoch seconds."""
        if not self._rate:
            return self._base
        return self._base + (time.monotonic() - self._anchor) * self._rate

    @property
    def rate(self) -> float:
        """Virtual seconds per real second."""
        return self._rate

    def set(self, epoch: float) -> None:
        """Jump to ``epoch`` (not earlier than now)."""
        with self._lock:
            if epoch < self.now():
                raise ValueError("the virtual clock cannot move backwards")
            self._base, self._anchor = epoch, time.monotonic()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("advance takes a non-negative number of seconds")
        with self._lock:
            self._base, self._anchor = self.now() + seconds, time.monotonic()

    def set_rate(self, rate: float) -> None:
        """Change the speed from now on (0 freezes the clock)."""
        if rate < 0:
            raise ValueError("clock rate must be >= 0")
        with self._lock:
            self._base, self._anchor, self._rate = self.now(), time.monotonic(), rate

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``now`` (ISO), ``epoch`` and ``rate``."""
        now = self.now()
        return {"now": iso(now), "epoch": now, "rate": self._rate}


# --- entities --------------------------------------------------------------------------------------

_RUNTIME = {"runtime": True}  # field metadata: kept by the emulator, never read from a fixture


@dataclass
class Account:
    """Account-wide switches the contract's account codes depend on."""

    snapshot_service_activated: bool = True
    balance_ok: bool = True
    used_local_snapshot_before_2020_12_14: bool = False
    kms_authorized: bool = True  # ECS holds the KMS grant (else KMSUnauthorized for encrypted disks)
    snapshot_seconds: float = 120.0  # virtual seconds a snapshot takes, unless the disk says otherwise
    delete_progressing: str = "refuse"  # DeleteSnapshot on a progressing snapshot: refuse | cancel


@dataclass
class Instance:
    """An ECS instance: its status and operation locks gate snapshots of its disks."""

    instance_id: str
    name: str = ""
    status: str = "Running"
    zone_id: str = ""
    ever_started: bool = True
    lock_reasons: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
    seq: int = field(default=0, metadata=_RUNTIME)


@dataclass
class Disk:
    """A block device and every flag a CreateSnapshot rule reads."""

    disk_id: str
    instance_id: str | None = None
    type: str = "data"
    category: str = "cloud_essd"
    size: int = 40
    status: str = ""  # defaults to In_use when attached, else Available
    name: str = ""
    description: str = ""
    zone_id: str = ""
    device: str = ""
    portable: bool = True
    kms_key_id: str | None = None
    volume_id: str | None = None  # shared block storage: the volume this device belongs to
    ever_attached: bool = True
    ever_used: bool = True
    in_arrears: bool = False
    transferring: bool = False
    status_invalid: bool = False
    snapshot_seconds: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0
    seq: int = field(default=0, metadata=_RUNTIME)
    creating: str | None = field(default=None, metadata=_RUNTIME)  # id of the snapshot in progress
    manual_count: int = field(default=0, metadata=_RUNTIME)


@dataclass(slots=True)  # benchmarks hold hundreds of thousands of them
class Snapshot:
    """A snapshot; status and progress are derived from the virtual clock."""

    snapshot_id: str
    disk_id: str
    source_disk_type: str = "data"
    source_disk_size: int = 40
    instance_id: str | None = None
    name: str = ""
    description: str = ""
    category: str = "standard"
    snapshot_type: str = "user"
    status: str = "accomplished"  # stored status; "progressing" resolves against the clock
    creation_time: float = 0.0
    duration: float = 0.0
    retention_days: int | None = None
    instant_access: bool = False
    instant_access_retention_days: int | None = None
    usage: str = "none"
    resource_group_id: str = ""
    kms_key_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    client_token: str | None = None
    seq: int = field(default=0, metadata=_RUNTIME)

    def status_at(self, now: float) -> str:
        """progressing / accomplished / failed at virtual time ``now``."""
        if self.status == "progressing" and now >= self.creation_time + self.duration:
            return "accomplished"
        return self.status

    def progress_at(self, now: float) -> int:
        """Percent complete at ``now`` (100 once accomplished; a failed snapshot stays where it was)."""
        status = self.status_at(now)
        if status == "accomplished":
            return 100
        if status == "failed" or self.duration <= 0:
            return 0
        return min(99, int(100 * (now - self.creation_time) / self.duration))

    def instant_access_at(self, now: float) -> bool:
        """Instant access is on until its retention period ends."""
        if not self.instant_access:
            return False
        days = self.instant_access_retention_days or self.retention_days
        return days is None or now < self.creation_time + days * DAY

    def view(self, now: float) -> dict[str, Any]:
        """A plain-dict copy with the time-derived fields resolved."""
        out = _plain(self)
        out.update(
            status=self.status_at(now),
            progress=self.progress_at(now),
            instant_access=self.instant_access_at(now),
            creation_time=iso(self.creation_time),
        )
        return out


_E = TypeVar("_E", Instance, Disk, Snapshot, Account)


def _plain(entity: Any) -> dict[str, Any]:
    """Fields of a dataclass as a dict, with containers copied (safe to hand out of the lock)."""
    return {f.name: copy.copy(getattr(entity, f.name)) for f in fields(entity)}


_SCHEMAS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}


def _schema(cls: type) -> tuple[frozenset[str], tuple[str, ...]]:
    """A fixture entity's allowed keys and its required ones, worked out once per class (fleets
    build hundreds of thousands of entities)."""
    if cls.__name__ not in _SCHEMAS:
        allowed = [f for f in fields(cls) if not f.metadata.get("runtime")]
        required = tuple(f.name for f in allowed if f.default is MISSING and f.default_factory is MISSING)
        _SCHEMAS[cls.__name__] = frozenset(f.name for f in allowed), required
    return _SCHEMAS[cls.__name__]


def _build(cls: type[_E], raw: Mapping[str, Any], where: str) -> _E:
    """Construct an entity from fixture data, refusing unknown or runtime-only keys."""
    allowed, required = _schema(cls)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [n for n in required if n not in raw]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    data = dict(raw)
    if "creation_time" in data:
        data["creation_time"] = parse_time(data["creation_time"])
    return cls(**data)


def _require(value: object, allowed: Iterable[object], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(map(str, allowed))}, not {value!r}")


# --- queries ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagFilter:
    """``Tag.N.Key`` (and optional ``Tag.N.Value``) filters; all must match."""

    pairs: tuple[tuple[str, str | None], ...] = ()

    def matches(self, tags: Mapping[str, str]) -> bool:
        """True when every (key, value) pair is on ``tags`` (value None: any value)."""
        return all(k in tags and (v is None or tags[k] == v) for k, v in self.pairs)


@dataclass(frozen=True)
class DiskFilter:
    """DescribeDisks filters (None: not filtered)."""

    region_id: str
    disk_ids: frozenset[str] | None = None
    instance_id: str | None = None
    disk_type: str | None = None
    status: str | None = None
    category: str | None = None
    zone_id: str | None = None
    tags: TagFilter = TagFilter()


@dataclass(frozen=True)
class SnapshotFilter:
    """DescribeSnapshots filters (None: not filtered)."""

    region_id: str
    snapshot_ids: frozenset[str] | None = None
    disk_id: str | None = None
    instance_id: str | None = None
    status: str | None = None
    snapshot_type: str | None = None
    source_disk_type: str | None = None
    snapshot_name: str | None = None
    usage: str | None = None
    tags: TagFilter = TagFilter()


@dataclass(frozen=True)
class InstanceFilter:
    """DescribeInstances filters (None: not filtered)."""

    region_id: str
    instance_ids: frozenset[str] | None = None
    status: str | None = None
    tags: TagFilter = TagFilter()


@dataclass(frozen=True)
class PageRequest:
    """One page: ``limit`` items after the item with sequence ``after`` (token paging) or at
    ``offset`` (legacy PageNumber/PageSize)."""

    limit: int
    after: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class Page:
    """A page of plain-dict views; ``last_seq`` is set when more items follow."""

    items: list[dict[str, Any]]
    total: int
    last_seq: int | None


#: How many queries' matches ``_kept`` holds before it starts over.
_KEPT_QUERIES = 16


def _kept(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], scan: Callable[[], Any]) -> Any:
    """``scan()``'s matches for a query ``key`` that names the filter and the state version it
    depends on, computed once while that version stands: walking a listing page by page filters
    once, not once per page (each pass holds the lock CreateSnapshot needs; a real ECS's listings
    do not slow its creates, and 100 passes over 50,000 disks did). Caller holds the lock."""
    if key not in cache:
        if len(cache) >= _KEPT_QUERIES:
            cache.clear()
        cache[key] = scan()
    return cache[key]


def _pool(entities: Mapping[str, Any], ids: frozenset[str] | None) -> list[Any]:
    """The entities to filter, in creation order: every one, or only the ids a query names."""
    if ids is None:
        return list(entities.values())
    return sorted((entities[i] for i in ids if i in entities), key=lambda e: e.seq)


def _paginate(matches: list[Any], page: PageRequest) -> tuple[list[Any], bool]:
    """One page of ``matches`` (ascending seq): the chunk, and whether more follow."""
    if page.after is not None:
        start = bisect.bisect_right(matches, page.after, key=lambda e: e.seq)
    else:
        start = page.offset
    chunk = matches[start : start + page.limit]
    return chunk, start + page.limit < len(matches)


@dataclass(frozen=True)
class _Matches:
    """One query's matching snapshots, newest first (descending seq), ready to page by token."""

    items: list[Snapshot]

    def page(self, page: PageRequest) -> tuple[list[Snapshot], bool]:
        if page.after is None:
            start = page.offset
        else:  # the first item older than the token's; seqs descend, so bisect on their negation
            start = bisect.bisect_right(self.items, -page.after, key=lambda s: -s.seq)
        chunk = self.items[start : start + page.limit]
        return chunk, start + page.limit < len(self.items)


# --- idempotence ----------------------------------------------------------------------------------


#: How ECS treats a ClientToken whose first request was refused by a state rule (``token_errors``):
#: ``remember`` answers every repeat with unchanged parameters with that first error, as ECS's
#: idempotence guide describes a used token (doc-detail/25693,
#: https://www.alibabacloud.com/help/en/ecs/developer-reference/how-to-ensure-idempotence);
#: ``release`` forgets the token, so a repeat is evaluated afresh.
TOKEN_ERROR_MODES = frozenset({"remember", "release"})
DEFAULT_TOKEN_ERRORS = "remember"


@dataclass
class _TokenRecord:
    fingerprint: tuple[Any, ...]
    snapshot_id: str | None = None  # None while the first request is still being processed
    error: tuple[str, str] | None = None  # (code, detail) of a remembered refusal


@dataclass(frozen=True)
class CreateTicket:
    """A CreateSnapshot request that passed the account and ClientToken checks.

    ``replay`` holds the SnapshotId when the token already produced one (same parameters).
    """

    request: CreateSnapshotRequest
    replay: str | None = None


def _fingerprint(req: CreateSnapshotRequest) -> tuple[Any, ...]:
    # Everything but the token; tag order does not change the request's meaning.
    query = req.to_query()
    plain = tuple(sorted((k, v) for k, v in query.items() if k != "ClientToken" and not k.startswith("Tag.")))
    return plain, tuple(sorted((t.key, t.value) for t in req.tags))


# --- the state ------------------------------------------------------------------------------------

DEFAULT_REGION = "cn-hangzhou"
DEFAULT_START = "2024-06-01T00:00:00Z"


class EcsState:
    """The emulated region: thread-safe, every public method takes the one lock."""

    def __init__(self, fleet: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.RLock()
        self.load(fleet or {})

    # --- loading and dumping ----------------------------------------------------------------------

    def load(self, fleet: Mapping[str, Any]) -> None:
        """Replace the whole state with a fleet fixture (see README.md for the format).

        Raises ``ValueError`` naming the offending entry; the old state stays on failure.
        """
        known = {
            "region_id",
            "id_seed",
            "clock",
            "account",
            "kms_keys",
            "volumes",
            "instances",
            "disks",
            "token_errors",
        }
        unknown = sorted(set(fleet) - known - {"snapshots", "description"})
        if unknown:
            raise ValueError(f"fleet: unknown key(s) {unknown}")
        clock_raw = dict(fleet.get("clock") or {})
        clock = VirtualClock(
            parse_time(clock_raw.pop("now", DEFAULT_START)), float(clock_raw.pop("rate", 0.0))
        )
        if clock_raw:
            raise ValueError(f"fleet.clock: unknown key(s) {sorted(clock_raw)}")
        account = _build(Account, fleet.get("account") or {}, "fleet.account")
        _require(account.delete_progressing, DELETE_PROGRESSING, "fleet.account.delete_progressing")
        kms_keys = dict(fleet.get("kms_keys") or {})
        for key, state in kms_keys.items():
            _require(state, KMS_KEY_STATES, f"kms_keys[{key}]")
        volumes = dict(fleet.get("volumes") or {})
        token_errors = str(fleet.get("token_errors") or DEFAULT_TOKEN_ERRORS)
        _require(token_errors, TOKEN_ERROR_MODES, "fleet.token_errors")
        instances: dict[str, Instance] = {}
        for n, raw in enumerate(fleet.get("instances") or []):
            inst = _build(Instance, {"creation_time": clock.now(), **raw}, f"fleet.instances[{n}]")
            _require(inst.status, INSTANCE_STATUSES, f"instance {inst.instance_id} status")
            if inst.instance_id in instances:
                raise ValueError(f"duplicate instance {inst.instance_id}")
            inst.seq = n + 1
            instances[inst.instance_id] = inst
        disks: dict[str, Disk] = {}
        for n, raw in enumerate(fleet.get("disks") or []):
            disk = _build(Disk, {"creation_time": clock.now(), **raw}, f"fleet.disks[{n}]")
            disk.status = disk.status or ("In_use" if disk.instance_id else "Available")
            _require(disk.status, DISK_STATUSES, f"disk {disk.disk_id} status")
            _require(disk.type, DISK_TYPES, f"disk {disk.disk_id} type")
            _require(disk.category, DISK_CATEGORIES, f"disk {disk.disk_id} category")
            if disk.disk_id in disks:
                raise ValueError(f"duplicate disk {disk.disk_id}")
            disk.seq = n + 1
            disks[disk.disk_id] = disk
        with self._lock:
            self.region_id: str = str(fleet.get("region_id") or DEFAULT_REGION)
            self.clock = clock
            self.account = account
            self._kms_keys = kms_keys
            self._volumes = volumes
            self._instances = instances
            self._disks = disks
            self._snapshots: dict[str, Snapshot] = {}
            self._by_disk: dict[str, dict[str, Snapshot]] = {}  # disk id -> its snapshots, oldest first
            self._version = 0  # bumped by every change to the snapshots (keys snapshot queries)
            # Bumped by every change to disks and instances (keys disk and instance queries; a
            # snapshot's creation does not change what their filters match).
            self._fleet_version = 0
            self._queries: dict[tuple[Any, ...], Any] = {}  # see ``_kept``
            self._tokens: dict[str, _TokenRecord] = {}
            self.token_errors = token_errors
            self._expiry: list[tuple[float, int, str]] = []
            self._seq = len(instances) + len(disks)
            self._id_seed = str(fleet.get("id_seed", 0))
            self._id_counter = 0
            for n, raw in enumerate(fleet.get("snapshots") or []):
                self._add_fixture_snapshot(raw, f"fleet.snapshots[{n}]")

    def _add_fixture_snapshot(self, raw: Mapping[str, Any], where: str) -> None:
        snap = _build(Snapshot, raw, where)
        _require(snap.status, SNAPSHOT_STATUSES, f"{where}.status")
        _require(snap.snapshot_type, SNAPSHOT_TYPES, f"{where}.snapshot_type")
        _require(snap.usage, SNAPSHOT_USAGES, f"{where}.usage")
        if snap.snapshot_id in self._snapshots:
            raise ValueError(f"duplicate snapshot {snap.snapshot_id}")
        if "creation_time" not in raw:
            snap.creation_time = self.clock.now()
        disk = self._disks.get(snap.disk_id)
        if disk is not None:  # what the fixture leaves out comes from the source disk
            for name, value in (
                ("instance_id", disk.instance_id),
                ("source_disk_type", disk.type),
                ("source_disk_size", disk.size),
                ("kms_key_id", disk.kms_key_id),
            ):
                if name not in raw:
                    setattr(snap, name, value)
        self._insert(snap, disk)

    def _insert(self, snap: Snapshot, disk: Disk | None) -> None:
        self._seq += 1
        snap.seq = self._seq
        self._snapshots[snap.snapshot_id] = snap
        self._by_disk.setdefault(snap.disk_id, {})[snap.snapshot_id] = snap
        self._version += 1
        if disk is not None:
            if snap.snapshot_type == "user":
                disk.manual_count += 1
            if snap.status_at(self.clock.now()) == "progressing":
                disk.creating = snap.snapshot_id
        if snap.retention_days is not None:
            heapq.heappush(
                self._expiry, (snap.creation_time + snap.retention_days * DAY, snap.seq, snap.snapshot_id)
            )

    def dump(self) -> dict[str, Any]:
        """The full state as JSON-able data (what ``GET /_emulator/state`` returns)."""
        with self._lock:
            now = self._tick()
            return {
                "region_id": self.region_id,
                "clock": self.clock.to_dict(),
                "account": _plain(self.account),
                "kms_keys": dict(self._kms_keys),
                "volumes": dict(self._volumes),
                "instances": [self._instance_view(i) for i in self._instances.values()],
                "disks": [self._disk_view(d, now) for d in self._disks.values()],
                "snapshots": [s.view(now) for s in self._snapshots.values()],
                "token_errors": self.token_errors,
                "client_tokens": {
                    t: {
                        "snapshot_id": r.snapshot_id,
                        "processing": r.snapshot_id is None and r.error is None,
                        "error": None if r.error is None else r.error[0],
                    }
                    for t, r in self._tokens.items()
                },
            }

    # --- direct access for tests and the control API ----------------------------------------------

    def snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        """A snapshot's view, or None when it does not exist (never existed, deleted or expired)."""
        with self._lock:
            now = self._tick()
            snap = self._snapshots.get(snapshot_id)
            return None if snap is None else snap.view(now)

    def snapshots(self, disk_id: str | None = None) -> list[dict[str, Any]]:
        """Views of every snapshot, oldest first, optionally of one disk."""
        with self._lock:
            now = self._tick()
            return [s.view(now) for s in self._snapshots.values() if disk_id in (None, s.disk_id)]

    def disk(self, disk_id: str) -> dict[str, Any]:
        """A disk's view (KeyError if unknown)."""
        with self._lock:
            return self._disk_view(self._disks[disk_id], self._tick())

    def instance(self, instance_id: str) -> dict[str, Any]:
        """An instance's view (KeyError if unknown)."""
        with self._lock:
            return self._instance_view(self._instances[instance_id])

    def patch_account(self, **changes: Any) -> None:
        """Change account switches, e.g. ``balance_ok=False``."""
        with self._lock:
            _patch(self.account, changes)
            _require(self.account.delete_progressing, DELETE_PROGRESSING, "delete_progressing")

    def patch_disk(self, disk_id: str, **changes: Any) -> None:
        """Change fixture fields of a disk, e.g. ``status="Attaching"``."""
        with self._lock:
            disk = self._disks[disk_id]
            _patch(disk, changes)
            _require(disk.status, DISK_STATUSES, "status")
            _require(disk.category, DISK_CATEGORIES, "category")
            self._fleet_version += 1

    def patch_instance(self, instance_id: str, **changes: Any) -> None:
        """Change fixture fields of an instance, e.g. ``status="Stopping"``."""
        with self._lock:
            inst = self._instances[instance_id]
            _patch(inst, changes)
            _require(inst.status, INSTANCE_STATUSES, "status")
            self._fleet_version += 1

    def set_kms_key(self, key_id: str, state: str | None) -> None:
        """Set a KMS key's state, or delete the key with None."""
        with self._lock:
            if state is None:
                self._kms_keys.pop(key_id, None)
            else:
                _require(state, KMS_KEY_STATES, "KMS key state")
                self._kms_keys[key_id] = state

    def set_volume(self, volume_id: str, status: str | None) -> None:
        """Set a shared block storage volume's status, or delete it with None."""
        with self._lock:
            if status is None:
                self._volumes.pop(volume_id, None)
            else:
                self._volumes[volume_id] = status

    def patch_snapshot(self, snapshot_id: str, **changes: Any) -> None:
        """Change fixture fields of a snapshot, e.g. ``usage="disk"`` (a disk was created from it)
        or ``status="failed"``; KeyError if unknown."""
        if {"snapshot_id", "disk_id"} & set(changes):
            raise ValueError("a snapshot's id and disk cannot change")
        with self._lock:
            snap = self._snapshots[snapshot_id]
            _patch(snap, changes)
            _require(snap.usage, SNAPSHOT_USAGES, "usage")
            _require(snap.status, SNAPSHOT_STATUSES, "status")
            self._version += 1

    def release_disk(self, disk_id: str) -> None:
        """Release (delete) a disk; its manual snapshots stay, as ECS keeps them. KeyError if unknown."""
        with self._lock:
            del self._disks[disk_id]
            self._version += 1
            self._fleet_version += 1

    def add_snapshots(self, raws: Iterable[Mapping[str, Any]]) -> None:
        """Add snapshots in fixture form (e.g. to fill a disk's quota without 256 calls)."""
        with self._lock:
            for n, raw in enumerate(raws):
                self._add_fixture_snapshot(raw, f"snapshots[{n}]")

    # --- ClientTokens ---------------------------------------------------------------------------------

    def set_token_errors(self, mode: str) -> None:
        """``remember`` or ``release`` the first error of a ClientToken (see ``TOKEN_ERROR_MODES``)."""
        _require(mode, TOKEN_ERROR_MODES, "token_errors")
        with self._lock:
            self.token_errors = mode

    def forget_client_tokens(self) -> int:
        """Forget every ClientToken not in flight (as ECS does after a while); returns how many went."""
        with self._lock:
            done = [t for t, r in self._tokens.items() if r.snapshot_id is not None or r.error is not None]
            for token in done:
                del self._tokens[token]
            return len(done)

    # --- CreateSnapshot -----------------------------------------------------------------------------

    def begin_create(self, req: CreateSnapshotRequest) -> CreateTicket:
        """Account checks and the ClientToken claim; the state checks wait for ``commit_create``.

        A token seen before with the same parameters replays its SnapshotId (or, in ``remember``
        mode, the error its first request got); with other parameters ->
        IdempotentParameterMismatch; while its first request is still between begin and commit
        -> IdempotentProcessing.
        """
        with self._lock:
            self._tick()
            if not self.account.snapshot_service_activated:
                raise ApiError("InvalidAccountStatus.SnapshotServiceUnavailable")
            if not self.account.balance_ok:
                raise ApiError("InvalidAccountStatus.NotEnoughBalance")
            if req.category is not None and not self.account.used_local_snapshot_before_2020_12_14:
                raise ApiError(
                    "InvalidSnapshotCategory.Malformed",
                    "Category is only for accounts that used local snapshots before 2020-12-14",
                )
            token = req.client_token
            if not token:
                return CreateTicket(req)
            fingerprint = _fingerprint(req)
            record = self._tokens.get(token)
            if record is None:
                self._tokens[token] = _TokenRecord(fingerprint)
                return CreateTicket(req)
            if record.fingerprint != fingerprint:
                raise ApiError("IdempotentParameterMismatch")
            if record.error is not None:
                raise ApiError(*record.error)
            if record.snapshot_id is None:
                raise ApiError("IdempotentProcessing")
            return CreateTicket(req, replay=record.snapshot_id)

    def commit_create(self, ticket: CreateTicket) -> str:
        """Run the disk/instance rules and create the snapshot; returns its SnapshotId.

        On a state-rule error the token keeps that error (``remember``) or is released, so a
        later request is evaluated afresh (``release``).
        """
        if ticket.replay is not None:
            return ticket.replay
        req = ticket.request
        with self._lock:
            try:
                snapshot_id = self._create(req)
            except ApiError as err:
                record = self._tokens.get(req.client_token or "")
                if self.token_errors == "remember" and record is not None and record.snapshot_id is None:
                    record.error = (err.code, err.detail or "")
                else:
                    self.abort_create(ticket)
                raise
            except BaseException:
                self.abort_create(ticket)
                raise
            if req.client_token:
                self._tokens[req.client_token].snapshot_id = snapshot_id
            return snapshot_id

    def abort_create(self, ticket: CreateTicket) -> None:
        """Release the ClientToken claim of a ticket that will not be committed."""
        token = ticket.request.client_token
        if ticket.replay is None and token:
            with self._lock:
                record = self._tokens.get(token)
                if record is not None and record.snapshot_id is None and record.error is None:
                    del self._tokens[token]

    def create_snapshot(self, req: CreateSnapshotRequest) -> str:
        """``begin_create`` then ``commit_create`` (direct model use, no latency in between)."""
        return self.commit_create(self.begin_create(req))

    def _create(self, req: CreateSnapshotRequest) -> str:
        now = self._tick()
        disk = self._disks.get(req.disk_id)
        if disk is None:
            raise ApiError("InvalidDiskId.NotFound", req.disk_id)
        self._check_disk(disk, req, now)
        duration = (
            disk.snapshot_seconds if disk.snapshot_seconds is not None else self.account.snapshot_seconds
        )
        snap = Snapshot(
            snapshot_id=self._new_id("s"),
            disk_id=disk.disk_id,
            source_disk_type=disk.type,
            source_disk_size=disk.size,
            instance_id=disk.instance_id,
            name=req.snapshot_name or "",
            description=req.description or "",
            category=(req.category or "Standard").lower(),
            snapshot_type="user",
            status="progressing" if duration > 0 else "accomplished",
            creation_time=now,
            duration=max(0.0, duration),
            retention_days=req.retention_days,
            instant_access=bool(req.instant_access),
            instant_access_retention_days=req.instant_access_retention_days,
            resource_group_id=req.resource_group_id or "",
            kms_key_id=disk.kms_key_id,
            tags={t.key: t.value for t in req.tags},
            client_token=req.client_token or None,
        )
        self._insert(snap, disk)
        return snap.snapshot_id

    def _check_disk(self, disk: Disk, req: CreateSnapshotRequest, now: float) -> None:
        """The state rules, in the order the README's table lists them."""
        if disk.category in NO_SNAPSHOT_CATEGORIES:
            raise ApiError("DiskId.ValueNotSupported", disk.category)
        if disk.category in LOCAL_CATEGORIES:
            raise ApiError("IncorrectDiskType.NotSupport", disk.category)
        if disk.volume_id is not None:
            volume = self._volumes.get(disk.volume_id)
            if volume is None:
                raise ApiError("InvalidVolumeId.NotFound", disk.volume_id)
            if volume not in VOLUME_OK_STATUSES:
                raise ApiError("IncorrectVolumeStatus", f"{disk.volume_id} is {volume}")
        if disk.instance_id:
            inst = self._instances.get(disk.instance_id)
            if inst is None:
                raise ApiError("InvalidInstanceId.NotFound", disk.instance_id)
            if "security" in inst.lock_reasons:
                raise ApiError("InstanceLockedForSecurity")
            if not inst.ever_started:
                raise ApiError("IncorrectInstanceStatus", f"{inst.instance_id} has never been started")
            if inst.status not in ("Running", "Stopped"):
                raise ApiError("IncorrectInstanceStatus", f"{inst.instance_id} is {inst.status}")
        if disk.in_arrears:
            raise ApiError("DiskInArrears")
        if disk.transferring:
            raise ApiError("IncorrectDiskStatus.Transferring")
        if disk.status_invalid:
            raise ApiError("IncorrectDiskStatus.Invalid")
        if disk.status not in SNAPSHOTTABLE_DISK_STATUSES:
            raise ApiError("IncorrectDiskStatus", f"{disk.disk_id} is {disk.status}")
        if not disk.ever_attached:
            raise ApiError("IncorrectDiskStatus.NeverAttached")
        if not disk.ever_used:
            raise ApiError("IncorrectDiskStatus.NeverUsed")
        if disk.kms_key_id is not None:
            key_state = self._kms_keys.get(disk.kms_key_id)
            if key_state is None:
                raise ApiError("InvalidParameter.KMSKeyId.NotFound", disk.kms_key_id)
            if not self.account.kms_authorized:
                raise ApiError("InvalidParameter.KMSKeyId.KMSUnauthorized")
            if key_state != "Enabled":
                raise ApiError("InvalidParameter.KMSKeyId.CMKNotEnabled", f"{disk.kms_key_id} is {key_state}")
        if req.instant_access and disk.category not in ESSD_CATEGORIES:
            raise ApiError(
                "DiskCategory.OperationNotSupported", f"instant access needs ESSD, not {disk.category}"
            )
        if self._creating(disk, now) is not None:
            raise ApiError("IncorrectDiskStatus.CreatingSnapshot")
        if disk.manual_count >= MANUAL_SNAPSHOT_QUOTA:
            raise ApiError("QuotaExceed.Snapshot", f"{disk.disk_id} has {disk.manual_count} manual snapshots")

    def _creating(self, disk: Disk, now: float) -> str | None:
        sid = disk.creating
        if sid is None:
            return None
        snap = self._snapshots.get(sid)
        if snap is None or snap.status_at(now) != "progressing":
            disk.creating = None
            return None
        return sid

    # --- DeleteSnapshot -----------------------------------------------------------------------------

    def delete_snapshot(self, snapshot_id: str, force: bool) -> None:
        """Delete a snapshot. An unknown id is ignored, as ECS does; a progressing one is refused
        (IncorrectDiskStatus.CreatingSnapshot, HTTP 400) or cancelled, per ``account.delete_progressing``.
        """
        with self._lock:
            now = self._tick()
            snap = self._snapshots.get(snapshot_id)
            if snap is None:
                return
            if snap.status_at(now) == "progressing" and self.account.delete_progressing == "refuse":
                raise ApiError("IncorrectDiskStatus.CreatingSnapshot", snapshot_id, status=400)
            if snap.usage in ("image", "image_disk"):
                raise ApiError("SnapshotCreatedImage")
            if snap.usage == "disk" and not force:
                raise ApiError("SnapshotCreatedDisk", "set Force=true to delete it anyway")
            self._remove(snap)

    def _remove(self, snap: Snapshot) -> None:
        del self._snapshots[snap.snapshot_id]
        del self._by_disk[snap.disk_id][snap.snapshot_id]
        self._version += 1
        disk = self._disks.get(snap.disk_id)
        if disk is not None:
            if snap.snapshot_type == "user":
                disk.manual_count -= 1
            if disk.creating == snap.snapshot_id:
                disk.creating = None

    # --- Describe* ----------------------------------------------------------------------------------

    def describe_disks(self, flt: DiskFilter, page: PageRequest) -> Page:
        """Disks matching every filter, in creation order (one filtering pass per query while
        the fleet is unchanged, see ``_kept``)."""
        with self._lock:
            now = self._tick()
            matches: list[Disk] = _kept(
                self._queries,
                (flt, self._fleet_version),
                lambda: [d for d in _pool(self._disks, flt.disk_ids) if self._disk_matches(d, flt)],
            )
            chunk, more = _paginate(matches, page)
            return Page(
                [self._disk_view(d, now) for d in chunk], len(matches), chunk[-1].seq if more else None
            )

    def describe_snapshots(self, flt: SnapshotFilter, page: PageRequest) -> Page:
        """Snapshots matching every filter, newest first.

        The matches of a query are kept while nothing changes (same state version, same virtual
        now), so walking a region of many snapshots page by page costs one filtering pass, not
        one per page; a DiskId query only looks at that disk's snapshots.
        """
        with self._lock:
            now = self._tick()

            def scan() -> _Matches:
                if flt.disk_id is not None and flt.snapshot_ids is None:
                    pool = list(self._by_disk.get(flt.disk_id, {}).values())
                else:
                    pool = _pool(self._snapshots, flt.snapshot_ids)
                return _Matches([s for s in reversed(pool) if self._snapshot_matches(s, flt, now)])

            found: _Matches = _kept(self._queries, (flt, self._version, now), scan)
            chunk, more = found.page(page)
            return Page([s.view(now) for s in chunk], len(found.items), chunk[-1].seq if more else None)

    def describe_instances(self, flt: InstanceFilter, page: PageRequest) -> Page:
        """Instances matching every filter, in creation order."""
        with self._lock:
            self._tick()
            matches: list[Instance] = _kept(
                self._queries,
                (flt, self._fleet_version),
                lambda: [
                    i for i in _pool(self._instances, flt.instance_ids) if self._instance_matches(i, flt)
                ],
            )
            chunk, more = _paginate(matches, page)
            return Page(
                [self._instance_view(i) for i in chunk], len(matches), chunk[-1].seq if more else None
            )

    def _disk_matches(self, d: Disk, f: DiskFilter) -> bool:
        return (
            f.region_id == self.region_id
            and (f.disk_ids is None or d.disk_id in f.disk_ids)
            and (f.instance_id is None or d.instance_id == f.instance_id)
            and (f.disk_type is None or d.type == f.disk_type)
            and (f.status is None or d.status == f.status)
            and (f.category is None or d.category == f.category)
            and (f.zone_id is None or d.zone_id == f.zone_id)
            and f.tags.matches(d.tags)
        )

    def _snapshot_matches(self, s: Snapshot, f: SnapshotFilter, now: float) -> bool:
        return (
            f.region_id == self.region_id
            and (f.snapshot_ids is None or s.snapshot_id in f.snapshot_ids)
            and (f.disk_id is None or s.disk_id == f.disk_id)
            and (f.instance_id is None or s.instance_id == f.instance_id)
            and (f.status is None or s.status_at(now) == f.status)
            and (f.snapshot_type is None or s.snapshot_type == f.snapshot_type)
            and (f.source_disk_type is None or s.source_disk_type == f.source_disk_type)
            and (f.snapshot_name is None or s.name == f.snapshot_name)
            and (f.usage is None or s.usage == f.usage)
            and f.tags.matches(s.tags)
        )

    def _instance_matches(self, i: Instance, f: InstanceFilter) -> bool:
        return (
            f.region_id == self.region_id
            and (f.instance_ids is None or i.instance_id in f.instance_ids)
            and (f.status is None or i.status == f.status)
            and f.tags.matches(i.tags)
        )

    def _disk_view(self, disk: Disk, now: float) -> dict[str, Any]:
        out = _plain(disk)
        out.update(creation_time=iso(disk.creation_time), creating=self._creating(disk, now))
        out["region_id"] = self.region_id
        return out

    def _instance_view(self, inst: Instance) -> dict[str, Any]:
        out = _plain(inst)
        # ECS reports when an instance was last started; one never started has no StartTime.
        started = iso(inst.creation_time) if inst.ever_started else ""
        out.update(creation_time=iso(inst.creation_time), region_id=self.region_id, start_time=started)
        return out

    # --- housekeeping ------------------------------------------------------------------------------

    def _tick(self) -> float:
        """Release snapshots whose retention ended; returns the virtual now. Caller holds the lock."""
        now = self.clock.now()
        while self._expiry and self._expiry[0][0] <= now:
            _, seq, sid = heapq.heappop(self._expiry)
            snap = self._snapshots.get(sid)
            if snap is not None and snap.seq == seq:
                self._remove(snap)
        return now

    def _new_id(self, prefix: str) -> str:
        # Deterministic for a given fleet (id_seed), shaped like ECS ids: prefix + 20 [a-z0-9].
        self._id_counter += 1
        digest = hashlib.sha256(f"{self._id_seed}:{prefix}:{self._id_counter}".encode()).digest()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return f"{prefix}-" + "".join(alphabet[b % 36] for b in digest[:20])


def _patch(entity: Any, changes: Mapping[str, Any]) -> None:
    allowed = {f.name for f in fields(entity) if not f.metadata.get("runtime")}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    for name, value in changes.items():
        setattr(entity, name, value)
