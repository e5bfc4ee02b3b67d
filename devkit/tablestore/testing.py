"""The emulator wired to the Tablestore token table, for tests and benchmarks.

::

    with start_emulator() as running:
        table = running.token_table(lease_seconds=5, clock=fake_clock)  # a fresh, empty table
        ...

``running.table_url()`` creates an empty table and returns its URL; with the variables of
``running.environment()`` set, ``snapstack.tokens.open_table(url)`` reaches it as production code
would (credentials from the environment). ``running.client()`` is a raw SDK client for looking at
the rows themselves.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import TracebackType
from typing import Any

from devkit.tablestore.server import TablestoreEmulator
from snapstack.tokens.tablestore import (
    ACCESS_KEY_ID_ENV,
    ACCESS_KEY_SECRET_ENV,
    SECURITY_TOKEN_ENV,
    TablestoreTokenTable,
)

_table_numbers = itertools.count(1)


class RunningEmulator:
    """A started emulator and the ways in: URLs, credentials, token tables, SDK clients."""

    def __init__(self, emulator: TablestoreEmulator) -> None:
        self.emulator = emulator

    @property
    def endpoint(self) -> str:
        """The emulator's ``http://127.0.0.1:PORT`` endpoint."""
        return self.emulator.endpoint

    @property
    def instance(self) -> str:
        """The emulated instance's name."""
        return self.emulator.instance

    @property
    def credentials(self) -> dict[str, str | None]:
        """``access_key_id``, ``access_key_secret`` and ``security_token`` keyword arguments."""
        return {
            "access_key_id": self.emulator.access_key_id,
            "access_key_secret": self.emulator.access_key_secret,
            "security_token": self.emulator.security_token,
        }

    def environment(self) -> dict[str, str]:
        """The ``ALIBABA_CLOUD_*`` variables that make the token table sign in to this emulator."""
        env = {
            ACCESS_KEY_ID_ENV: self.emulator.access_key_id,
            ACCESS_KEY_SECRET_ENV: self.emulator.access_key_secret,
        }
        if self.emulator.security_token is not None:
            env[SECURITY_TOKEN_ENV] = self.emulator.security_token
        return env

    def url(self, table: str) -> str:
        """The token-table URL of ``table`` on this emulator (the table may not exist yet)."""
        return f"tablestore://{self.instance}/{table}?endpoint={self.endpoint}"

    def token_table(self, table: str | None = None, **kwargs: Any) -> TablestoreTokenTable:
        """A ``TablestoreTokenTable`` on ``table`` (default: a new, empty one), created if missing.

        ``kwargs`` go to the constructor (``lease_seconds``, ``record_ttl_seconds``, ``clock``, ...).
        """
        name = table or f"tokens_{next(_table_numbers)}"
        token_table = TablestoreTokenTable(self.url(name), **{**self.credentials, **kwargs})
        token_table.ensure_table()
        return token_table

    def table_url(self, table: str | None = None) -> str:
        """Create ``table`` (default: a new, empty one) if missing and return its URL."""
        token_table = self.token_table(table)
        token_table.close()
        return self.url(token_table.table)

    def client(self, **kwargs: Any) -> Any:
        """A ``tablestore.OTSClient`` for this emulator (``kwargs`` go to its constructor)."""
        import tablestore  # here, not at the top: the SDK is slow to import

        return tablestore.OTSClient(
            self.endpoint,
            self.emulator.access_key_id,
            self.emulator.access_key_secret,
            self.instance,
            sts_token=self.emulator.security_token,
            **kwargs,
        )

    def stop(self) -> None:
        """Stop the emulator."""
        self.emulator.stop()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(*, clock: Callable[[], float] | None = None, **kwargs: Any) -> RunningEmulator:
    """Start an emulator on a free loopback port (``kwargs`` go to ``TablestoreEmulator``)."""
    if clock is not None:
        kwargs["clock"] = clock
    return RunningEmulator(TablestoreEmulator(**kwargs).start())
