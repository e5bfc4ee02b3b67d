"""Deploy and destroy a stack through the official ROS SDK (``alibabacloud_ros20190910``).

``Deployer.deploy`` creates the stack, or updates it when one of that name exists, then polls it
until the operation ends, handing each new stack event to a callback as it appears (ROS API:
CreateStack, UpdateStack, GetStack, ListStackEvents, ListStacks, DeleteStack,
https://www.alibabacloud.com/help/en/ros/developer-reference/api-ros-2019-09-10-dir-stacks).
The result carries the final status, the outputs, and on a failure the resources that failed with
ROS's reasons.

Credentials: ``ALIBABA_CLOUD_ACCESS_KEY_ID``, ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` and optionally
``ALIBABA_CLOUD_SECURITY_TOKEN``; region: the argument, else ``ALIBABA_CLOUD_REGION_ID``.
``SNAPSTACK_ROS_ENDPOINT`` / ``SNAPSTACK_ROS_PROTOCOL`` point the client elsewhere (the local
stand-in, ``devkit/ros``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE"})
#: ROS's answer to an update that changes nothing (UpdateStack).
NO_CHANGE = "NotSupported"
POLL_SECONDS_ENV = "SNAPSTACK_ROS_POLL_SECONDS"
_PAGE = 50


class DeployError(Exception):
    """The deployment could not be asked for: ``code`` is ROS's error code (or ``Credentials``...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Account:
    """Who deploys, and where."""

    access_key_id: str
    access_key_secret: str
    security_token: str | None
    region: str

    @classmethod
    def from_env(cls, region: str | None = None) -> Account:
        """From the ``ALIBABA_CLOUD_*`` variables; ``DeployError`` names what is missing."""
        key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        region = region or os.environ.get("ALIBABA_CLOUD_REGION_ID")
        if not key_id or not secret:
            raise DeployError(
                "Credentials", "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"
            )
        if not region:
            raise DeployError("Region", "pass --region or set ALIBABA_CLOUD_REGION_ID")
        return cls(key_id, secret, os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None, region)


@dataclass(frozen=True)
class StackEvent:
    """One event of the stack, as it arrived."""

    time: str
    logical_id: str
    resource_type: str
    status: str
    reason: str


@dataclass
class StackResult:
    """How an operation ended."""

    stack_id: str
    status: str
    reason: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    failures: list[StackEvent] = field(default_factory=list)
    changed: bool = True

    @property
    def ok(self) -> bool:
        """True for a completed create, update, delete (or an update with nothing to change)."""
        return self.status in SUCCESS or not self.changed


def ros_client(account: Account, endpoint: str | None = None, protocol: str | None = None) -> Any:
    """The official ROS SDK client for ``account`` (endpoint: the SDK's, unless overridden)."""
    from alibabacloud_ros20190910.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    return Client(
        Config(
            access_key_id=account.access_key_id,
            access_key_secret=account.access_key_secret,
            security_token=account.security_token,
            region_id=account.region,
            endpoint=endpoint or os.environ.get("SNAPSTACK_ROS_ENDPOINT") or None,
            protocol=protocol or os.environ.get("SNAPSTACK_ROS_PROTOCOL") or "https",
        )
    )


class Deployer:
    """Create-or-update, destroy, and watch stacks of one region."""

    def __init__(
        self,
        client: Any,
        region: str,
        *,
        poll_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.region = region
        env_poll = os.environ.get(POLL_SECONDS_ENV)
        self.poll_seconds = poll_seconds if poll_seconds is not None else float(env_poll or 5)
        self._sleep = sleep

    def _call(self, operation: str, request: Any) -> Any:
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.runtime import RuntimeOptions

        try:
            return getattr(self.client, f"{operation}_with_options")(request, RuntimeOptions()).body
        except AlibabaCloudException as exc:
            data = getattr(exc, "data", None)
            message = data.get("Message") if isinstance(data, dict) else None
            raise DeployError(exc.code or "Error", str(message or exc.message)) from None

    def find(self, name: str) -> str | None:
        """The id of the live stack called ``name``, or None."""
        from alibabacloud_ros20190910 import models

        body = self._call("list_stacks", models.ListStacksRequest(region_id=self.region, stack_name=[name]))
        for stack in body.stacks or []:
            if stack.stack_name == name and stack.status != "DELETE_COMPLETE":
                return str(stack.stack_id)
        return None

    def deploy(
        self,
        name: str,
        template_body: str,
        parameters: Mapping[str, str],
        on_event: Callable[[StackEvent], None],
        *,
        disable_rollback: bool = False,
    ) -> StackResult:
        """Create ``name`` or update it; wait for the end. ``DeployError`` when ROS refuses to start."""
        from alibabacloud_ros20190910 import models

        stack_id = self.find(name)
        seen = self._event_ids(stack_id) if stack_id else set()
        if stack_id is None:
            request = models.CreateStackRequest(
                region_id=self.region,
                stack_name=name,
                template_body=template_body,
                disable_rollback=disable_rollback,
                timeout_in_minutes=60,
                parameters=[
                    models.CreateStackRequestParameters(parameter_key=k, parameter_value=v)
                    for k, v in parameters.items()
                ],
            )
            stack_id = str(self._call("create_stack", request).stack_id)
        else:
            update = models.UpdateStackRequest(
                region_id=self.region,
                stack_id=stack_id,
                template_body=template_body,
                parameters=[
                    models.UpdateStackRequestParameters(parameter_key=k, parameter_value=v)
                    for k, v in parameters.items()
                ],
            )
            try:
                self._call("update_stack", update)
            except DeployError as exc:
                if exc.code != NO_CHANGE:
                    raise
                result = self._result(stack_id, [])
                result.changed = False
                return result
        failures = self._wait(stack_id, seen, on_event)
        return self._result(stack_id, failures)

    def destroy(self, name: str, on_event: Callable[[StackEvent], None]) -> StackResult | None:
        """Delete ``name`` and wait; None when no such stack exists."""
        from alibabacloud_ros20190910 import models

        stack_id = self.find(name)
        if stack_id is None:
            return None
        seen = self._event_ids(stack_id)
        self._call("delete_stack", models.DeleteStackRequest(region_id=self.region, stack_id=stack_id))
        try:
            failures = self._wait(stack_id, seen, on_event)
        except DeployError as exc:
            if exc.code != "StackNotFound":
                raise
            return StackResult(stack_id, "DELETE_COMPLETE")
        return self._result(stack_id, failures)

    # -- watching ---------------------------------------------------------------------------------------

    def _events(self, stack_id: str) -> list[Any]:
        from alibabacloud_ros20190910 import models

        events: list[Any] = []
        page = 1
        while True:
            body = self._call(
                "list_stack_events",
                models.ListStackEventsRequest(
                    region_id=self.region, stack_id=stack_id, page_number=page, page_size=50
                ),
            )
            events += body.events or []
            if page * _PAGE >= (body.total_count or 0):
                return events
            page += 1

    def _event_ids(self, stack_id: str) -> set[str]:
        return {e.event_id for e in self._events(stack_id)}

    def _wait(
        self, stack_id: str, seen: set[str], on_event: Callable[[StackEvent], None]
    ) -> list[StackEvent]:
        from alibabacloud_ros20190910 import models

        failures: list[StackEvent] = []
        while True:
            status = self._call(
                "get_stack", models.GetStackRequest(region_id=self.region, stack_id=stack_id)
            ).status
            fresh = [e for e in self._events(stack_id) if e.event_id not in seen]
            # ROS lists newest first; oldest first here, same-second events kept in their order.
            for raw in sorted(reversed(fresh), key=lambda e: e.create_time or ""):
                seen.add(raw.event_id)
                event = StackEvent(
                    raw.create_time or "",
                    raw.logical_resource_id or "",
                    raw.resource_type or "",
                    raw.status or "",
                    raw.status_reason or "",
                )
                if event.status.endswith("_FAILED") and event.resource_type != "ALIYUN::ROS::Stack":
                    failures.append(event)
                on_event(event)
            if not str(status).endswith("_IN_PROGRESS"):
                return failures
            self._sleep(self.poll_seconds)

    def _result(self, stack_id: str, failures: list[StackEvent]) -> StackResult:
        from alibabacloud_ros20190910 import models

        body = self._call("get_stack", models.GetStackRequest(region_id=self.region, stack_id=stack_id))
        outputs = {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in body.outputs or []}
        return StackResult(stack_id, str(body.status), str(body.status_reason or ""), outputs, failures)
