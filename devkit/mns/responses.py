"""The MNS queue wire format: request routing, the MNS signature, XML bodies and error answers.

As the official SDK (``aliyun-mns-sdk``, https://help.aliyun.com/en/mns/developer-reference/install-python-sdk)
speaks it, API version ``2015-06-06``:

- ``Authorization: MNS <AccessKeyId>:<base64 HMAC-SHA1>`` over ``METHOD\\nContent-MD5\\nContent-Type\\n
  Date\\n`` + the ``x-mns-*`` headers sorted, one ``key:value\\n`` each + the resource (path and
  query as sent); ``security-token`` with an STS key;
- bodies are XML in the ``http://mns.aliyuncs.com/doc/v1/`` namespace; errors are
  ``<Error><Code/><Message/><RequestId/><HostId/></Error>`` with the HTTP status of the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from xml.dom import minidom
from xml.sax.saxutils import escape

from devkit.emulator.responses import Credential
from devkit.mns.models import Message, MnsError

XMLNS = "http://mns.aliyuncs.com/doc/v1/"
API_VERSION = "2015-06-06"


def sign(secret: str, method: str, headers: Mapping[str, str], resource: str) -> str:
    """The base64 HMAC-SHA1 signature of one request (headers keyed in lower case)."""
    mns_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers) if k.startswith("x-mns-"))
    text = "\n".join(
        [method, headers.get("content-md5", ""), headers.get("content-type", ""), headers.get("date", "")]
    )
    digest = hmac.new(secret.encode(), f"{text}\n{mns_headers}{resource}".encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class MnsAuthenticator:
    """Checks a request's ``Authorization`` against the configured keys (``MnsError`` 403 if not)."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self.keys = {c.access_key_id: c for c in credentials}

    def verify(self, method: str, resource: str, headers: Mapping[str, str]) -> None:
        """``resource``: the path and query string exactly as the client signed them."""
        scheme, _, rest = headers.get("authorization", "").partition(" ")
        key_id, _, signature = rest.partition(":")
        credential = self.keys.get(key_id)
        if scheme != "MNS" or credential is None:
            raise MnsError(403, "InvalidAccessKeyId", "The access Id you provided is not exist.")
        if (
            credential.security_token is not None
            and headers.get("security-token") != credential.security_token
        ):
            raise MnsError(403, "SecurityTokenMismatch", "The security token does not match the access Id.")
        expected = sign(credential.access_key_secret, method, headers, resource)
        if not hmac.compare_digest(expected, signature):
            raise MnsError(
                403, "SignatureDoesNotMatch", "The request signature does not conform to MNS standards."
            )
        if headers.get("x-mns-version") != API_VERSION:
            raise MnsError(400, "InvalidArgument", f"x-mns-version must be {API_VERSION}.")


@dataclass(frozen=True)
class Route:
    """Which operation a request is, on which queue."""

    action: str
    queue: str


_ROUTES = {
    ("PUT", False): "CreateQueue",
    ("POST", True): "SendMessage",
    ("GET", True): "BatchReceiveMessage",
    ("DELETE", True): "DeleteMessage",
}


def route(method: str, path: str) -> Route:
    """``/queues/<name>`` or ``/queues/<name>/messages``; anything else is an ``MnsError`` 404."""
    parts = path.strip("/").split("/")
    if len(parts) in (2, 3) and parts[0] == "queues" and parts[1]:
        messages = len(parts) == 3 and parts[2] == "messages"
        action = _ROUTES.get((method, messages)) if len(parts) == 2 or messages else None
        if action is not None:
            return Route(action, parts[1])
    raise MnsError(404, "InvalidArgument", f"the local MNS endpoint does not serve {method} {path}")


def _document(body: bytes) -> minidom.Document:
    try:
        return minidom.parseString(body)
    except Exception as exc:
        raise MnsError(400, "InvalidArgument", f"the body is not XML: {exc}") from None


def _text(node: minidom.Node) -> str:
    return "".join(t.data for t in node.childNodes if isinstance(t, minidom.Text))


def fields(body: bytes, root: str) -> dict[str, str]:
    """The text of each child element of ``root`` in an XML request body."""
    nodes = _document(body).getElementsByTagName(root)
    if not nodes:
        raise MnsError(400, "InvalidArgument", f"the body has no <{root}> element")
    return {n.nodeName: _text(n) for n in nodes[0].childNodes if isinstance(n, minidom.Element)}


def items(body: bytes, item: str) -> list[str]:
    """The text of each ``<item>`` element (BatchDeleteMessage's receipt handles)."""
    return [_text(n) for n in _document(body).getElementsByTagName(item)]


def _xml(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{XMLNS}">{inner}</{root}>'.encode()


def _elements(values: Mapping[str, object]) -> str:
    return "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in values.items())


def sent_body(message: Message) -> bytes:
    """SendMessage's answer."""
    return _xml("Message", _elements({"MessageId": message.message_id, "MessageBodyMD5": message.body_md5}))


def received_body(messages: Iterable[Message]) -> bytes:
    """BatchReceiveMessage's answer."""
    inner = "".join(
        "<Message>"
        + _elements(
            {
                "MessageId": m.message_id,
                "ReceiptHandle": m.receipt_handle,
                "MessageBodyMD5": m.body_md5,
                "MessageBody": m.body,
                "EnqueueTime": m.enqueue_ms,
                "NextVisibleTime": m.next_visible_ms,
                "FirstDequeueTime": m.first_dequeue_ms,
                "DequeueCount": m.dequeue_count,
                "Priority": m.priority,
            }
        )
        + "</Message>"
        for m in messages
    )
    return _xml("Messages", inner)


def error_body(err: MnsError, request_id: str, host: str) -> bytes:
    """An error answer."""
    return _xml(
        "Error",
        _elements({"Code": err.code, "Message": err.message, "RequestId": request_id, "HostId": host}),
    )


def batch_delete_errors(failed: Iterable[tuple[str, MnsError]]) -> bytes:
    """BatchDeleteMessage's answer when some handles failed."""
    inner = "".join(
        "<Error>"
        + _elements({"ErrorCode": e.code, "ErrorMessage": e.message, "ReceiptHandle": h})
        + "</Error>"
        for h, e in failed
    )
    return _xml("Errors", inner)
