"""HTTP serving for the ECS emulator: the WSGI app (RPC at ``/``, control API at ``/_emulator/``)
and a threaded werkzeug server that runs in-process (tests) or in the foreground (CLI).

One RPC request goes through: count the arrival -> authenticate -> injected faults (scripted
errors, rate limit, random errors) -> parse and claim (``Actions.prepare``) -> injected latency
-> commit -> optionally drop the connection instead of answering -> JSON answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import struct
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devkit.emulator.faults import Faults
from devkit.emulator.models import ApiError, EcsState, parse_time
from devkit.emulator.responses import (
    Actions,
    Authenticator,
    Credential,
    WireRequest,
    api_params,
    error_body,
    ok_body,
)

log = logging.getLogger("devkit.emulator")

CONTROL_PREFIX = "/_emulator/"

#: Credentials every emulator accepts unless told otherwise: a plain AccessKey pair and an STS triple.
DEFAULT_CREDENTIALS: tuple[Credential, ...] = (
    Credential("LTAI5tEmulatorKey0001", "emulator-secret-0001"),
    Credential("STS.EmulatorKey0001", "emulator-sts-secret-0001", "emulator-sts-token-0001"),
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]
#: Any WSGI app that answers with a complete body and a Content-Length (the FC endpoint serves one too).
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class RequestCounters:
    """Requests per action: how many arrived, and how each ended (``OK``, an error code, ``Dropped``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = {}

    def arrive(self, action: str) -> None:
        """Count a request as soon as its action is known (before auth and faults)."""
        with self._lock:
            entry = self._data.setdefault(action, {"total": 0, "outcomes": {}})
            entry["total"] += 1

    def finish(self, action: str, outcome: str) -> None:
        """Record how a request ended."""
        with self._lock:
            outcomes = self._data.setdefault(action, {"total": 0, "outcomes": {}})["outcomes"]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def total(self, action: str) -> int:
        """How many requests for ``action`` arrived."""
        with self._lock:
            entry = self._data.get(action)
            return 0 if entry is None else int(entry["total"])

    def to_dict(self) -> dict[str, Any]:
        """``{action: {"total": n, "outcomes": {code: n}}}``."""
        with self._lock:
            return {a: {"total": e["total"], "outcomes": dict(e["outcomes"])} for a, e in self._data.items()}

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._data.clear()


def json_answer(
    start_response: StartResponse,
    status: int,
    payload: bytes,
    request_id: str,
    extra: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Send an RPC answer: JSON ``payload`` with ``status``, its length and the request id."""
    start_response(
        _status(status),
        [
            ("Content-Type", "application/json;charset=utf-8"),
            ("Content-Length", str(len(payload))),
            ("x-acs-request-id", request_id),
            *extra,
        ],
    )
    return [payload]


class _DroppedConnection(ConnectionResetError):
    """Raised by the app after it reset the client's socket; werkzeug treats it as a dropped client."""


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _headers(environ: Environ) -> dict[str, str]:
    out = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = environ["CONTENT_TYPE"]
    return out


def _body(environ: Environ) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    if not length:
        return b""
    data: bytes = environ["wsgi.input"].read(int(length))
    return data


class EmulatorApp:
    """The WSGI application: ECS RPC at ``/`` and the control API under ``/_emulator/``."""

    def __init__(
        self,
        fleet: Mapping[str, Any],
        faults: Mapping[str, Any] | None = None,
        credentials: Iterable[Credential] = DEFAULT_CREDENTIALS,
    ) -> None:
        self._initial_fleet = dict(fleet)
        self._initial_faults = dict(faults or {})
        self.state = EcsState(self._initial_fleet)
        self.faults = Faults(self._initial_faults)
        self.credentials = tuple(credentials)
        self.auth = Authenticator(list(self.credentials))
        self.actions = Actions(self.state)
        self.counters = RequestCounters()
        #: How injected latency waits; a test may hold requests in flight with its own (an event).
        self.sleep: Callable[[float], None] = time.sleep

    def reset(self) -> None:
        """Back to the fleet and faults the app started with; counters to zero."""
        self.state.load(self._initial_fleet)
        self.faults.configure(self._initial_faults)
        self.counters.reset()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path.startswith(CONTROL_PREFIX):
            status, body = self._control(environ, path[len(CONTROL_PREFIX) :])
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            start_response(_status(status), headers)
            return [body]
        return self._rpc(environ, start_response, path)

    # --- RPC ------------------------------------------------------------------------------------------

    def _rpc(self, environ: Environ, start_response: StartResponse, path: str) -> Iterable[bytes]:
        request_id = str(uuid.uuid4()).upper()
        headers = _headers(environ)
        host = headers.get("host", "")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        body = _body(environ)
        form: dict[str, str] = {}
        if body and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        action = headers.get("x-acs-action") or query.get("Action") or form.get("Action") or ""
        self.counters.arrive(action)
        extra: list[tuple[str, str]] = []
        try:
            if path != "/":
                raise ApiError("InvalidAction.NotFound", f"RPC requests go to /, not {path}")
            wire = WireRequest(environ["REQUEST_METHOD"], path, query, form, headers, body)
            action = self.auth.verify(wire)
            result = self._perform(action, api_params({**query, **form}, "authorization" not in headers))
        except ApiError as err:
            if err.code == "Throttling" and self.faults.retry_after_seconds is not None:
                extra.append(("x-acs-retry-after", str(self.faults.retry_after_seconds)))
            outcome, status, payload = err.code, err.status, error_body(err, request_id, host)
        except _DroppedConnection:
            self.counters.finish(action, "Dropped")
            log.info("%s %s dropped after commit", request_id, action)
            raise
        else:
            outcome, status, payload = "OK", 200, ok_body(result, request_id)
        self.counters.finish(action, outcome)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s -> %s %s", request_id, action or "-", status, outcome)
        return json_answer(start_response, status, payload, request_id, extra)

    def _perform(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        try:
            injected = self.faults.front(action, params)
            if injected is not None:
                raise ApiError(injected, "injected by the emulator")
            prepared = self.actions.prepare(action, params)
        except ApiError:
            self._delay(action)
            raise
        self._delay(action)
        try:
            result = prepared.commit()
        except ApiError:
            raise
        except Exception as exc:
            prepared.abort()
            log.error("emulator bug in %s:\n%s", action, traceback.format_exc())
            raise ApiError("InternalError", f"emulator bug: {exc!r}") from exc
        if self.faults.drop(action):
            raise _DroppedConnection("dropped after commit")
        return result

    def _delay(self, action: str) -> None:
        """Injected latency. It sits between the claim and the commit, so a repeat of an in-flight
        ClientToken arrives while the first request holds its claim (-> IdempotentProcessing)."""
        delay = self.faults.latency(action)
        if delay:
            self.sleep(delay)

    # --- control API ----------------------------------------------------------------------------------

    def _control(self, environ: Environ, route: str) -> tuple[int, bytes]:
        method = environ["REQUEST_METHOD"]
        try:
            raw = _body(environ)
            payload = json.loads(raw) if raw.strip() else {}
            result = self._control_route(method, route.strip("/"), payload)
        except _ControlError as exc:
            return exc.status, json.dumps({"error": str(exc)}).encode()
        except (ValueError, KeyError, TypeError) as exc:
            return 400, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        return 200, json.dumps(result).encode()

    def _control_route(self, method: str, route: str, payload: Any) -> Any:
        routes: dict[tuple[str, str], Callable[[Any], Any]] = {
            ("GET", "health"): self._health,
            ("GET", "state"): lambda _: self.state.dump(),
            ("POST", "fleet"): self._load_fleet,
            ("POST", "reset"): self._reset,
            ("GET", "clock"): lambda _: self.state.clock.to_dict(),
            ("POST", "clock"): self._set_clock,
            ("GET", "faults"): lambda _: self.faults.to_dict(),
            ("POST", "faults"): self._set_faults,
            ("DELETE", "faults"): lambda _: self._set_faults({}),
            ("GET", "client_tokens"): lambda _: {"token_errors": self.state.token_errors},
            ("POST", "client_tokens"): self._set_client_tokens,
            ("DELETE", "client_tokens"): lambda _: {"forgotten": self.state.forget_client_tokens()},
            ("GET", "counters"): lambda _: self.counters.to_dict(),
            ("DELETE", "counters"): self._reset_counters,
        }
        handler = routes.get((method, route))
        if handler is None:
            if any(r == route for _, r in routes):
                raise _ControlError(405, f"{method} not allowed on {CONTROL_PREFIX}{route}")
            raise _ControlError(404, f"no control endpoint {CONTROL_PREFIX}{route}")
        return handler(payload)

    def _health(self, _: Any) -> dict[str, Any]:
        return {"ok": True, "actions": sorted(self.actions.names)}

    def _reset(self, _: Any) -> dict[str, Any]:
        self.reset()
        return {"ok": True}

    def _set_faults(self, body: Any) -> dict[str, Any]:
        self.faults.configure(_object(body))
        return self.faults.to_dict()

    def _set_client_tokens(self, body: Any) -> dict[str, Any]:
        spec = _object(body)
        unknown = sorted(set(spec) - {"token_errors"})
        if unknown:
            raise ValueError(f"client_tokens: unknown key(s) {unknown}; use token_errors")
        if "token_errors" in spec:
            self.state.set_token_errors(str(spec["token_errors"]))
        return {"token_errors": self.state.token_errors}

    def _reset_counters(self, _: Any) -> dict[str, Any]:
        self.counters.reset()
        return {}

    def _load_fleet(self, body: Any) -> dict[str, Any]:
        self.state.load(_object(body))
        dump = self.state.dump()
        return {key: len(dump[key]) for key in ("instances", "disks", "snapshots")}

    def _set_clock(self, body: Any) -> dict[str, Any]:
        spec = _object(body)
        unknown = sorted(set(spec) - {"now", "advance", "rate"})
        if unknown:
            raise ValueError(f"clock: unknown key(s) {unknown}; use now, advance, rate")
        clock = self.state.clock
        if "now" in spec:
            clock.set(parse_time(spec["now"]))
        if "advance" in spec:
            clock.advance(float(spec["advance"]))
        if "rate" in spec:
            clock.set_rate(float(spec["rate"]))
        return clock.to_dict()


class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


class _KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler, made lean for the emulator's own app.

    werkzeug's development handler answers every request with ``Connection: close`` and then
    polls the socket for 10 ms; both cost more than the emulator's work. This handler keeps
    HTTP/1.1 connections alive, reads the request body up front, sends each answer in one
    write, and does not log (the app logs, when asked). It knows the app answers with a
    complete body and a Content-Length, which is what makes the shortcuts safe.
    """

    timeout = 120  # seconds an idle keep-alive connection is kept

    def setup(self) -> None:
        """Register the connection so ``EmulatorServer.stop`` can close it."""
        super().setup()
        _connections(self.server).add(self.connection)

    def finish(self) -> None:
        """Unregister the connection."""
        _connections(self.server).discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence: the app logs each RPC request at INFO."""

    def run_wsgi(self) -> None:
        """Serve one request: read it whole, call the app, write status, headers and body at once."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return None

        try:
            payload = b"".join(self.server.app(environ, start_response))
        except _DroppedConnection:
            # SO_LINGER 0: the close that follows resets the connection; no answer is ever sent.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        except Exception:
            log.error("emulator bug:\n%s", traceback.format_exc())
            answer[:] = [_status(500), [("Content-Type", "text/plain")]]
            payload, self.close_connection = b"emulator bug, see its log", True
        status, headers = answer
        lines = [f"{self.protocol_version} {status}", *(f"{k}: {v}" for k, v in headers)]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


def _connections(server: Any) -> set[socket.socket]:
    conns: set[socket.socket] = server.emulator_connections
    return conns


class EmulatorServer:
    """A threaded werkzeug server around an ``EmulatorApp`` (or another WSGI app of the devkit's
    emulators: the FC endpoint, the ROS stand-in), on ``host:port`` (0: any free port)."""

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_KeepAliveHandler
        )
        # Open keep-alive connections, closed by stop(); a set is safe to add/discard across threads.
        self._server.emulator_connections = set()  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``host:port``, as the SDK's ``Config(endpoint=...)`` takes it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://host:port``: what ``fc2.Client(endpoint=...)`` and MNS's ``Account(host=...)`` take."""
        return f"http://{self.endpoint}"

    def start(self) -> None:
        """Serve in a background thread (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="ecs-emulator",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        for conn in list(_connections(self._server)):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``KeyboardInterrupt``."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()


class LocalServer:
    """One of the devkit's WSGI apps served on a loopback port for a test or a fixture scope:
    ``start``/``stop`` (each idempotent) and ``with``. The ECS emulator, the FC endpoint and the
    MNS endpoint are this with their own app; ``NAME`` is what the error says when one is used
    before it is started."""

    NAME = "the endpoint"

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._host, self._port = host, port
        self._server: EmulatorServer | None = None

    @property
    def running(self) -> EmulatorServer:
        """The bound server; RuntimeError before ``start``."""
        if self._server is None:
            raise RuntimeError(f"{self.NAME} is not running")
        return self._server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        return self.running.url

    def start(self: _Served) -> _Served:
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

    def __enter__(self: _Served) -> _Served:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


_Served = TypeVar("_Served", bound=LocalServer)
