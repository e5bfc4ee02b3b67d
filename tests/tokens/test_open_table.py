"""``open_table``: the backend by URL scheme, the default URL, and lazy backend imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snapstack.tokens import URL_ENV, open_table
from snapstack.tokens.redis import RedisTokenTable
from snapstack.tokens.sqlite import SqliteTokenTable


def test_the_scheme_picks_the_backend_and_kwargs_reach_it(sqlite_url: str, redis_url: str) -> None:
    sqlite_table = open_table(sqlite_url, lease_seconds=7.0, busy_timeout=0.5)
    redis_table = open_table(redis_url, socket_timeout=0.5)

    assert isinstance(sqlite_table, SqliteTokenTable)
    assert (sqlite_table.lease_seconds, sqlite_table.busy_timeout) == (7.0, 0.5)
    assert isinstance(redis_table, RedisTokenTable) and redis_table.socket_timeout == 0.5
    redis_table.close()


@pytest.mark.parametrize("url", ["memcached://localhost:11211", "tokens.db", "sqlite:/tokens.db"])
def test_an_unknown_scheme_names_the_supported_ones(url: str) -> None:
    with pytest.raises(ValueError, match="redis, rediss, sqlite, tablestore"):
        open_table(url)


def test_the_url_defaults_to_the_environment_then_the_embedded_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(URL_ENV, raising=False)
    embedded = open_table()
    monkeypatch.setenv(URL_ENV, f"sqlite:///{tmp_path}/from-env.db")
    configured = open_table()

    assert isinstance(embedded, SqliteTokenTable)
    assert embedded.path == str(tmp_path / ".snapstack" / "tokens.db")
    assert isinstance(configured, SqliteTokenTable)
    assert configured.path == str(tmp_path / "from-env.db")


BACKEND_MODULES = ("snapstack.tokens.redis", "snapstack.tokens.sqlite", "snapstack.tokens.tablestore")
PROBE = """
import json, sys
from snapstack.tokens import open_table
open_table(sys.argv[1])
names = [m for m in sys.modules if m.split(".")[0] in ("redis", "tablestore") or m in sys.argv[2:]]
print(json.dumps(sorted(names)))
"""


def _backend_modules_after_opening(url: str) -> list[str]:
    """The backend modules a fresh interpreter holds after ``open_table(url)`` (no call made)."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, url, *BACKEND_MODULES], capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(out.stdout)
    return modules


def test_choosing_sqlite_imports_no_other_backend(tmp_path: Path) -> None:
    assert _backend_modules_after_opening(f"sqlite:///{tmp_path}/t.db") == ["snapstack.tokens.sqlite"]


def test_choosing_redis_imports_redis_but_not_tablestore() -> None:
    modules = _backend_modules_after_opening("redis://127.0.0.1:1/0")

    assert {"redis", "snapstack.tokens.redis"} <= set(modules)
    assert not [m for m in modules if "tablestore" in m or m == "snapstack.tokens.sqlite"]
