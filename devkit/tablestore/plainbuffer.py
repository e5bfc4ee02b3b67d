"""The plainbuffer row format: how Tablestore rows travel inside the protobuf messages.

A buffer is a little-endian int32 header (0x75) and one or more rows. A row is::

    TAG_ROW_PK cell*  [TAG_ROW_DATA cell*]  [TAG_DELETE_ROW_MARKER]  TAG_ROW_CHECKSUM crc8
    cell = TAG_CELL TAG_CELL_NAME len name [TAG_CELL_VALUE len type payload] [TAG_CELL_TYPE op]
           [TAG_CELL_TIMESTAMP int64] TAG_CELL_CHECKSUM crc8

Each cell's CRC-8 covers its name, value, timestamp and operation type (in that order); the row's
covers the cells' CRCs and the delete marker. Written from the SDK's encoder
(``tablestore/plainbuffer``) rather than reused from it: its reader cannot parse INF_MIN/INF_MAX
keys or cells with an operation type, both of which requests carry.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from devkit.tablestore.models import Cell, CellOp, Value, VType

HEADER = 0x75

TAG_ROW_PK = 0x1
TAG_ROW_DATA = 0x2
TAG_CELL = 0x3
TAG_CELL_NAME = 0x4
TAG_CELL_VALUE = 0x5
TAG_CELL_TYPE = 0x6
TAG_CELL_TIMESTAMP = 0x7
TAG_DELETE_ROW_MARKER = 0x8
TAG_ROW_CHECKSUM = 0x9
TAG_CELL_CHECKSUM = 0xA

_OP_DELETE_ALL = 0x1
_OP_DELETE_ONE = 0x3
_OP_INCREMENT = 0x4
_CELL_OPS = {
    _OP_DELETE_ALL: CellOp.DELETE_ALL,
    _OP_DELETE_ONE: CellOp.DELETE_ONE,
    _OP_INCREMENT: CellOp.INCREMENT,
}


class PlainBufferError(ValueError):
    """A malformed buffer or a checksum that does not match."""


_CRC8_TABLE = []
for _i in range(256):
    _crc = _i
    for _ in range(8):
        _crc = ((_crc << 1) ^ 0x07) & 0xFF if _crc & 0x80 else (_crc << 1) & 0xFF
    _CRC8_TABLE.append(_crc)


def _crc_bytes(crc: int, data: bytes) -> int:
    for byte in data:
        crc = _CRC8_TABLE[crc ^ byte]
    return crc


def _crc_int8(crc: int, value: int) -> int:
    return _CRC8_TABLE[crc ^ (value & 0xFF)]


def _crc_int32(crc: int, value: int) -> int:
    return _crc_bytes(crc, struct.pack("<i", value))


def _crc_int64(crc: int, value: int) -> int:
    return _crc_bytes(crc, struct.pack("<q", value))


def _crc_value(crc: int, value: Value) -> int:
    crc = _crc_int8(crc, value.vtype)
    data = value.data
    if value.vtype is VType.INTEGER:
        assert isinstance(data, int)
        return _crc_int64(crc, data)
    if value.vtype is VType.DOUBLE:
        assert isinstance(data, float)
        return _crc_int64(crc, struct.unpack("<q", struct.pack("<d", data))[0])
    if value.vtype is VType.BOOLEAN:
        return _crc_int8(crc, 1 if data else 0)
    if value.vtype in (VType.STRING, VType.BLOB):
        raw = _raw(value)
        return _crc_bytes(_crc_int32(crc, len(raw)), raw)
    return crc  # INF_MIN, INF_MAX, AUTO_INCREMENT: the type is the whole value


def _raw(value: Value) -> bytes:
    data = value.data
    if isinstance(data, str):
        return data.encode("utf-8")
    assert isinstance(data, bytes)
    return data


@dataclass(frozen=True)
class DecodedCell:
    """An attribute cell of a request row."""

    name: str
    value: Value | None
    timestamp: int | None
    op: CellOp


@dataclass(frozen=True)
class DecodedRow:
    """A request row: primary key, attribute cells and whether it carried a delete marker."""

    primary_key: tuple[tuple[str, Value], ...]
    cells: tuple[DecodedCell, ...]
    delete_marker: bool


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise PlainBufferError("unexpected end of plainbuffer data")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def int32(self) -> int:
        value: int = struct.unpack("<i", self.take(4))[0]
        return value

    def int64(self) -> int:
        value: int = struct.unpack("<q", self.take(8))[0]
        return value

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def expect(self, tag: int) -> None:
        found = self.byte()
        if found != tag:
            raise PlainBufferError(f"expected tag {tag:#x}, found {found:#x}")

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def _read_value(reader: _Reader, size: int) -> Value:
    end = reader.pos + size
    try:
        vtype = VType(reader.byte())
    except ValueError as exc:
        raise PlainBufferError(f"unknown value type: {exc}") from exc
    value = _read_payload(reader, vtype)
    if reader.pos != end:
        raise PlainBufferError("cell value length does not match its payload")
    return value


def _read_payload(reader: _Reader, vtype: VType) -> Value:
    if vtype is VType.INTEGER:
        return Value(vtype, reader.int64())
    if vtype is VType.DOUBLE:
        return Value(vtype, struct.unpack("<d", reader.take(8))[0])
    if vtype is VType.BOOLEAN:
        return Value(vtype, reader.byte() != 0)
    if vtype is VType.STRING:
        raw = reader.take(reader.int32())
        try:
            return Value(vtype, raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise PlainBufferError("a string value is not UTF-8") from exc
    if vtype is VType.BLOB:
        return Value(vtype, reader.take(reader.int32()))
    if vtype in (VType.INF_MIN, VType.INF_MAX, VType.AUTO_INCREMENT):
        return Value(vtype)
    raise PlainBufferError(f"value type {vtype.name} is not supported here")


def _read_cell(reader: _Reader, *, is_pk: bool) -> tuple[DecodedCell, int]:
    reader.expect(TAG_CELL_NAME)
    raw_name = reader.take(reader.int32())
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlainBufferError("a column name is not UTF-8") from exc
    crc = _crc_bytes(0, raw_name)
    value: Value | None = None
    op = CellOp.PUT
    timestamp: int | None = None
    op_code: int | None = None
    if reader.peek() == TAG_CELL_VALUE:
        reader.byte()
        value = _read_value(reader, reader.int32())
        crc = _crc_value(crc, value)
    if not is_pk and reader.peek() == TAG_CELL_TYPE:
        reader.byte()
        op_code = reader.byte()
        if op_code not in _CELL_OPS:
            raise PlainBufferError(f"unknown cell operation {op_code:#x}")
        op = _CELL_OPS[op_code]
    if not is_pk and reader.peek() == TAG_CELL_TIMESTAMP:
        reader.byte()
        timestamp = reader.int64()
        crc = _crc_int64(crc, timestamp)
    if op_code is not None:
        crc = _crc_int8(crc, op_code)
    reader.expect(TAG_CELL_CHECKSUM)
    if reader.byte() != crc:
        raise PlainBufferError(f"cell checksum mismatch in column '{name}'")
    if is_pk and value is None:
        raise PlainBufferError(f"primary key column '{name}' has no value")
    return DecodedCell(name, value, timestamp, op), crc


def _read_row(reader: _Reader) -> DecodedRow:
    reader.expect(TAG_ROW_PK)
    row_crc = 0
    primary_key: list[tuple[str, Value]] = []
    while reader.peek() == TAG_CELL:
        reader.byte()
        cell, crc = _read_cell(reader, is_pk=True)
        assert cell.value is not None
        primary_key.append((cell.name, cell.value))
        row_crc = _crc_int8(row_crc, crc)
    cells: list[DecodedCell] = []
    if reader.peek() == TAG_ROW_DATA:
        reader.byte()
        while reader.peek() == TAG_CELL:
            reader.byte()
            cell, crc = _read_cell(reader, is_pk=False)
            cells.append(cell)
            row_crc = _crc_int8(row_crc, crc)
    delete_marker = reader.peek() == TAG_DELETE_ROW_MARKER
    if delete_marker:
        reader.byte()
    row_crc = _crc_int8(row_crc, 1 if delete_marker else 0)
    reader.expect(TAG_ROW_CHECKSUM)
    if reader.byte() != row_crc:
        raise PlainBufferError("row checksum mismatch")
    return DecodedRow(tuple(primary_key), tuple(cells), delete_marker)


def decode_row(data: bytes) -> DecodedRow:
    """Parse a buffer holding exactly one row."""
    reader = _Reader(data)
    if len(data) < 4 or reader.int32() != HEADER:
        raise PlainBufferError("invalid plainbuffer header")
    row = _read_row(reader)
    if not reader.at_end():
        raise PlainBufferError("trailing data after the row")
    return row


def decode_variant(data: bytes) -> Value:
    """Parse a bare value (type byte and payload), as column conditions carry it."""
    reader = _Reader(data)
    try:
        vtype = VType(reader.byte())
    except ValueError as exc:
        raise PlainBufferError(f"unknown value type: {exc}") from exc
    value = _read_payload(reader, vtype)
    if not reader.at_end():
        raise PlainBufferError("trailing data after the value")
    return value


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray(struct.pack("<i", HEADER))

    def tag(self, tag: int) -> None:
        self.out.append(tag)

    def int32(self, value: int) -> None:
        self.out += struct.pack("<i", value)

    def int64(self, value: int) -> None:
        self.out += struct.pack("<q", value)

    def cell(self, name: str, value: Value, timestamp: int | None) -> int:
        raw_name = name.encode("utf-8")
        self.tag(TAG_CELL)
        self.tag(TAG_CELL_NAME)
        self.int32(len(raw_name))
        self.out += raw_name
        crc = _crc_bytes(0, raw_name)
        payload = _payload(value)
        self.tag(TAG_CELL_VALUE)
        self.int32(1 + len(payload))
        self.out.append(value.vtype)
        self.out += payload
        crc = _crc_value(crc, value)
        if timestamp is not None:
            self.tag(TAG_CELL_TIMESTAMP)
            self.int64(timestamp)
            crc = _crc_int64(crc, timestamp)
        self.tag(TAG_CELL_CHECKSUM)
        self.out.append(crc)
        return crc

    def row(self, primary_key: Sequence[tuple[str, Value]], cells: Sequence[tuple[str, Cell]]) -> None:
        row_crc = 0
        self.tag(TAG_ROW_PK)
        for name, value in primary_key:
            row_crc = _crc_int8(row_crc, self.cell(name, value, None))
        if cells:
            self.tag(TAG_ROW_DATA)
            for name, cell in cells:
                row_crc = _crc_int8(row_crc, self.cell(name, cell.value, cell.timestamp))
        row_crc = _crc_int8(row_crc, 0)
        self.tag(TAG_ROW_CHECKSUM)
        self.out.append(row_crc)


def _payload(value: Value) -> bytes:
    data = value.data
    if value.vtype is VType.INTEGER:
        assert isinstance(data, int)
        return struct.pack("<q", data)
    if value.vtype is VType.DOUBLE:
        assert isinstance(data, float)
        return struct.pack("<d", data)
    if value.vtype is VType.BOOLEAN:
        return b"\x01" if data else b"\x00"
    if value.vtype in (VType.STRING, VType.BLOB):
        raw = _raw(value)
        return struct.pack("<i", len(raw)) + raw
    return b""


def encode_rows(rows: Iterable[tuple[Sequence[tuple[str, Value]], Sequence[tuple[str, Cell]]]]) -> bytes:
    """One buffer with every ``(primary key, cells)`` row, as GetRange answers."""
    writer = _Writer()
    for primary_key, cells in rows:
        writer.row(primary_key, cells)
    return bytes(writer.out)


def encode_row(primary_key: Sequence[tuple[str, Value]], cells: Sequence[tuple[str, Cell]] = ()) -> bytes:
    """One row (or just a primary key, with no cells)."""
    return encode_rows([(primary_key, cells)])
