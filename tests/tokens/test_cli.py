"""``snapstack tokens ls|show|purge`` through the real entry point."""

from __future__ import annotations

import datetime
import json
import re
import time
from pathlib import Path

import pytest

from devkit import exitcodes
from devkit.cli import main
from devkit.commands import tokens as tokens_command
from devkit.redis_server import free_port
from snapstack.tokens import URL_ENV, ClaimOutcome, TokenState, TokenTable, open_table
from tests.tokens.support import FakeClock, TableFactory

TIMES = ("lease_until", "created_at", "updated_at", "expires_at")


def iso(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def filled(table_factory: TableFactory, clock: FakeClock) -> TokenTable:
    """Three records in three states, written a second apart (the CLI reads them on the real clock)."""
    table = table_factory()
    meta = {"policy": "daily", "slot": "20261128"}
    table.claim("tok-claimed", "host:1:aaaa", meta={**meta, "disk_id": "d-1"})
    clock.advance(1)
    table.claim("tok-created", "host:2:bbbb", meta={**meta, "disk_id": "d-2"})
    table.complete("tok-created", "host:2:bbbb", "s-0001")
    clock.advance(1)
    table.claim("tok-failed", "host:3:cccc", meta={**meta, "disk_id": "d-3"})
    table.fail("tok-failed", "host:3:cccc", "Throttling", retryable=True)
    return table


def test_ls_prints_a_table_newest_first(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "ls", "--url", table_url]) == 0

    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "token", "state", "disk", "policy", "slot", "attempts", "snapshot_id", "error_code", "updated"
    ]  # fmt: skip
    cells = [row.split() for row in rows]
    assert [c[:8] for c in cells] == [
        ["tok-failed", "failed", "d-3", "daily", "20261128", "1", "-", "Throttling"],
        ["tok-created", "created", "d-2", "daily", "20261128", "1", "s-0001", "-"],
        ["tok-claimed", "claimed", "d-1", "daily", "20261128", "1", "-", "-"],
    ]
    assert all(c[8].endswith("Z") and len(c[8]) == 20 for c in cells)


def test_ls_filters_by_state_and_prints_json(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "ls", "--url", table_url, "--state", "created", "--json"]) == 0

    (shown,) = json.loads(capsys.readouterr().out)
    (record,) = filled.records(state=TokenState.CREATED)
    assert shown["token"] == record.token and shown["snapshot_id"] == "s-0001"
    assert shown["updated_at"] == iso(record.updated_at) and shown["lease_until"] is None


def test_ls_of_an_empty_table_says_so(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    open_table(sqlite_url).get("create-the-file")
    assert main(["tokens", "ls", "--url", sqlite_url]) == 0
    assert capsys.readouterr().out == "no live records\n"


def test_show_prints_one_record_as_json(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "show", "tok-created", "--url", table_url]) == 0

    shown = json.loads(capsys.readouterr().out)
    record = filled.get("tok-created")
    assert record is not None
    # Times in ISO 8601 (UTC); everything else as stored.
    for name in ("created_at", "updated_at", "expires_at"):
        assert shown[name] == iso(getattr(record, name)) and re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", shown[name]
        )
    plain = {k: v for k, v in record.model_dump(mode="json").items() if k not in TIMES}
    assert {k: v for k, v in shown.items() if k not in TIMES} == plain


def test_show_of_a_missing_token_exits_1(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "show", "tok-nope", "--url", table_url]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no live record for token 'tok-nope'" in captured.err


def test_purge_reports_how_many_expired_records_went(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    long_ago = open_table(sqlite_url, clock=lambda: time.time() - 30 * 86400)
    for token in ("old-1", "old-2"):
        long_ago.claim(token, "a")
    open_table(sqlite_url).claim("fresh", "a")
    monkeypatch.setenv(URL_ENV, sqlite_url)  # and no --url: the environment names the table

    assert main(["tokens", "purge"]) == 0
    assert main(["tokens", "purge", "--json"]) == 0

    assert capsys.readouterr().out.splitlines() == ["purged 2 expired record(s)", '{"deleted": 0}']
    assert [r.token for r in open_table(sqlite_url).records()] == ["fresh"]


@pytest.mark.parametrize(
    ("url", "message", "code"),
    [
        (f"redis://127.0.0.1:{free_port()}/0", "the token table is unavailable", exitcodes.TOOL_ERROR),
        ("memcached://localhost:11211", "unsupported token table URL", exitcodes.USAGE),
        (
            "sqlite:////nonexistent/dir/tokens.db",
            "no SQLite token table at /nonexistent/dir/tokens.db",
            exitcodes.USAGE,
        ),
    ],
)
def test_an_unreachable_unknown_or_missing_table_is_one_line(
    url: str, message: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "ls", "--url", url]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not Path("/nonexistent/dir").exists()  # an audit never creates a table


def test_a_url_password_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    for url in (f"rediss://admin:hunter2-secret@127.0.0.1:{port}/0", "memcached://u:hunter2-secret@h:1"):
        main(["tokens", "ls", "--url", url])
        captured = capsys.readouterr()
        assert "hunter2" not in captured.out + captured.err
        assert "***@" in captured.err


def test_retry_rearms_failed_records_and_refuses_one_with_a_snapshot(
    table_factory: TableFactory, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = table_factory()
    for token, disk in (("t-quota", "d-1"), ("t-kms", "d-2")):
        table.claim(token, "o", meta={"disk_id": disk, "policy": "daily", "slot": "20261128"})
        table.fail(token, "o", "QuotaExceed.Snapshot", retryable=False)
    table.claim("t-done", "o", meta={"disk_id": "d-3", "policy": "daily"})
    table.complete("t-done", "o", "s-1")

    assert main(["tokens", "retry", "--policy", "daily", "--url", table_url]) == exitcodes.OK
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == [
        "re-armed t-kms (disk d-2, failed with QuotaExceed.Snapshot)",
        "re-armed t-quota (disk d-1, failed with QuotaExceed.Snapshot)",
    ]
    armed = table.get("t-quota")
    assert armed is not None and (armed.retryable, armed.attempts, armed.generation) == (True, 0, 1)
    assert table.claim("t-quota", "next").outcome is ClaimOutcome.RETRY

    assert main(["tokens", "retry", "--token", "t-done", "--url", table_url, "--json"]) == exitcodes.FAILED
    shown = json.loads(capsys.readouterr().out)
    assert shown["rearmed"] == [] and "holds snapshot s-1" in shown["refused"][0]["reason"]
    assert main(["tokens", "retry", "--disk", "d-9", "--url", table_url]) == exitcodes.FAILED
    assert capsys.readouterr().out == "no failed record matches\n"


def test_the_state_choices_match_the_library() -> None:
    assert tuple(state.value for state in TokenState) == tokens_command._STATES
