"""The RPC wire of the ROS stand-in: the ROS API's parameters in, its JSON answers out.

The official ``alibabacloud_ros20190910`` SDK signs like every tea-openapi SDK, so the ECS
emulator's ``Authenticator`` checks it (for API version 2019-09-10). Parameters arrive in the
query (``Parameters.N.ParameterKey``/``ParameterValue``, ``StackName.N``) and, for the template,
the form body (``TemplateBody``). Answer shapes follow the ROS API reference
(https://www.alibabacloud.com/help/en/ros/developer-reference/api-ros-2019-09-10-dir-stacks).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from devkit.ros.models import RosError, RosState, Stack, iso

API_VERSION = "2019-09-10"
DEFAULT_REGION = "cn-hangzhou"
_PAGE_SIZE_MAX = 100


def _numbered(params: Mapping[str, str], prefix: str) -> dict[int, dict[str, str]]:
    """``Prefix.N.Field=value`` -> ``{N: {Field: value}}`` (``Prefix.N=value`` -> ``{N: {"": value}}``)."""
    found: dict[int, dict[str, str]] = {}
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)(?:\.(\w+))?$")
    for key, value in params.items():
        match = pattern.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2) or ""] = value
    return found


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise RosError("MissingParameter", f"{name} is mandatory for this action.")
    return value


def _parameters(params: Mapping[str, str]) -> dict[str, str]:
    given: dict[str, str] = {}
    for n, item in sorted(_numbered(params, "Parameters").items()):
        if "ParameterKey" not in item:
            raise RosError("InvalidParameter", f"Parameters.{n}.ParameterKey is missing")
        given[item["ParameterKey"]] = item.get("ParameterValue", "")
    return given


def _page(params: Mapping[str, str]) -> tuple[int, int]:
    try:
        number = int(params.get("PageNumber") or 1)
        size = int(params.get("PageSize") or 10)
    except ValueError:
        raise RosError("InvalidParameter", "PageNumber and PageSize are whole numbers") from None
    if number < 1 or not 1 <= size <= _PAGE_SIZE_MAX:
        raise RosError("InvalidParameter", f"PageNumber >= 1, PageSize 1 to {_PAGE_SIZE_MAX}")
    return number, size


def _summary(stack: Stack) -> dict[str, Any]:
    return {
        "StackId": stack.stack_id,
        "StackName": stack.name,
        "Status": stack.status,
        "StatusReason": stack.reason,
        "RegionId": stack.region,
        "CreateTime": iso(stack.created),
        **({"UpdateTime": iso(stack.updated)} if stack.updated else {}),
        "DisableRollback": stack.disable_rollback,
    }


class Actions:
    """Each supported ROS action: parameters in, answer body out (``RosError`` for an error answer)."""

    def __init__(self, state: RosState) -> None:
        self.state = state
        self._table: dict[str, Callable[[Mapping[str, str]], dict[str, Any]]] = {
            "CreateStack": self.create_stack,
            "UpdateStack": self.update_stack,
            "DeleteStack": self.delete_stack,
            "GetStack": self.get_stack,
            "ListStacks": self.list_stacks,
            "ListStackEvents": self.list_stack_events,
            "ListStackResources": self.list_stack_resources,
        }

    @property
    def names(self) -> list[str]:
        """The supported actions."""
        return sorted(self._table)

    def perform(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Run ``action``; ``RosError`` for an unknown action or an error answer."""
        handler = self._table.get(action)
        if handler is None:
            raise RosError("InvalidAction.NotFound", f"Specified api ({action}) is not found", 404)
        return handler(params)

    def create_stack(self, params: Mapping[str, str]) -> dict[str, Any]:
        """CreateStack: StackName, TemplateBody, Parameters.N, DisableRollback, RegionId."""
        stack = self.state.create_stack(
            _required(params, "StackName"),
            params.get("RegionId") or DEFAULT_REGION,
            _required(params, "TemplateBody"),
            _parameters(params),
            disable_rollback=params.get("DisableRollback", "false").lower() == "true",
        )
        return {"StackId": stack.stack_id}

    def update_stack(self, params: Mapping[str, str]) -> dict[str, Any]:
        """UpdateStack: StackId, TemplateBody, Parameters.N."""
        stack = self.state.update_stack(
            _required(params, "StackId"), _required(params, "TemplateBody"), _parameters(params)
        )
        return {"StackId": stack.stack_id}

    def delete_stack(self, params: Mapping[str, str]) -> dict[str, Any]:
        """DeleteStack: StackId."""
        self.state.delete_stack(_required(params, "StackId"))
        return {}

    def get_stack(self, params: Mapping[str, str]) -> dict[str, Any]:
        """GetStack: StackId -> the stack with its parameters and outputs."""
        stack = self.state.observe(_required(params, "StackId"))
        return {
            **_summary(stack),
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()],
            "Outputs": stack.outputs,
            "Description": str(stack.template.get("Description", "")),
        }

    def list_stacks(self, params: Mapping[str, str]) -> dict[str, Any]:
        """ListStacks: StackName.N filter, paging."""
        names = [item[""] for _, item in sorted(_numbered(params, "StackName").items())]
        number, size = _page(params)
        stacks = self.state.find(names, params.get("RegionId") or DEFAULT_REGION)
        page = stacks[(number - 1) * size : number * size]
        return {
            "Stacks": [_summary(s) for s in page],
            "TotalCount": len(stacks),
            "PageNumber": number,
            "PageSize": size,
        }

    def list_stack_events(self, params: Mapping[str, str]) -> dict[str, Any]:
        """ListStackEvents: StackId, paging; newest first."""
        stack = self.state.observe(_required(params, "StackId"))
        number, size = _page(params)
        events = list(reversed(stack.events))
        page = events[(number - 1) * size : number * size]
        return {
            "Events": [
                {
                    "EventId": e.event_id,
                    "StackId": stack.stack_id,
                    "StackName": stack.name,
                    "LogicalResourceId": e.logical_id,
                    "PhysicalResourceId": e.physical_id,
                    "ResourceType": e.resource_type,
                    "Status": e.status,
                    "StatusReason": e.reason,
                    "CreateTime": iso(e.time),
                }
                for e in page
            ],
            "TotalCount": len(events),
            "PageNumber": number,
            "PageSize": size,
        }

    def list_stack_resources(self, params: Mapping[str, str]) -> dict[str, Any]:
        """ListStackResources: StackId -> the resources it holds now."""
        stack = self.state.stack(_required(params, "StackId"))
        return {
            "Resources": [
                {
                    "LogicalResourceId": r.logical_id,
                    "PhysicalResourceId": r.physical_id,
                    "ResourceType": r.type,
                    "Status": r.status,
                    "StackId": stack.stack_id,
                    "StackName": stack.name,
                }
                for r in stack.resources.values()
            ]
        }


def error_body(err: RosError, request_id: str, host: str) -> bytes:
    """ROS's error answer."""
    return json.dumps(
        {"RequestId": request_id, "HostId": host, "Code": err.code, "Message": err.message}
    ).encode()


def ok_body(result: Mapping[str, Any], request_id: str) -> bytes:
    """ROS's success answer."""
    return json.dumps({"RequestId": request_id, **result}).encode()
