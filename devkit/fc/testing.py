"""Test helpers: the local FC endpoint in-process, and official ``fc2`` clients for it.

    from devkit.fc.testing import LocalFc

    with LocalFc(template, target, RunSettings(token_table="sqlite:///tmp/tokens.db")) as fc:
        client = fc.fc2_client()                        # aliyun-fc2, plain AccessKey pair
        client.invoke_function("snapstack", "deploy_hook", payload=b"{...}",
                               headers={"x-fc-invocation-type": "Async",
                                        "x-fc-stateful-async-invocation-id": "deploy-1"})
        fc.wait_idle()                                  # every async invocation has ended
        fc.state.invocations()[-1].status               # "Succeeded"

``template`` is a parsed ``Template`` or a template.yml path; ``target`` is where the functions'
ECS calls go (``devkit.local.runner.Target``, e.g. an ``EcsEmulator``'s endpoint and keys).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devkit.emulator.responses import Credential
from devkit.emulator.server import LocalServer
from devkit.fc.execution import DEFAULT_SETTINGS, FunctionHost, RunSettings
from devkit.fc.models import FcState
from devkit.fc.server import DEFAULT_CREDENTIALS, FcApp
from devkit.local.runner import Target
from devkit.local.template import Template, load_template

#: ``LocalFc``'s default: FC's 3 async retries, with no pause (a test waits for events, not time).
TEST_SETTINGS = RunSettings(retry_delay=0.0)


def build_app(
    template: Template | Path,
    target: Target,
    settings: RunSettings = DEFAULT_SETTINGS,
    credentials: Iterable[Credential] = DEFAULT_CREDENTIALS,
) -> FcApp:
    """An ``FcApp`` serving ``template``'s functions (its service name, qualifier LATEST)."""
    parsed = template if isinstance(template, Template) else load_template(template)
    state = FcState(parsed.service_name, (spec.name for spec in parsed.functions.values()))
    return FcApp(FunctionHost(parsed, target, state, settings), credentials)


class LocalFc(LocalServer):
    """The local FC endpoint on a loopback port, for one test or one fixture scope.

    By default async retries are FC's 3 with no pause between them (a test waits for events, not time).
    """

    NAME = "the FC endpoint"

    def __init__(
        self,
        template: Template | Path,
        target: Target,
        settings: RunSettings = TEST_SETTINGS,
        *,
        credentials: Iterable[Credential] = DEFAULT_CREDENTIALS,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app: FcApp
        super().__init__(build_app(template, target, settings, credentials), host, port)

    def stop(self) -> None:
        """Stop serving, free the port, let the async runs in progress finish."""
        super().stop()
        self.app.host.close()

    @property
    def service(self) -> str:
        """The service name the endpoint serves (the template's)."""
        return self.app.state.service

    @property
    def state(self) -> FcState:
        """The endpoint's state (functions, async invocations)."""
        return self.app.state

    @property
    def credentials(self) -> Credential:
        """The first configured credential (a plain AccessKey pair by default)."""
        return self.app.credentials[0]

    def fc2_client(self, credentials: Credential | None = None, timeout: float = 30) -> Any:
        """An official ``fc2.Client`` for this endpoint."""
        import fc2

        cred = credentials or self.credentials
        return fc2.Client(
            endpoint=self.url,
            accessKeyID=cred.access_key_id,
            accessKeySecret=cred.access_key_secret,
            securityToken=cred.security_token or "",
            Timeout=timeout,
        )

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until every accepted async invocation has ended (``TimeoutError`` after ``timeout`` s)."""
        if not self.app.state.wait_idle(timeout):
            raise TimeoutError(f"async invocations still running after {timeout} s")
