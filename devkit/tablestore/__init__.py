"""A local, wire-compatible Tablestore (OTS) emulator for tests and development.

The real ``tablestore`` SDK talks to it over HTTP on loopback. ``models`` holds the state (tables,
versioned rows, TTL), ``responses`` the wire protocol (signatures, protobuf, plainbuffer rows,
error answers), ``server`` the HTTP server, ``testing`` helpers that wire the emulator to the
Tablestore token table.

Modelled operations: CreateTable, DescribeTable, ListTable, DeleteTable, PutRow, GetRow, BatchGetRow,
UpdateRow, DeleteRow and GetRange, with row-existence and column conditions. Everything else is answered
with ``OTSParameterInvalid`` ("Unsupported operation"), and options the emulator does not model
(secondary indexes, streams, encryption, transactions) are refused rather than ignored.
"""

from snapstack.tokens.tablestore import silence_native_codec_notice

silence_native_codec_notice()  # before the SDK's first import (its modules import it at the top)

from devkit.tablestore.server import TablestoreEmulator  # noqa: E402

__all__ = ["TablestoreEmulator"]
