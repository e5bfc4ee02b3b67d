"""A threaded HTTP server speaking the Tablestore (OTS) protocol on loopback, for tests and local runs.

``with TablestoreEmulator() as emulator:`` serves one instance on a free port; point
``tablestore.OTSClient(emulator.endpoint, emulator.access_key_id, emulator.access_key_secret,
emulator.instance)`` at it. ``stop()`` also cuts the connections clients keep alive, so a stopped
emulator looks like a down service at once; ``start()`` again serves the same data on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from devkit.tablestore.models import DEFAULT_MAX_ROWS_PER_PAGE, OTSError, Store
from devkit.tablestore.responses import (
    Caller,
    Credential,
    authenticate,
    dispatch,
    error_body,
    operation,
    response_headers,
)

DEFAULT_INSTANCE = "snapstack"
DEFAULT_ACCESS_KEY_ID = "LTAI5tSnapstackEmulator"
DEFAULT_ACCESS_KEY_SECRET = "snapstack-emulator-secret"
# The service refuses bigger requests with 413 OTSRequestBodyTooLarge.
MAX_BODY_BYTES = 5 * 1024 * 1024
# An idle keep-alive connection is closed after this long, so no handler thread lingers forever.
IDLE_TIMEOUT_SECONDS = 60.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Answers go out as two writes (headers, body): without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_POST(self) -> None:
        """One OTS request: authenticate, run the operation, answer signed."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply(400, OTSError(400, "OTSParameterInvalid", "Missing header: Content-Length."))
            return
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the body is left unread
            self._reply(413, OTSError(413, "OTSRequestBodyTooLarge", "The size of POST data is too large."))
            return
        body = self.rfile.read(int(length))
        caller: Caller | None = None
        path = "/"
        try:
            name = operation(urlsplit(self.path).path)
            # The SDK signs "/<Operation>" whatever path its endpoint has.
            path = "/" + name
            emulator = self.server.emulator
            caller = authenticate(
                path,
                {key.lower(): value for key, value in self.headers.items()},
                body,
                instance=emulator.instance,
                credentials=emulator.credentials,
            )
            if emulator.faults:  # an injected answer stands in for this request's
                raise emulator.faults.pop(0)
            answer = dispatch(name, emulator.store, body)
        except OTSError as error:
            self._reply(error.status, error, path, caller)
            return
        except Exception:  # a bug in the emulator: answer like the service's internal error
            traceback.print_exc(file=sys.stderr)
            internal = OTSError(500, "OTSInternalServerError", "Internal server error.")
            self._reply(500, internal, path, caller)
            return
        self._send(200, answer, path, caller)

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        error = OTSError(
            405, "OTSMethodNotAllowed", "OTSMethodNotAllowedOnly POST method for requests is supported."
        )
        self._reply(405, error)

    do_GET = do_PUT = do_DELETE = do_PATCH = _method_not_allowed

    def _reply(self, status: int, error: OTSError, path: str = "/", caller: Caller | None = None) -> None:
        self._send(status, error_body(error), path, caller)

    def _send(self, status: int, body: bytes, path: str, caller: Caller | None) -> None:
        self.send_response(status)
        for name, value in response_headers(path, body, caller).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Access logs only when the emulator was asked to be verbose."""
        if self.server.emulator.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: TablestoreEmulator) -> None:
        self.emulator = emulator
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def cut_connections(self) -> None:
        """Shut every open connection down; the handler threads then see EOF and end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections cut by ``stop()`` end with errors nobody needs to read."""
        if not self.stopping:
            super().handle_error(request, client_address)


class TablestoreEmulator:
    """One emulated Tablestore instance served over HTTP on loopback.

    ``clock`` (Unix seconds) drives cell versions and table TTL, so tests can move time forward
    without sleeping; the protocol's own dates (``x-ots-date``) always use the real clock, because
    the SDK compares them with its own.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        instance: str = DEFAULT_INSTANCE,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        security_token: str | None = None,
        clock: Callable[[], float] = time.time,
        max_rows_per_page: int = DEFAULT_MAX_ROWS_PER_PAGE,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.instance = instance
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token
        self.verbose = verbose
        self.store = Store(clock=clock, max_rows_per_page=max_rows_per_page)
        self.credentials: dict[str, Credential] = {}
        self.add_credential(access_key_id, access_key_secret, security_token)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        #: Errors the next authenticated requests answer, in order, instead of running (``fail_next``).
        self.faults: list[OTSError] = []

    def fail_next(self, status: int, code: str, message: str = "Injected by the test.") -> None:
        """Answer the next authenticated request with this error (HTTP ``status``, OTS ``code``)
        instead of running it: a service that throttles, is overloaded or fails on its side."""
        self.faults.append(OTSError(status, code, message))

    def add_credential(
        self, access_key_id: str, access_key_secret: str, security_token: str | None = None
    ) -> None:
        """Accept another AccessKey pair (with ``security_token``: an STS credential that must send it)."""
        self.credentials[access_key_id] = Credential(access_key_id, access_key_secret, security_token)

    @property
    def endpoint(self) -> str:
        """The ``http://host:port`` URL clients use as their endpoint."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is accepting requests."""
        return self._server is not None

    def start(self) -> TablestoreEmulator:
        """Listen (on a free port the first time, then on the same one) and serve in a thread."""
        if self._server is not None:
            raise RuntimeError("the Tablestore emulator is already running")
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tablestore-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections; the data stays for a later ``start()``."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stopping = True
        server.shutdown()
        server.server_close()
        server.cut_connections()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> TablestoreEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
