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

from devkit.emulator.responses import Credential
from devkit.emulator.server import LocalServer
from devkit.mns.models import MnsState
from devkit.mns.server import DEFAULT_CREDENTIALS, MnsApp


class LocalMns(LocalServer):
    """The local MNS endpoint on a loopback port. ``clock``: seconds (default ``time.time``)."""

    NAME = "the MNS endpoint"

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
        self.app: MnsApp
        super().__init__(MnsApp(self.state, self.credentials), host, port)

    def account(self, credential: Credential | None = None):  # type: ignore[no-untyped-def]
        """An official SDK ``mns.account.Account`` for this endpoint (the first key by default)."""
        from mns.account import Account

        key = credential or self.credentials[0]
        return Account(self.url, key.access_key_id, key.access_key_secret, key.security_token or "")
