"""The emulator's state: tables with a primary-key schema and options, rows of versioned cells.

Everything here speaks plain Python values; ``responses.py`` turns the wire format into these types
and back. One lock guards the whole store, so every row operation (condition check and write) is
atomic, which is what the service guarantees for a single row.

Semantics follow the service:

* A cell version is a millisecond timestamp. Unless the writer gives one, the store's clock does.
* Table TTL (seconds, ``-1`` = forever, otherwise at least 86400) hides cell versions older than
  ``now - TTL``; a row whose every cell has expired reads as absent. A row written with no attribute
  columns at all expires by the time it was last written.
* ``max_versions`` caps the versions kept per column; writes with an explicit timestamp must fall in
  ``[now - deviation, now + deviation)``.
* PutRow replaces the whole row; UpdateRow changes single columns; an UpdateRow made only of deletes
  does not create a missing row.
"""

from __future__ import annotations

import bisect
import enum
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_TTL_SECONDS = 86400
MAX_PRIMARY_KEY_COLUMNS = 4
MAX_STRING_PK_BYTES = 1024
# One GetRange answer carries at most this many rows; the caller pages with next_start_primary_key.
DEFAULT_MAX_ROWS_PER_PAGE = 5000

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


class OTSError(Exception):
    """An error the service answers with: HTTP status, OTS error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def parameter_invalid(message: str) -> OTSError:
    """400 OTSParameterInvalid."""
    return OTSError(400, "OTSParameterInvalid", message)


def invalid_pk(message: str) -> OTSError:
    """400 OTSInvalidPK: the primary key does not match the table's schema."""
    return OTSError(400, "OTSInvalidPK", message)


def table_not_exist() -> OTSError:
    """404 OTSObjectNotExist, as the service words it."""
    return OTSError(404, "OTSObjectNotExist", "Requested table does not exist.")


def condition_check_fail() -> OTSError:
    """403 OTSConditionCheckFail, as the service words it."""
    return OTSError(403, "OTSConditionCheckFail", "Condition check failed.")


class VType(enum.IntEnum):
    """Plainbuffer variant types (the tags the wire uses for every value)."""

    INTEGER = 0x0
    DOUBLE = 0x1
    BOOLEAN = 0x2
    STRING = 0x3
    NULL = 0x6
    BLOB = 0x7
    INF_MIN = 0x9
    INF_MAX = 0xA
    AUTO_INCREMENT = 0xB


ValueData = int | float | bool | str | bytes | None


@dataclass(frozen=True)
class Value:
    """A typed value; ``data`` is None for INF_MIN, INF_MAX and AUTO_INCREMENT."""

    vtype: VType
    data: ValueData = None


class PKType(str, enum.Enum):
    """Primary-key column types a table may declare."""

    INTEGER = "INTEGER"
    STRING = "STRING"
    BINARY = "BINARY"


_PK_VTYPE = {PKType.INTEGER: VType.INTEGER, PKType.STRING: VType.STRING, PKType.BINARY: VType.BLOB}


@dataclass(frozen=True)
class PKColumn:
    """One column of a table's primary-key schema."""

    name: str
    type: PKType
    auto_increment: bool = False


@dataclass
class TableOptions:
    """Table options as DescribeTable reports them (defaults are the service's)."""

    time_to_live: int = -1
    max_versions: int = 1
    deviation_cell_version_in_sec: int = 86400
    allow_update: bool = True


class Existence(enum.Enum):
    """Row-existence expectation of a write's condition."""

    IGNORE = 0
    EXPECT_EXIST = 1
    EXPECT_NOT_EXIST = 2


class Comparator(enum.Enum):
    """Single-column comparators (numbering as on the wire)."""

    EQUAL = 1
    NOT_EQUAL = 2
    GREATER_THAN = 3
    GREATER_EQUAL = 4
    LESS_THAN = 5
    LESS_EQUAL = 6
    EXIST = 7
    NOT_EXIST = 8


class LogicalOperator(enum.Enum):
    """Combinators of a composite column condition (numbering as on the wire)."""

    NOT = 1
    AND = 2
    OR = 3


@dataclass(frozen=True)
class SingleColumnFilter:
    """``column <comparator> value``, optionally on a regex-extracted, cast part of a string."""

    comparator: Comparator
    column: str
    value: Value
    filter_if_missing: bool
    latest_version_only: bool
    regex: str | None = None
    cast_type: VType | None = None


@dataclass(frozen=True)
class CompositeFilter:
    """NOT (one sub-filter), AND or OR over sub-filters."""

    operator: LogicalOperator
    subs: tuple[ColumnFilter, ...]


ColumnFilter = SingleColumnFilter | CompositeFilter


@dataclass(frozen=True)
class Condition:
    """A write's condition: row existence and an optional column condition."""

    existence: Existence = Existence.IGNORE
    column_filter: ColumnFilter | None = None


class CellOp(enum.Enum):
    """What an UpdateRow cell does."""

    PUT = "put"
    DELETE_ONE = "delete"  # one version, named by its timestamp
    DELETE_ALL = "delete_all"
    INCREMENT = "increment"


@dataclass(frozen=True)
class CellChange:
    """One attribute cell of a write request."""

    name: str
    value: Value | None
    timestamp: int | None
    op: CellOp = CellOp.PUT


@dataclass(frozen=True)
class ReadSpec:
    """What a GetRow/GetRange returns of each row."""

    columns_to_get: tuple[str, ...] = ()
    max_versions: int | None = 1
    time_range: tuple[int, int] | None = None  # [start, end) in ms
    column_filter: ColumnFilter | None = None
    start_column: str | None = None
    end_column: str | None = None


@dataclass(frozen=True)
class Cell:
    """One version of an attribute column."""

    timestamp: int
    value: Value


@dataclass(frozen=True)
class RowView:
    """A row as read: its primary key and the selected cells (by name, newest version first)."""

    primary_key: tuple[tuple[str, Value], ...]
    cells: tuple[tuple[str, Cell], ...]


PrimaryKey = Sequence[tuple[str, Value]]
# A stored row's key: its primary-key values in schema order (types are fixed per column).
_Key = tuple[int | str | bytes, ...]
# A range bound: (rank, value) per column, rank 0 = INF_MIN, 1 = a value, 2 = INF_MAX.
_Bound = tuple[tuple[int, int | str | bytes], ...]


@dataclass
class _Row:
    primary_key: tuple[tuple[str, Value], ...]
    columns: dict[str, list[Cell]]  # newest version first
    written_ms: int


@dataclass
class Table:
    """A table: schema, options and rows (in primary-key order for range reads)."""

    name: str
    primary_key: tuple[PKColumn, ...]
    defined_columns: tuple[tuple[str, str], ...]
    options: TableOptions
    reserved_read: int
    reserved_write: int
    created_at: int  # seconds
    rows: dict[_Key, _Row] = field(default_factory=dict)
    sorted_keys: list[_Bound] = field(default_factory=list)
    last_auto_increment: int = 0


def _ranked(key: _Key) -> _Bound:
    return tuple((1, part) for part in key)


def _bound(primary_key: PrimaryKey) -> _Bound:
    ranks = {VType.INF_MIN: 0, VType.INF_MAX: 2}
    return tuple(
        (ranks[value.vtype], 0) if value.vtype in ranks else (1, _key_part(value)) for _, value in primary_key
    )


def _key_part(value: Value) -> int | str | bytes:
    data = value.data
    if isinstance(data, bool) or not isinstance(data, int | str | bytes):
        raise invalid_pk(f"Invalid primary key value type: VT_{value.vtype.name}.")
    return data


def _key(primary_key: PrimaryKey) -> _Key:
    """The stored key of a validated, concrete primary key."""
    return tuple(_key_part(value) for _, value in primary_key)


def validate_name(kind: str, name: str) -> None:
    """Table and column names: a letter or underscore, then letters, digits, underscores (<= 255)."""
    if not _NAME_RE.fullmatch(name):
        raise parameter_invalid(f"Invalid {kind} name: '{name}'.")


def validate_table_options(options: TableOptions) -> None:
    """The checks CreateTable applies to table options."""
    ttl = options.time_to_live
    if ttl == 0 or ttl < -1:
        raise parameter_invalid("TimeToLive cannot be 0 or less than -1.")
    if 0 < ttl < MIN_TTL_SECONDS:
        raise parameter_invalid(f"TimeToLive must be -1 or at least {MIN_TTL_SECONDS} seconds.")
    if options.max_versions <= 0:
        raise parameter_invalid("MaxVersions must be greater than 0.")
    if options.deviation_cell_version_in_sec <= 0:
        raise parameter_invalid("DeviationCellVersionInSec must be greater than 0.")


class Store:
    """All tables of one emulated instance. Thread-safe; ``clock`` gives Unix seconds."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_rows_per_page: int = DEFAULT_MAX_ROWS_PER_PAGE,
    ) -> None:
        self.clock = clock
        self.max_rows_per_page = max_rows_per_page
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- tables -----------------------------------------------------------------------------------

    def create_table(
        self,
        name: str,
        primary_key: Sequence[PKColumn],
        options: TableOptions,
        *,
        defined_columns: Sequence[tuple[str, str]] = (),
        reserved_read: int = 0,
        reserved_write: int = 0,
    ) -> None:
        """CreateTable: validate the schema and options, then add an empty table."""
        validate_name("table", name)
        if not 1 <= len(primary_key) <= MAX_PRIMARY_KEY_COLUMNS:
            raise parameter_invalid(
                f"The number of primary key columns must be in range: [1, {MAX_PRIMARY_KEY_COLUMNS}]."
            )
        seen: set[str] = set()
        for index, column in enumerate(primary_key):
            validate_name("primary key column", column.name)
            if column.name in seen:
                raise parameter_invalid(f"Duplicated primary key name: '{column.name}'.")
            seen.add(column.name)
            if column.auto_increment and (index == 0 or column.type is not PKType.INTEGER):
                raise parameter_invalid(
                    "AUTO_INCREMENT is only allowed on an INTEGER primary key column that is not the first."
                )
        if sum(column.auto_increment for column in primary_key) > 1:
            raise parameter_invalid("At most one primary key column can be AUTO_INCREMENT.")
        for column_name, _ in defined_columns:
            validate_name("defined column", column_name)
            if column_name in seen:
                raise parameter_invalid(f"Duplicated column name with primary key column: '{column_name}'.")
        if reserved_read < 0 or reserved_write < 0:
            raise parameter_invalid("Reserved capacity units cannot be negative.")
        validate_table_options(options)
        with self._lock:
            if name in self._tables:
                raise OTSError(409, "OTSObjectAlreadyExist", "Requested table already exists.")
            self._tables[name] = Table(
                name=name,
                primary_key=tuple(primary_key),
                defined_columns=tuple(defined_columns),
                options=options,
                reserved_read=reserved_read,
                reserved_write=reserved_write,
                created_at=int(self.clock()),
            )

    def describe_table(self, name: str) -> Table:
        """The table, for its schema and options (its rows are only touched under the store's lock)."""
        with self._lock:
            return self._table(name)

    def list_tables(self) -> list[str]:
        """Names of every table, sorted."""
        with self._lock:
            return sorted(self._tables)

    def delete_table(self, name: str) -> None:
        """DeleteTable."""
        with self._lock:
            self._table(name)
            del self._tables[name]

    def _table(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is None:
            raise table_not_exist()
        return table

    # -- rows -------------------------------------------------------------------------------------

    def put_row(
        self, table_name: str, primary_key: PrimaryKey, cells: Sequence[CellChange], condition: Condition
    ) -> tuple[tuple[str, Value], ...]:
        """PutRow: replace the whole row. Returns the primary key as written (auto-increment filled)."""
        with self._lock:
            table = self._table(table_name)
            now_ms = self._now_ms()
            self._check_pk(table, primary_key, allow_auto_increment=True)
            self._check_cells(table, cells, now_ms, allowed_ops={CellOp.PUT})
            pk = tuple(primary_key)
            if any(value.vtype is VType.AUTO_INCREMENT for _, value in pk):
                if condition.existence is Existence.EXPECT_EXIST:
                    raise parameter_invalid(
                        "Condition EXPECT_EXIST is not allowed with an auto-increment key."
                    )
                pk = self._fill_auto_increment(table, pk, now_ms)
            key = _key(pk)
            self._check_condition(table, table.rows.get(key), condition, now_ms)
            columns: dict[str, list[Cell]] = {}
            for change in cells:
                assert change.value is not None  # PutRow cells always carry a value
                _add_version(
                    columns.setdefault(change.name, []),
                    Cell(now_ms if change.timestamp is None else change.timestamp, change.value),
                )
            self._store_row(table, key, _Row(pk, _trimmed(columns, table.options.max_versions), now_ms))
            return pk

    def update_row(
        self, table_name: str, primary_key: PrimaryKey, cells: Sequence[CellChange], condition: Condition
    ) -> tuple[tuple[str, Value], ...]:
        """UpdateRow: put, delete or increment single columns; returns the primary key."""
        with self._lock:
            table = self._table(table_name)
            now_ms = self._now_ms()
            self._check_pk(table, primary_key)
            pk = tuple(primary_key)
            key = _key(pk)
            if not cells:
                raise parameter_invalid("No column is specified in UpdateRow.")
            self._check_cells(table, cells, now_ms, allowed_ops=set(CellOp))
            row = table.rows.get(key)
            live = row is not None and self._row_exists(table, row, now_ms)
            self._check_condition(table, row, condition, now_ms)
            columns = (
                {name: list(versions) for name, versions in self._visible_columns(table, row, now_ms).items()}
                if row is not None and live
                else {}
            )
            for change in cells:
                _apply_change(columns, change, now_ms)
            if not live and all(c.op in (CellOp.DELETE_ONE, CellOp.DELETE_ALL) for c in cells):
                return pk  # deleting columns of a missing row leaves it missing
            columns = {name: versions for name, versions in columns.items() if versions}
            self._store_row(table, key, _Row(pk, _trimmed(columns, table.options.max_versions), now_ms))
            return pk

    def delete_row(self, table_name: str, primary_key: PrimaryKey, condition: Condition) -> None:
        """DeleteRow."""
        with self._lock:
            table = self._table(table_name)
            now_ms = self._now_ms()
            self._check_pk(table, primary_key)
            key = _key(primary_key)
            if condition.existence is Existence.EXPECT_NOT_EXIST:
                raise parameter_invalid("Invalid condition: EXPECT_NOT_EXIST while deleting row.")
            self._check_condition(table, table.rows.get(key), condition, now_ms)
            if key in table.rows:
                del table.rows[key]
                index = bisect.bisect_left(table.sorted_keys, _ranked(key))
                del table.sorted_keys[index]

    def get_row(self, table_name: str, primary_key: PrimaryKey, spec: ReadSpec) -> RowView | None:
        """GetRow: the row as ``spec`` selects it, or None."""
        with self._lock:
            table = self._table(table_name)
            self._check_pk(table, primary_key)
            _check_read_spec(spec)
            row = table.rows.get(_key(primary_key))
            return None if row is None else self._read(table, row, spec, self._now_ms())

    def get_range(
        self,
        table_name: str,
        *,
        forward: bool,
        start: PrimaryKey,
        end: PrimaryKey,
        spec: ReadSpec,
        limit: int | None,
    ) -> tuple[list[RowView], tuple[tuple[str, Value], ...] | None]:
        """GetRange: rows in ``[start, end)`` (reversed when not forward) and the next start key.

        The next start key is None when the range is exhausted; otherwise the caller asks again from
        there. A page holds at most ``limit`` and at most ``max_rows_per_page`` rows.
        """
        with self._lock:
            table = self._table(table_name)
            self._check_pk(table, start, allow_infinite=True)
            self._check_pk(table, end, allow_infinite=True)
            _check_read_spec(spec)
            if limit is not None and limit <= 0:
                raise parameter_invalid("The limit must be greater than 0.")
            low, high = _bound(start), _bound(end)
            if forward and not low < high:
                raise parameter_invalid("Begin key must less than end key in FORWARD")
            if not forward and not low > high:
                raise parameter_invalid("Begin key must more than end key in BACKWARD")
            keys = table.sorted_keys
            if forward:
                window = keys[bisect.bisect_left(keys, low) : bisect.bisect_left(keys, high)]
            else:
                window = keys[bisect.bisect_right(keys, high) : bisect.bisect_right(keys, low)][::-1]
            page = min(limit or self.max_rows_per_page, self.max_rows_per_page)
            now_ms = self._now_ms()
            rows: list[RowView] = []
            for position, bound in enumerate(window):
                if position == page:
                    return rows, table.rows[tuple(part for _, part in bound)].primary_key
                view = self._read(table, table.rows[tuple(part for _, part in bound)], spec, now_ms)
                if view is not None:
                    rows.append(view)
            return rows, None

    # -- helpers (called with the lock held) ------------------------------------------------------

    def _check_pk(
        self,
        table: Table,
        primary_key: PrimaryKey,
        *,
        allow_infinite: bool = False,
        allow_auto_increment: bool = False,
    ) -> None:
        schema = table.primary_key
        if len(primary_key) != len(schema):
            raise invalid_pk(f"Validate PK size fail. Input: {len(primary_key)}, Meta: {len(schema)}.")
        for (name, value), column in zip(primary_key, schema, strict=True):
            if name != column.name:
                raise invalid_pk(f"Validate PK name fail. Input: {name}, Meta: {column.name}.")
            if value.vtype in (VType.INF_MIN, VType.INF_MAX) and allow_infinite:
                continue
            if value.vtype is VType.AUTO_INCREMENT and allow_auto_increment and column.auto_increment:
                continue
            expected = _PK_VTYPE[column.type]
            if value.vtype is not expected:
                raise invalid_pk(
                    f"Validate PK type fail. Input: VT_{value.vtype.name}, Meta: VT_{expected.name}."
                )
            if isinstance(value.data, str | bytes) and _byte_length(value.data) > MAX_STRING_PK_BYTES:
                raise parameter_invalid(
                    f"The length of primary key column: '{name}' exceeds the MaxLength:{MAX_STRING_PK_BYTES}."
                )

    def _fill_auto_increment(
        self, table: Table, pk: tuple[tuple[str, Value], ...], now_ms: int
    ) -> tuple[tuple[str, Value], ...]:
        # The service hands out strictly increasing values per partition; microseconds suffice here.
        table.last_auto_increment = max(table.last_auto_increment + 1, now_ms * 1000)
        filled = Value(VType.INTEGER, table.last_auto_increment)
        return tuple((name, filled if value.vtype is VType.AUTO_INCREMENT else value) for name, value in pk)

    def _check_cells(
        self, table: Table, cells: Sequence[CellChange], now_ms: int, *, allowed_ops: set[CellOp]
    ) -> None:
        pk_names = {column.name for column in table.primary_key}
        options = table.options
        deviation_ms = options.deviation_cell_version_in_sec * 1000
        lowest = now_ms - deviation_ms
        if options.time_to_live != -1:
            lowest = max(lowest, now_ms - options.time_to_live * 1000)
        for cell in cells:
            validate_name("column", cell.name)
            if cell.name in pk_names:
                raise parameter_invalid(
                    f"Duplicated attribute column name with primary key column: '{cell.name}'."
                )
            if cell.op not in allowed_ops:
                raise parameter_invalid(f"Invalid update type of column '{cell.name}'.")
            if cell.op is CellOp.DELETE_ONE and cell.timestamp is None:
                raise parameter_invalid(f"The timestamp of column '{cell.name}' to delete is missing.")
            if cell.op in (CellOp.PUT, CellOp.INCREMENT) and cell.value is None:
                raise parameter_invalid(f"The value of column '{cell.name}' is missing.")
            if cell.op is CellOp.INCREMENT and cell.timestamp is not None:
                raise parameter_invalid(f"The increment of column '{cell.name}' cannot carry a timestamp.")
            if cell.op is CellOp.INCREMENT and (cell.value is None or cell.value.vtype is not VType.INTEGER):
                raise parameter_invalid(f"The increment value of column '{cell.name}' must be INTEGER.")
            if cell.value is not None and cell.value.vtype not in _ATTRIBUTE_VTYPES:
                raise parameter_invalid(
                    f"Invalid value type of column '{cell.name}': {cell.value.vtype.name}."
                )
            if (
                cell.op is CellOp.PUT
                and cell.timestamp is not None
                and not lowest <= cell.timestamp < now_ms + deviation_ms
            ):
                raise parameter_invalid(
                    f"The timestamp {cell.timestamp} of column '{cell.name}' "
                    "is out of the valid version range."
                )

    def _visible_columns(self, table: Table, row: _Row, now_ms: int) -> dict[str, list[Cell]]:
        ttl = table.options.time_to_live
        if ttl == -1:
            return {name: versions for name, versions in row.columns.items() if versions}
        oldest = now_ms - ttl * 1000
        visible = {
            name: [cell for cell in versions if cell.timestamp >= oldest]
            for name, versions in row.columns.items()
        }
        return {name: versions for name, versions in visible.items() if versions}

    def _row_exists(self, table: Table, row: _Row, now_ms: int) -> bool:
        if row.columns:
            return bool(self._visible_columns(table, row, now_ms))
        ttl = table.options.time_to_live
        return ttl == -1 or row.written_ms >= now_ms - ttl * 1000

    def _check_condition(self, table: Table, row: _Row | None, condition: Condition, now_ms: int) -> None:
        exists = row is not None and self._row_exists(table, row, now_ms)
        if condition.existence is Existence.EXPECT_EXIST and not exists:
            raise condition_check_fail()
        if condition.existence is Existence.EXPECT_NOT_EXIST and exists:
            raise condition_check_fail()
        if condition.column_filter is not None:
            columns = self._visible_columns(table, row, now_ms) if row is not None and exists else {}
            if not evaluate(condition.column_filter, columns):
                raise condition_check_fail()

    def _read(self, table: Table, row: _Row, spec: ReadSpec, now_ms: int) -> RowView | None:
        if not self._row_exists(table, row, now_ms):
            return None
        columns = self._visible_columns(table, row, now_ms)
        if spec.time_range is not None:
            start, end = spec.time_range
            in_range = {
                name: [c for c in versions if start <= c.timestamp < end]
                for name, versions in columns.items()
            }
            columns = {name: versions for name, versions in in_range.items() if versions}
        if spec.column_filter is not None and not evaluate(spec.column_filter, columns):
            return None
        pk_names = {name for name, _ in row.primary_key}
        wanted = set(spec.columns_to_get)
        selected: list[tuple[str, Cell]] = []
        for name in sorted(columns):
            if wanted and name not in wanted:
                continue
            if spec.start_column is not None and name < spec.start_column:
                continue
            if spec.end_column is not None and name >= spec.end_column:
                continue
            versions = columns[name]
            if spec.max_versions is not None:
                versions = versions[: spec.max_versions]
            selected.extend((name, cell) for cell in versions)
        narrowed = bool(wanted) or spec.start_column is not None or spec.end_column is not None
        if narrowed and not selected and not wanted & pk_names:
            return None  # nothing asked for is there: the service answers "no row"
        return RowView(row.primary_key, tuple(selected))

    @staticmethod
    def _store_row(table: Table, key: _Key, row: _Row) -> None:
        if key not in table.rows:
            bisect.insort(table.sorted_keys, _ranked(key))
        table.rows[key] = row


_ATTRIBUTE_VTYPES = frozenset({VType.INTEGER, VType.DOUBLE, VType.BOOLEAN, VType.STRING, VType.BLOB})


def _check_read_spec(spec: ReadSpec) -> None:
    if spec.max_versions is None and spec.time_range is None:
        raise parameter_invalid("Neither of max_versions and time_range is specified.")
    if spec.max_versions is not None and spec.max_versions <= 0:
        raise parameter_invalid("MaxVersions must be greater than 0.")
    if spec.time_range is not None and spec.time_range[0] >= spec.time_range[1]:
        raise parameter_invalid("The start time of the time range must be less than the end time.")


def _byte_length(data: str | bytes) -> int:
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)


def _add_version(versions: list[Cell], cell: Cell) -> None:
    """Insert ``cell`` newest-first; a version with the same timestamp is overwritten."""
    versions[:] = [c for c in versions if c.timestamp != cell.timestamp]
    versions.append(cell)
    versions.sort(key=lambda c: c.timestamp, reverse=True)


def _trimmed(columns: dict[str, list[Cell]], max_versions: int) -> dict[str, list[Cell]]:
    return {name: versions[:max_versions] for name, versions in columns.items()}


def _apply_change(columns: dict[str, list[Cell]], change: CellChange, now_ms: int) -> None:
    if change.op is CellOp.DELETE_ALL:
        columns.pop(change.name, None)
    elif change.op is CellOp.DELETE_ONE:
        columns[change.name] = [c for c in columns.get(change.name, []) if c.timestamp != change.timestamp]
    elif change.op is CellOp.INCREMENT:
        assert change.value is not None and isinstance(change.value.data, int)  # checked by _check_cells
        current = columns.get(change.name)
        base = 0
        if current:
            latest = current[0].value
            if latest.vtype is not VType.INTEGER or not isinstance(latest.data, int):
                raise parameter_invalid(f"The column '{change.name}' to increment is not INTEGER.")
            base = latest.data
        _add_version(
            columns.setdefault(change.name, []), Cell(now_ms, Value(VType.INTEGER, base + change.value.data))
        )
    else:
        assert change.value is not None  # checked by _check_cells
        _add_version(
            columns.setdefault(change.name, []),
            Cell(now_ms if change.timestamp is None else change.timestamp, change.value),
        )


# -- column conditions ----------------------------------------------------------------------------


def evaluate(column_filter: ColumnFilter, columns: dict[str, list[Cell]]) -> bool:
    """Whether the (visible) ``columns`` of a row satisfy ``column_filter``."""
    if isinstance(column_filter, CompositeFilter):
        results: Iterable[bool] = (evaluate(sub, columns) for sub in column_filter.subs)
        if column_filter.operator is LogicalOperator.NOT:
            return not next(iter(results))
        if column_filter.operator is LogicalOperator.AND:
            return all(results)
        return any(results)
    versions = columns.get(column_filter.column, [])
    if column_filter.comparator is Comparator.EXIST:
        return bool(versions)
    if column_filter.comparator is Comparator.NOT_EXIST:
        return not versions
    if column_filter.latest_version_only:
        versions = versions[:1]
    values = [v for v in (_extract(column_filter, cell.value) for cell in versions) if v is not None]
    if not values:
        return not column_filter.filter_if_missing
    return any(_compare(column_filter.comparator, value, column_filter.value) for value in values)


def _extract(column_filter: SingleColumnFilter, value: Value) -> Value | None:
    """The value a filter compares: the cell itself, or the regex match cast to ``cast_type``."""
    if column_filter.regex is None:
        return value
    if value.vtype is not VType.STRING or not isinstance(value.data, str):
        return None
    match = re.search(column_filter.regex, value.data)
    if match is None:
        return None
    text = match.group(1) if match.groups() else match.group(0)
    try:
        if column_filter.cast_type is VType.INTEGER:
            return Value(VType.INTEGER, int(text))
        if column_filter.cast_type is VType.DOUBLE:
            return Value(VType.DOUBLE, float(text))
    except ValueError:
        return None
    return Value(VType.STRING, text)


_ORDERINGS: dict[Comparator, Callable[[Any, Any], Any]] = {
    Comparator.GREATER_THAN: operator.gt,
    Comparator.GREATER_EQUAL: operator.ge,
    Comparator.LESS_THAN: operator.lt,
    Comparator.LESS_EQUAL: operator.le,
}


def _compare(comparator: Comparator, left: Value, right: Value) -> bool:
    # Values of different types never satisfy a comparison: there is no implicit conversion.
    if left.vtype is not right.vtype or left.data is None or right.data is None:
        return False
    if comparator is Comparator.EQUAL:
        return left.data == right.data
    if comparator is Comparator.NOT_EQUAL:
        return left.data != right.data
    # Same variant type means same Python type, so the two are ordered (for strings, UTF-8 byte
    # order, the service's order, agrees with code point order).
    return bool(_ORDERINGS[comparator](left.data, right.data))
