"""Test helper: the ROS stand-in on a loopback port, and official ROS SDK clients for it.

with RosStandIn() as ros:
    client = ros.sdk_client()                  # alibabacloud_ros20190910.client.Client
    ros.fail("ScheduledBackup", "code object not found")   # that resource fails to create
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from devkit.emulator.responses import Credential
from devkit.emulator.server import DEFAULT_CREDENTIALS, EmulatorServer
from devkit.ros.models import RosState
from devkit.ros.server import RosApp

if TYPE_CHECKING:
    from alibabacloud_ros20190910.client import Client


class RosStandIn:
    """A ROS API stand-in serving the official SDK over HTTP, signatures checked."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = RosApp()
        self._server = EmulatorServer(self.app, host, port)

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``Config(endpoint=...)`` (protocol http)."""
        return self._server.endpoint

    @property
    def state(self) -> RosState:
        """The stacks."""
        return self.app.state

    @property
    def credentials(self) -> Credential:
        """An AccessKey pair it accepts."""
        return DEFAULT_CREDENTIALS[0]

    def fail(self, logical_id: str, reason: str) -> None:
        """Make ``logical_id`` fail whenever a stack creates or updates it."""
        self.state.fail_resources[logical_id] = reason

    def sdk_client(self, region: str = "cn-hangzhou") -> Client:
        """An official ROS SDK client signed with ``credentials``."""
        from alibabacloud_ros20190910.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        cred = self.credentials
        return Client(
            Config(
                access_key_id=cred.access_key_id,
                access_key_secret=cred.access_key_secret,
                region_id=region,
                endpoint=self.endpoint,
                protocol="http",
            )
        )

    def start(self) -> RosStandIn:
        """Serve in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> RosStandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
