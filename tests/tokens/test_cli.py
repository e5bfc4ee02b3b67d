"""``snapstack tokens ls|show|purge`` through the real entry point."""

from __future__ import annotations

import json
import time

import pytest

from devkit.cli import main
from devkit.commands import tokens as tokens_command
from devkit.redis_server import free_port
from snapstack.tokens import URL_ENV, TokenState, TokenTable, open_table
from tests.tokens.support import FakeClock, TableFactory


@pytest.fixture
def filled(table_factory: TableFactory, clock: FakeClock) -> TokenTable:
    """Three records in three states, written a second apart (the CLI reads them on the real clock)."""
    table = table_factory()
    table.claim("tok-claimed", "host:1:aaaa")
    clock.advance(1)
    table.claim("tok-created", "host:2:bbbb")
    table.complete("tok-created", "host:2:bbbb", "s-0001")
    clock.advance(1)
    table.claim("tok-failed", "host:3:cccc")
    table.fail("tok-failed", "host:3:cccc", "Throttling", retryable=True)
    return table


def test_ls_prints_a_table_newest_first(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "ls", "--url", table_url]) == 0

    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["token", "state", "owner", "attempts", "snapshot_id", "error_code", "updated"]
    cells = [row.split() for row in rows]
    assert [c[:6] for c in cells] == [
        ["tok-failed", "failed", "host:3:cccc", "1", "-", "Throttling"],
        ["tok-created", "created", "host:2:bbbb", "1", "s-0001", "-"],
        ["tok-claimed", "claimed", "host:1:aaaa", "1", "-", "-"],
    ]
    assert all(c[6].endswith("Z") and len(c[6]) == 20 for c in cells)


def test_ls_filters_by_state_and_prints_json(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "ls", "--url", table_url, "--state", "created", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == [
        r.model_dump(mode="json") for r in filled.records(state=TokenState.CREATED)
    ]


def test_ls_of_an_empty_table_says_so(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "ls", "--url", sqlite_url]) == 0
    assert capsys.readouterr().out == "no live records\n"


def test_show_prints_one_record_as_json(
    filled: TokenTable, table_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "show", "tok-created", "--url", table_url]) == 0

    shown = json.loads(capsys.readouterr().out)
    record = filled.get("tok-created")
    assert record is not None and shown == record.model_dump(mode="json")


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
    ("url", "message"),
    [
        (f"redis://127.0.0.1:{free_port()}/0", "the token table is unavailable"),
        ("memcached://localhost:11211", "unsupported token table URL"),
    ],
)
def test_an_unreachable_or_unknown_table_exits_3(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tokens", "ls", "--url", url]) == 3
    assert message in capsys.readouterr().err


def test_the_state_choices_match_the_library() -> None:
    assert tuple(state.value for state in TokenState) == tokens_command._STATES
