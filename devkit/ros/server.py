"""HTTP serving for the ROS stand-in: the WSGI app (RPC at ``/``, control API at ``/_ros/``).

It shares the ECS emulator's scaffold: the threaded server (``EmulatorServer``), the request
plumbing and the signature checks (``Authenticator``, for ROS's API version). Control API:
``GET /_ros/health``, ``GET /_ros/stacks`` (every stack with its resources and events), and
``POST /_ros/faults`` ``{"fail_resources": {"LogicalId": "reason"}}`` to make resources fail.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from devkit.emulator.models import ApiError
from devkit.emulator.responses import Authenticator, Credential, WireRequest, api_params
from devkit.emulator.server import (
    DEFAULT_CREDENTIALS,
    Environ,
    StartResponse,
    _body,
    _headers,
    _status,
    json_answer,
)
from devkit.ros.cdk import validate_resources
from devkit.ros.models import RosError, RosState, Stack
from devkit.ros.responses import API_VERSION, Actions, error_body, ok_body

log = logging.getLogger("devkit.ros")

CONTROL_PREFIX = "/_ros/"


class RosApp:
    """The WSGI application of the stand-in."""

    def __init__(
        self, credentials: Iterable[Credential] = DEFAULT_CREDENTIALS, state: RosState | None = None
    ) -> None:
        self.credentials = tuple(credentials)
        self.auth = Authenticator(list(self.credentials), api_version=API_VERSION)
        self.state = state or RosState(validate_resources)
        self.actions = Actions(self.state)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path.startswith(CONTROL_PREFIX):
            status, body = self._control(
                environ["REQUEST_METHOD"], path[len(CONTROL_PREFIX) :], _body(environ)
            )
            start_response(
                _status(status), [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        request_id = str(uuid.uuid4()).upper()
        headers = _headers(environ)
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        body = _body(environ)
        form: dict[str, str] = {}
        if body and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            if path != "/":
                raise RosError("InvalidAction.NotFound", f"RPC requests go to /, not {path}", 404)
            action = self.auth.verify(
                WireRequest(environ["REQUEST_METHOD"], path, query, form, headers, body)
            )
            params = api_params({**query, **form}, "authorization" not in headers)
            status, payload = 200, ok_body(self.actions.perform(action, params), request_id)
        except ApiError as err:  # signature and credential checks answer with ECS's shared codes
            status = err.status
            payload = error_body(
                RosError(err.code, err.message, err.status), request_id, headers.get("host", "")
            )
        except RosError as err:
            status, payload = err.status, error_body(err, request_id, headers.get("host", ""))
        log.info("%s %s -> %s", request_id, query.get("Action") or headers.get("x-acs-action"), status)
        return json_answer(start_response, status, payload, request_id)

    def _control(self, method: str, route: str, raw: bytes) -> tuple[int, bytes]:
        route = route.strip("/")
        if (method, route) == ("GET", "health"):
            answer: Any = {"ok": True, "actions": self.actions.names}
        elif (method, route) == ("GET", "stacks"):
            answer = [_dump(s) for s in self.state.live()]
        elif (method, route) == ("POST", "faults"):
            try:
                spec = json.loads(raw or b"{}")
                self.state.fail_resources = {
                    str(k): str(v) for k, v in dict(spec.get("fail_resources", {})).items()
                }
            except (ValueError, TypeError, AttributeError) as exc:
                return 400, json.dumps({"error": f"faults: {exc}"}).encode()
            answer = {"fail_resources": self.state.fail_resources}
        else:
            return 404, json.dumps(
                {"error": f"no control endpoint {method} {CONTROL_PREFIX}{route}"}
            ).encode()
        return 200, json.dumps(answer).encode()


def _dump(stack: Stack) -> dict[str, Any]:
    return {
        "StackId": stack.stack_id,
        "StackName": stack.name,
        "Status": stack.status,
        "Resources": {name: r.status for name, r in stack.resources.items()},
        "Events": len(stack.events),
    }
