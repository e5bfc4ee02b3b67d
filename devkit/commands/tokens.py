"""``snapstack tokens``: look into and tidy the token table (the dedupe state).

    snapstack tokens ls [--url URL] [--state S] [--json]   live records, newest first
    snapstack tokens show TOKEN [--url URL]                 one record as JSON
    snapstack tokens purge [--url URL] [--json]             delete expired records

``--url`` defaults to ``$SNAPSTACK_TOKEN_TABLE``, else the embedded SQLite file. Exit codes: 0 done,
1 no live record for the token, 3 the backend is unavailable (or the URL is not a token table).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapstack.tokens import TokenRecord, TokenTable

EXIT_NOT_FOUND = 1
EXIT_UNAVAILABLE = 3

# TokenState's values, spelled out so building the parser does not import the library (pydantic).
_STATES = ("claimed", "created", "failed")
_COLUMNS = ("token", "state", "owner", "attempts", "snapshot_id", "error_code", "updated")


def register(subparsers: Any) -> None:
    """Add ``tokens`` and its sub-commands to the ``snapstack`` parser."""
    parser = subparsers.add_parser("tokens", help="inspect and purge the token table (dedupe state)")
    actions = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="token table URL (default: $SNAPSTACK_TOKEN_TABLE or the SQLite file)")

    ls = actions.add_parser("ls", parents=[common], help="list live records, newest first")
    ls.add_argument("--state", choices=_STATES, help="only records in this state")
    ls.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    ls.set_defaults(func=_ls)

    show = actions.add_parser("show", parents=[common], help="print one record as JSON")
    show.add_argument("token")
    show.set_defaults(func=_show)

    purge = actions.add_parser("purge", parents=[common], help="delete expired records")
    purge.add_argument("--json", action="store_true", help='print {"deleted": N}')
    purge.set_defaults(func=_purge)


def _run(args: argparse.Namespace, action: Callable[[TokenTable], int]) -> int:
    """Open the table, run ``action(table)``, and turn backend trouble into a message and exit code."""
    from snapstack.tokens import TokenTableUnavailable, open_table

    try:
        table = open_table(args.url)
    except ValueError as exc:
        print(f"snapstack tokens: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        return action(table)
    except TokenTableUnavailable as exc:
        print(f"snapstack tokens: the token table is unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        table.close()


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(record: TokenRecord) -> tuple[str, ...]:
    return (
        record.token,
        record.state.value,
        record.owner,
        str(record.attempts),
        record.snapshot_id or "-",
        record.error_code or "-",
        _when(record.updated_at),
    )


def _print_table(rows: list[tuple[str, ...]]) -> None:
    lines = [_COLUMNS, *rows]
    widths = [max(len(cell) for cell in column) for column in zip(*lines, strict=True)]
    for cells in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())


def _ls(args: argparse.Namespace) -> int:
    from snapstack.tokens import TokenState

    def action(table: TokenTable) -> int:
        records = table.records(state=TokenState(args.state) if args.state else None)
        if args.json:
            print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        elif records:
            _print_table([_row(r) for r in records])
        else:
            print("no live records")
        return 0

    return _run(args, action)


def _show(args: argparse.Namespace) -> int:
    def action(table: TokenTable) -> int:
        record = table.get(args.token)
        if record is None:
            print(f"snapstack tokens: no live record for token {args.token!r}", file=sys.stderr)
            return EXIT_NOT_FOUND
        print(record.model_dump_json(indent=2))
        return 0

    return _run(args, action)


def _purge(args: argparse.Namespace) -> int:
    def action(table: TokenTable) -> int:
        deleted = table.purge()
        print(json.dumps({"deleted": deleted}) if args.json else f"purged {deleted} expired record(s)")
        return 0

    return _run(args, action)
