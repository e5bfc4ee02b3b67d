"""SQLite specifics: URLs, the file it creates, and the failures that mean "unavailable"."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from snapstack.tokens import ClaimOutcome, TokenTableError, TokenTableUnavailable
from snapstack.tokens.sqlite import SqliteTokenTable, path_from_url
from tests.tokens.support import race


def test_urls_name_relative_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert path_from_url("sqlite:///state/tokens.db") == str(tmp_path / "state" / "tokens.db")
    assert path_from_url("sqlite:////var/lib/tokens.db") == "/var/lib/tokens.db"
    for bad in ("sqlite://", "sqlite:///", "sqlite://host/tokens.db", "redis://localhost/0"):
        with pytest.raises(ValueError, match="not a SQLite token-table URL"):
            path_from_url(bad)


def test_first_use_creates_directories_and_a_wal_database(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "tokens.db"
    table = SqliteTokenTable(f"sqlite:///{path}")
    assert not path.parent.exists()  # making a table touches nothing

    claimed = table.claim("t", "a").record
    table.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT token, version FROM tokens").fetchall() == [("t", claimed.version)]


def test_a_parent_that_is_a_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("not a directory")
    table = SqliteTokenTable(f"sqlite:///{tmp_path}/plain-file/tokens.db")

    with pytest.raises(TokenTableUnavailable, match="plain-file"):
        table.claim("t", "a")


def test_a_path_that_is_a_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "tokens.db").mkdir()

    with pytest.raises(TokenTableUnavailable):
        SqliteTokenTable(f"sqlite:///{tmp_path}/tokens.db").claim("t", "a")


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "tokens.db").write_bytes(b"this is not a SQLite database, just text" * 100)

    with pytest.raises(TokenTableUnavailable, match="not a database"):
        SqliteTokenTable(f"sqlite:///{tmp_path}/tokens.db").get("t")


def test_a_database_locked_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.db"
    SqliteTokenTable(url).claim("warm", "a")  # create the file and the table first
    holder = sqlite3.connect(tmp_path / "tokens.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    table = SqliteTokenTable(url, busy_timeout=0.3)
    try:
        with pytest.raises(TokenTableUnavailable, match="locked"):
            table.claim("t", "a")
        # The wait before giving up is SQLite's own busy handler, given the table's setting (in ms).
        with table._session() as conn:
            assert conn.execute("PRAGMA busy_timeout").fetchone() == (300,)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert table.claim("t", "a").outcome is ClaimOutcome.CLAIMED  # the same instance recovers


def test_connections_racing_to_create_a_fresh_file_all_get_an_answer(tmp_path: Path) -> None:
    # The switch to WAL of a new file fails at once under contention unless the table waits for it;
    # it failed about 1 claim in 100 here before it did, hence many fresh files.
    outcomes: Counter[str] = Counter()
    for trial in range(40):
        tables = [SqliteTokenTable(f"sqlite:///{tmp_path}/{trial}/tokens.db") for _ in range(8)]
        outcomes += race(tables, lambda table, owner: table.claim("t", owner).outcome)
        for table in tables:
            table.close()

    assert outcomes == Counter({"claimed": 40, "busy": 40 * 7})


def test_the_busy_timeout_is_five_seconds_unless_named(tmp_path: Path) -> None:
    table = SqliteTokenTable(f"sqlite:///{tmp_path}/tokens.db")
    table.get("t")
    with table._session() as conn:
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    with pytest.raises(TypeError):
        SqliteTokenTable(f"sqlite:///{tmp_path}/tokens.db", 1.0)  # type: ignore[misc]


def test_a_fresh_file_locked_while_the_table_opens_it_is_unavailable_not_a_hang(tmp_path: Path) -> None:
    # Switching a new file to WAL needs an exclusive lock; the table retries that switch until its
    # busy timeout, then gives up (it must not retry forever, nor fail on its own waiting).
    holder = sqlite3.connect(tmp_path / "tokens.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        table = SqliteTokenTable(f"sqlite:///{tmp_path}/tokens.db", busy_timeout=0.2)
        with pytest.raises(TokenTableUnavailable, match="locked"):
            table.claim("t", "a")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert table.claim("t", "a").outcome is ClaimOutcome.CLAIMED


def test_create_false_opens_a_table_that_exists_and_refuses_a_path_that_does_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tokens.db"
    assert SqliteTokenTable(url).claim("ss2-a", "owner").outcome is ClaimOutcome.CLAIMED
    existing = SqliteTokenTable(url, create=False)
    assert existing.get("ss2-a") is not None
    missing = SqliteTokenTable(f"sqlite:///{tmp_path}/none.db", create=False)
    with pytest.raises(TokenTableError, match="does not exist"):
        missing.get("ss2-a")
    assert not (tmp_path / "none.db").exists()


def test_each_thread_has_its_own_connection_and_close_makes_every_thread_reopen(tmp_path: Path) -> None:
    # One connection per thread (no Python lock around a shared one: workers queued behind it).
    from concurrent.futures import ThreadPoolExecutor

    table = SqliteTokenTable(f"sqlite:///{tmp_path}/tokens.db")
    with ThreadPoolExecutor(max_workers=1) as other:
        theirs = other.submit(table._connection).result()
        mine = table._connection()
        assert mine is not theirs
        assert table._connection() is mine  # kept for the thread's next call
        assert other.submit(table._connection).result() is theirs

        table.close()
        with pytest.raises(sqlite3.ProgrammingError):
            mine.execute("SELECT 1")  # the caller's own connection closes at once
        reopened = other.submit(table._connection).result()
        assert reopened is not theirs  # another thread reopens on its next call...
        with pytest.raises(sqlite3.ProgrammingError):
            theirs.execute("SELECT 1")  # ...and closes the old one first
        assert other.submit(lambda: table.claim("t", "a").outcome).result() is ClaimOutcome.CLAIMED
    assert table.claim("t", "b").outcome is ClaimOutcome.BUSY
