"""A scripted loopback HTTP server for testing the ECS client through the real SDK.

Each test queues the answers the server gives, in order: a JSON body with a status and
headers, a non-JSON body, or ``DROP`` (read the request, then close the socket without an
answer). Every request is recorded with its parsed query and headers. The full ECS emulator
(devkit/emulator) is tested separately; here the point is exact control of each attempt.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.retry import RetryPolicy

DROP = object()
CREDS = Credentials("AKIDtest", "secret-test-value", None)


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    query: dict[str, str]
    headers: dict[str, str]


class ScriptedServer:
    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                with server._lock:
                    server.requests.append(Recorded(query, {k.lower(): v for k, v in self.headers.items()}))
                    answer = server.answers.pop(0) if server.answers else Answer(500, {"Code": "NoScript"})
                if answer is DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                raw = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def ok(self, **body: Any) -> Answer:
        return Answer(200, {"RequestId": f"req-{len(self.answers)}", **body})

    def error(self, status: int, code: str, message: str = "scripted", **headers: str) -> Answer:
        return Answer(
            status, {"RequestId": "req-err", "HostId": "ecs.test", "Code": code, "Message": message}, headers
        )


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


class SleepLog:
    """Records the waits the client asks for instead of sleeping (the retry arithmetic is under test)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def make_client(server: ScriptedServer, sleeps: SleepLog) -> Any:
    def make(policy: RetryPolicy | None = None, **kwargs: Any) -> EcsClient:
        config = EcsConfig(
            region_id="cn-hangzhou",
            endpoint=f"127.0.0.1:{server.port}",
            protocol="http",
            read_timeout_ms=3000,
            connect_timeout_ms=1000,
            retry=policy or RetryPolicy(),
            signature_algorithm=kwargs.pop("signature_algorithm", None),
        )
        sleep = kwargs.pop("sleep", sleeps)
        return EcsClient(config, kwargs.pop("credentials", CREDS), sleep=sleep, **kwargs)

    return make
