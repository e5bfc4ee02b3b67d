"""Test helpers: run the ECS emulator in-process and hand out official SDK clients for it.

    from devkit.emulator.testing import EcsEmulator

    with EcsEmulator(fleet=None, faults={"apis": {"CreateSnapshot": {"latency_ms": 50}}}) as emu:
        client = emu.sdk_client()                      # V3 signing; sdk_client("v2") for V2
        client.create_snapshot_with_options(CreateSnapshotRequest(disk_id="d-web-01-data"), RuntimeOptions())
        assert emu.calls("CreateSnapshot") == 1
        assert emu.state.snapshots("d-web-01-data")[-1]["status"] == "progressing"
        emu.state.clock.advance(120)

``fleet`` is a mapping, a JSON file path, or None for the sample fleet
(``devkit/emulator/fixtures/sample_fleet.json``); ``faults`` a mapping, a JSON/YAML file path,
or None.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.emulator.faults import Faults, load_faults_file
from devkit.emulator.fleet import FleetSource, load_fleet
from devkit.emulator.models import EcsState
from devkit.emulator.responses import Credential
from devkit.emulator.server import DEFAULT_CREDENTIALS, EmulatorApp, LocalServer, RequestCounters

if TYPE_CHECKING:
    from alibabacloud_ecs20140526.client import Client

FaultsSource = Mapping[str, Any] | str | os.PathLike[str] | None


def load_faults(source: FaultsSource) -> dict[str, Any]:
    """Faults as data: a mapping is copied, a path is read (JSON or YAML), None is no faults."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    return load_faults_file(Path(source))


class EcsEmulator(LocalServer):
    """An ECS emulator on a loopback port, for one test or one fixture scope."""

    NAME = "the emulator"

    def __init__(
        self,
        fleet: FleetSource = None,
        faults: FaultsSource = None,
        *,
        credentials: Iterable[Credential] = DEFAULT_CREDENTIALS,
        host: str = "127.0.0.1",
        port: int = 0,
        token_errors: str | None = None,
    ) -> None:
        data = load_fleet(fleet)
        if token_errors is not None:  # "remember" | "release": how ClientTokens keep their first error
            data["token_errors"] = token_errors
        self.app: EmulatorApp
        super().__init__(EmulatorApp(data, load_faults(faults), credentials), host, port)

    # --- what tests use ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT`` (the SDK's ``Config.endpoint``)."""
        return self.running.endpoint

    @property
    def credentials(self) -> Credential:
        """The first configured credential (a plain AccessKey pair by default)."""
        return self.app.credentials[0]

    @property
    def sts_credentials(self) -> Credential:
        """The first configured STS triple (``LookupError`` when there is none)."""
        for cred in self.app.credentials:
            if cred.security_token:
                return cred
        raise LookupError("no STS credentials configured")

    @property
    def state(self) -> EcsState:
        """The model, for direct assertions and state changes (thread-safe)."""
        return self.app.state

    @property
    def faults(self) -> Faults:
        """The fault configuration (``emu.faults.configure({...})`` replaces it)."""
        return self.app.faults

    @property
    def counters(self) -> RequestCounters:
        """Requests per action and their outcomes."""
        return self.app.counters

    def calls(self, action: str) -> int:
        """How many ``action`` requests arrived (whatever their outcome)."""
        return self.app.counters.total(action)

    def reset(self) -> None:
        """Back to the starting fleet and faults; counters to zero."""
        self.app.reset()

    def sdk_client(
        self,
        signature_algorithm: str | None = None,
        *,
        credentials: Credential | None = None,
        read_timeout_ms: int | None = None,
    ) -> Client:
        """An official ``alibabacloud_ecs20140526`` client for this emulator (protocol http).

        ``signature_algorithm``: None for the SDK default (V3 ACS3-HMAC-SHA256), "v2" for HMAC-SHA1.
        """
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.models import Config

        cred = credentials or self.credentials
        config = Config(
            access_key_id=cred.access_key_id,
            access_key_secret=cred.access_key_secret,
            security_token=cred.security_token,
            region_id=self.state.region_id,
            endpoint=self.endpoint,
            protocol="http",
            signature_algorithm=signature_algorithm,
            read_timeout=read_timeout_ms,
        )
        return Client(config)

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the control API (``path`` below ``/_emulator/``); returns (status, decoded JSON)."""
        server = self.running
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            conn.request(method, f"/_emulator/{path.lstrip('/')}", body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()
