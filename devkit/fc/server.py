"""HTTP serving for the local FC endpoint: the WSGI app (FC's invoke API under ``/2016-08-15/``,
a control API under ``/_fc/``) on the ECS emulator's threaded server scaffold.

One API request goes through: authenticate (``responses.FcAuthenticator``) -> route -> resolve
the function -> invoke it synchronously, accept it asynchronously (202 at once, run afterwards),
or answer a stateful invocation's status.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from devkit.emulator.responses import Credential
from devkit.emulator.server import Environ, StartResponse
from devkit.fc.execution import FunctionHost
from devkit.fc.models import FcApiError, ScriptedAnswer, ScriptedAnswers, check_invocation_id
from devkit.fc.responses import (
    ERROR_TYPE,
    INVOCATION_ID,
    REQUEST_ID,
    FcAuthenticator,
    check_payload,
    error_body,
    invocation_body,
    invocation_type,
    route,
)

log = logging.getLogger("devkit.fc")

CONTROL_PREFIX = "/_fc/"

#: Keys the endpoint accepts unless told otherwise: a plain AccessKey pair and an STS triple.
DEFAULT_CREDENTIALS: tuple[Credential, ...] = (
    Credential("LTAI5tLocalFcKey0001", "local-fc-secret-0001"),
    Credential("STS.LocalFcKey0001", "local-fc-sts-secret-0001", "local-fc-sts-token-0001"),
)

Answer = tuple[int, list[tuple[str, str]], bytes]


def _headers(environ: Environ) -> dict[str, str]:
    out = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            out[key.lower().replace("_", "-")] = environ[key]
    return out


def _body(environ: Environ) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    data: bytes = environ["wsgi.input"].read(int(length)) if length else b""
    return data


def _json_body(environ: Environ) -> Any:
    raw = _body(environ)
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


class FcApp:
    """The WSGI application: FC's invoke and stateful-invocation APIs, and ``/_fc/`` control routes."""

    def __init__(self, host: FunctionHost, credentials: Iterable[Credential] = DEFAULT_CREDENTIALS) -> None:
        self.host = host
        self.state = host.state
        self.credentials = tuple(credentials)
        self.auth = FcAuthenticator(self.credentials)
        self.answers = ScriptedAnswers()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        request_id = str(uuid.uuid4())
        if path.startswith(CONTROL_PREFIX):
            status, headers, body = self._control(
                environ["REQUEST_METHOD"], path[len(CONTROL_PREFIX) :], _json_body(environ)
            )
        else:
            try:
                status, headers, body = self._api(environ, path, request_id)
            except FcApiError as err:
                status, headers, body = err.status, [], error_body(err)
                log.info(
                    "%s %s %s -> %s %s", request_id, environ["REQUEST_METHOD"], path, err.status, err.code
                )
        if not any(k == "Content-Type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers += [("Content-Length", str(len(body))), (REQUEST_ID, request_id)]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def _api(self, environ: Environ, path: str, request_id: str) -> Answer:
        method = environ["REQUEST_METHOD"]
        headers = _headers(environ)
        self.auth.verify(method, path, headers)
        wanted = route(method, path)
        scripted = self.answers.take(wanted.action)
        if scripted is not None:
            if scripted.body is not None:
                return scripted.status, [("Content-Type", "text/html")], scripted.body.encode()
            raise FcApiError(scripted.status, scripted.code, scripted.message)
        ref = self.state.resolve(wanted.service_part, wanted.function)
        if wanted.action == "status":
            return 200, [], invocation_body(self.state.get(ref, wanted.invocation_id))
        payload = _body(environ)
        kind = invocation_type(headers)
        check_payload(payload, kind)
        if kind == "Async":
            # Without an id of the caller's, FC names the task after the request id.
            given = headers.get(INVOCATION_ID)
            invocation_id = check_invocation_id(given) if given else request_id
            record = self.state.accept(ref, invocation_id, request_id, payload)
            self.host.submit(record)
            log.info("%s async %s accepted as %s", request_id, ref.function, record.invocation_id)
            return 202, [], b""
        outcome = self.host.run(ref.function, payload, request_id)
        log.info("%s sync %s -> %s", request_id, ref.function, outcome.error_type or "ok")
        extra = [(ERROR_TYPE, outcome.error_type)] if outcome.error_type else []
        return 200, extra, outcome.body

    def _control(self, method: str, route_: str, payload: Any) -> Answer:
        routes: dict[tuple[str, str], Callable[[Any], Any]] = {
            ("GET", "health"): self._health,
            ("GET", "invocations"): lambda _: [
                json.loads(invocation_body(r)) for r in self.state.invocations()
            ],
            ("POST", "answers"): self._add_answers,
            ("DELETE", "answers"): self._clear_answers,
            ("POST", "reset"): self._reset,
        }
        handler = routes.get((method, route_.strip("/")))
        if handler is None:
            message = f"no control endpoint {method} {CONTROL_PREFIX}{route_}"
            return 404, [], json.dumps({"error": message}).encode()
        try:
            return 200, [], json.dumps(handler(payload)).encode()
        except (ValueError, KeyError, TypeError) as exc:
            return 400, [], json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()

    def _health(self, _: Any) -> dict[str, Any]:
        return {"ok": True, "service": self.state.service, "functions": sorted(self.state.functions)}

    def _add_answers(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, list):
            raise ValueError("the body must be a JSON list of answers")
        return {"waiting": self.answers.add([ScriptedAnswer.from_dict(a) for a in payload])}

    def _clear_answers(self, _: Any) -> dict[str, Any]:
        self.answers.clear()
        return {"waiting": 0}

    def _reset(self, _: Any) -> dict[str, Any]:
        self.state.reset()
        self.answers.clear()
        return {"ok": True}
