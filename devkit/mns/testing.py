"""Test helpers: the local MNS endpoint in-process, and official ``aliyun-mns-sdk`` clients for it.

from devkit.mns.testing import LocalMns

with LocalMns(clock=emulator.state.clock.now) as mns:
    mns.state.create_queue("snapstack-failed")
    queue = mns.account().get_queue("snapstack-failed")   # mns.queue.Queue, over a socket
    mns.state.messages("snapstack-failed")                 # what the queue holds
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType

from devkit.emulator.responses import Credential
from devkit.emulator.server import EmulatorServer
from devkit.mns.models import MnsState
from devkit.mns.server import DEFAULT_CREDENTIALS, MnsApp


class LocalMns:
    """The local MNS endpoint on a loopback port. ``clock``: seconds (default ``time.time``)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        credentials: Iterable[Credential] = DEFAULT_CREDENTIALS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.state = MnsState(clock)
        self.credentials = tuple(credentials)
        self.app = MnsApp(self.state, self.credentials)
        self._host, self._port = host, port
        self._server: EmulatorServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._server is None:
            raise RuntimeError("LocalMns is not started")
        return self._server.url

    def start(self) -> LocalMns:
        """Bind and serve in a background thread."""
        if self._server is None:
            self._server = EmulatorServer(self.app, self._host, self._port)
            self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def account(self, credential: Credential | None = None):  # type: ignore[no-untyped-def]
        """An official SDK ``mns.account.Account`` for this endpoint (the first key by default)."""
        from mns.account import Account

        key = credential or self.credentials[0]
        return Account(self.url, key.access_key_id, key.access_key_secret, key.security_token or "")

    def __enter__(self) -> LocalMns:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
