"""``snapstack tokens``: look into, tidy and re-arm the token table (the dedupe state).

    snapstack tokens ls [--url URL] [--state S] [--json]     live records, newest first
    snapstack tokens show TOKEN [--url URL]                   one record as JSON (times in ISO 8601)
    snapstack tokens purge [--url URL] [--json]               delete expired records
    snapstack tokens retry (--token T | --disk D | --policy P | --slot S) [--url URL] [--json]
                                                              re-arm failed records (after a fix)

``--url`` defaults to ``$SNAPSTACK_TOKEN_TABLE``, else the embedded SQLite file; a SQLite file
that does not exist is an error (never a new empty table), and a URL's credentials are never
printed. Exit codes (``devkit/exitcodes.py``): 0 done; 1 no live record / nothing re-armed or
some refused; 2 a URL no backend serves or a SQLite file that does not exist; 5 the table is
unavailable, refused our credentials, or does not exist.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devkit import exitcodes

if TYPE_CHECKING:
    from snapstack.tokens import TokenRecord, TokenTable

# TokenState's values, spelled out so building the parser does not import the library (pydantic).
_STATES = ("claimed", "sent", "created", "failed")
_COLUMNS = ("token", "state", "disk", "policy", "slot", "attempts", "snapshot_id", "error_code", "updated")
_TIME_FIELDS = ("lease_until", "created_at", "updated_at", "expires_at")


def register(subparsers: Any) -> None:
    """Add ``tokens`` and its sub-commands to the ``snapstack`` parser."""
    parser = subparsers.add_parser("tokens", help="inspect, purge and re-arm the token table (dedupe state)")
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

    retry = actions.add_parser(
        "retry",
        parents=[common],
        help="re-arm failed records so the next delivery retries them (never one holding a snapshot)",
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--token", help="one slot token")
    which.add_argument("--disk", help="every failed record of this disk id")
    which.add_argument("--policy", help="every failed record of this policy")
    which.add_argument("--slot", help="every failed record of this slot label (as `ls` shows it)")
    retry.add_argument("--json", action="store_true", help='print {"rearmed": [...], "refused": [...]}')
    retry.set_defaults(func=_retry)


def _run(args: argparse.Namespace, action: Callable[[TokenTable], int]) -> int:
    """Open the table, run ``action(table)``, and turn backend trouble into one line and an exit code."""
    import os

    from snapstack.tokens import DEFAULT_URL, URL_ENV, TokenTableError, TokenTableUnavailable, open_table

    url = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
    # An audit never creates a table: a wrong SQLite path must say so, not show an empty one.
    options = {"create": False} if url.startswith("sqlite:") else {}
    try:
        table = open_table(url, **options)
    except ValueError as exc:
        return _say(str(exc), exitcodes.USAGE)
    try:
        return action(table)
    except TokenTableUnavailable as exc:
        return _say(f"the token table is unavailable: {exc}", exitcodes.TOOL_ERROR)
    except TokenTableError as exc:
        missing_file = url.startswith("sqlite:") and "does not exist" in str(exc)
        return _say(str(exc), exitcodes.USAGE if missing_file else exitcodes.TOOL_ERROR)
    finally:
        table.close()


def _say(message: str, code: int) -> int:
    print(f"snapstack tokens: {message}", file=sys.stderr)
    return code


def _when(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(record: TokenRecord) -> dict[str, Any]:
    """The record as JSON, its times in ISO 8601 (UTC); a lease that is not held reads null."""
    doc = record.model_dump(mode="json")
    for name in _TIME_FIELDS:
        value = doc[name]
        doc[name] = _when(value) if value else None
    return doc


def _row(record: TokenRecord) -> tuple[str, ...]:
    meta = record.meta
    return (
        record.token,
        record.state.value,
        meta.get("disk_id") or "-",
        meta.get("policy") or "-",
        meta.get("slot") or "-",
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
            print(json.dumps([_document(r) for r in records], indent=2))
        elif records:
            _print_table([_row(r) for r in records])
        else:
            print("no live records")
        return exitcodes.OK

    return _run(args, action)


def _show(args: argparse.Namespace) -> int:
    def action(table: TokenTable) -> int:
        record = table.get(args.token)
        if record is None:
            return _say(f"no live record for token {args.token!r}", exitcodes.FAILED)
        print(json.dumps(_document(record), indent=2))
        return exitcodes.OK

    return _run(args, action)


def _purge(args: argparse.Namespace) -> int:
    def action(table: TokenTable) -> int:
        deleted = table.purge()
        print(json.dumps({"deleted": deleted}) if args.json else f"purged {deleted} expired record(s)")
        return exitcodes.OK

    return _run(args, action)


def _selected(table: TokenTable, args: argparse.Namespace) -> list[TokenRecord]:
    if args.token:
        record = table.get(args.token)
        return [] if record is None else [record]
    key, value = next(
        (k, v) for k, v in (("disk_id", args.disk), ("policy", args.policy), ("slot", args.slot)) if v
    )
    return [r for r in table.records() if r.meta.get(key) == value]


def _retry(args: argparse.Namespace) -> int:
    from snapstack.tokens import RearmRefused, TokenState

    def action(table: TokenTable) -> int:
        chosen = _selected(table, args)
        rearmed: list[dict[str, Any]] = []
        refused: list[dict[str, str]] = []
        for record in chosen:
            if record.state is not TokenState.FAILED and not args.token:
                continue  # by disk/policy/slot: only failed records are candidates
            try:
                armed = table.rearm(record.token, by="snapstack tokens retry")
            except (RearmRefused, LookupError) as exc:
                refused.append({"token": record.token, "reason": str(exc)})
                continue
            rearmed.append(
                {"token": armed.token, "disk_id": armed.meta.get("disk_id", ""), "was": record.error_code}
            )
        if args.json:
            print(json.dumps({"rearmed": rearmed, "refused": refused}, indent=2))
        else:
            for item in rearmed:
                print(f"re-armed {item['token']} (disk {item['disk_id'] or '-'}, failed with {item['was']})")
            for item in refused:
                print(f"refused  {item['token']}: {item['reason']}")
            if not rearmed and not refused:
                print("no failed record matches")
        return exitcodes.OK if rearmed and not refused else exitcodes.FAILED

    return _run(args, action)
