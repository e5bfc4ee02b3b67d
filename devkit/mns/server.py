"""HTTP serving for the local MNS endpoint: the WSGI app on the ECS emulator's threaded server.

One request: authenticate (``responses.MnsAuthenticator``) -> route -> the queue operation on
``models.MnsState`` -> an XML answer. Long polling (``waitseconds``) is not waited out: an empty
queue answers ``MessageNotExist`` at once, as MNS does when the wait ends empty (tests wait on
events, not time).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from urllib.parse import parse_qs

from devkit.emulator.responses import Credential
from devkit.emulator.server import Environ, StartResponse
from devkit.mns.models import MnsError, MnsState
from devkit.mns.responses import (
    MnsAuthenticator,
    batch_delete_errors,
    error_body,
    fields,
    items,
    received_body,
    route,
    sent_body,
)

log = logging.getLogger("devkit.mns")

#: Keys the endpoint accepts unless told otherwise: a plain AccessKey pair and an STS triple.
DEFAULT_CREDENTIALS: tuple[Credential, ...] = (
    Credential("LTAI5tLocalMnsKey0001", "local-mns-secret-0001"),
    Credential("STS.LocalMnsKey0001", "local-mns-sts-secret-0001", "local-mns-sts-token-0001"),
)

Answer = tuple[int, bytes]


def _headers(environ: Environ) -> dict[str, str]:
    out = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            out[key.lower().replace("_", "-")] = environ[key]
    return out


def _body(environ: Environ, headers: dict[str, str]) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    data: bytes = environ["wsgi.input"].read(int(length)) if length else b""
    if data and "content-md5" in headers:
        # The SDK sends base64 of the hex MD5 (not of the digest); check it the way it computes it.
        expected = base64.b64encode(hashlib.md5(data).hexdigest().encode()).decode()
        if headers["content-md5"] != expected:
            raise MnsError(400, "InvalidDigest", "The Content-MD5 does not match the body.")
    return data


class MnsApp:
    """The WSGI application: CreateQueue, SendMessage, BatchReceiveMessage, (Batch)DeleteMessage."""

    def __init__(self, state: MnsState, credentials: Iterable[Credential] = DEFAULT_CREDENTIALS) -> None:
        self.state = state
        self.auth = MnsAuthenticator(credentials)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request_id = uuid.uuid4().hex.upper()
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        query = environ.get("QUERY_STRING", "")
        try:
            headers = _headers(environ)
            self.auth.verify(method, f"{path}?{query}" if query else path, headers)
            status, body = self._api(method, path, parse_qs(query), _body(environ, headers))
        except MnsError as err:
            status, body = err.status, error_body(err, request_id, environ.get("HTTP_HOST", "local"))
            log.info("%s %s %s -> %s %s", request_id, method, path, err.status, err.code)
        out = [("Content-Type", "text/xml;charset=utf-8"), ("Content-Length", str(len(body)))]
        if method == "PUT" and status in (201, 204):  # CreateQueue names the queue's URL
            out.append(("Location", f"http://{environ.get('HTTP_HOST', 'local')}{path}"))
        start_response(f"{status} {HTTPStatus(status).phrase}", [*out, ("x-mns-request-id", request_id)])
        return [body]

    def _api(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Answer:
        wanted = route(method, path)
        if wanted.action == "CreateQueue":
            timeout = fields(body, "Queue").get("VisibilityTimeout") if body else None
            created = self.state.create_queue(wanted.queue, int(timeout) if timeout else None)
            return (201 if created else 204), b""
        if wanted.action == "SendMessage":
            message = fields(body, "Message")
            return 201, sent_body(self.state.send(wanted.queue, message.get("MessageBody", "")))
        if wanted.action == "BatchReceiveMessage":
            count = int(query.get("numOfMessages", ["1"])[0])
            return 200, received_body(self.state.receive(wanted.queue, count))
        if "ReceiptHandle" in query:
            self.state.delete(wanted.queue, query["ReceiptHandle"][0])
            return 204, b""
        failed: list[tuple[str, MnsError]] = []
        for handle in items(body, "ReceiptHandle"):
            try:
                self.state.delete(wanted.queue, handle)
            except MnsError as err:
                failed.append((handle, err))
        return (404, batch_delete_errors(failed)) if failed else (204, b"")
