"""The failure queue over the official MNS SDK (``aliyun-mns-sdk``), as ``failures.QueueClient``.

``SNAPSTACK_FAILURE_QUEUE`` names the queue as ``mns://<endpoint host>/<queue>`` (HTTPS, e.g.
``mns://1234567890123456.mns.cn-hangzhou.aliyuncs.com/snapstack-failed``, the endpoint form of
https://help.aliyun.com/en/mns/developer-reference/batchreceivemessage) or ``mns+http://`` for the
local endpoint (``devkit/mns``). Unset or empty: the reconciler reads no queue.

The SDK's ``Account`` is not thread-safe (SDK install notes,
https://help.aliyun.com/document_detail/32305.htm); the reconciler reads the queue from one thread.
RAM: ``mns:BatchReceiveMessage`` and ``mns:DeleteMessage`` on
``acs:mns:$region:$accountid:/queues/$queueName/messages``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from snapstack.ecs.credentials import Credentials
from snapstack.reconcile.failures import FailureQueueError, QueueMessage

ENV = "SNAPSTACK_FAILURE_QUEUE"
_SCHEMES = {"mns": "https", "mns+http": "http"}


def queue_url(env: dict[str, str] | None = None) -> str | None:
    """``SNAPSTACK_FAILURE_QUEUE``, or None when unset or empty."""
    value = (os.environ if env is None else env).get(ENV, "").strip()
    return value or None


class MnsQueue:
    """One MNS queue, read and written with the given credentials."""

    def __init__(self, url: str, credentials: Credentials) -> None:
        """``url``: see the module docstring. ``ValueError`` naming the rule if it is not one."""
        parts = urlsplit(url)
        name = parts.path.strip("/")
        if parts.scheme not in _SCHEMES or not parts.netloc or not name or "/" in name:
            raise ValueError(f"{ENV} must be mns://HOST/QUEUE or mns+http://HOST/QUEUE, not {url!r}")
        from mns.account import Account

        account = Account(
            f"{_SCHEMES[parts.scheme]}://{parts.netloc}",
            credentials.access_key_id,
            credentials.access_key_secret,
            credentials.security_token or "",
        )
        self.name = name
        self._queue = account.get_queue(name)
        self._queue.set_encoding(False)  # FC writes the record as JSON text; parse() also takes base64

    def receive(self, count: int) -> list[QueueMessage]:
        """Up to ``count`` messages (BatchReceiveMessage, no long polling); [] when none."""
        from mns.mns_exception import MNSExceptionBase, MNSServerException

        try:
            got = self._queue.batch_receive_message(count)
        except MNSServerException as exc:
            if exc.type == "MessageNotExist":
                return []
            raise FailureQueueError(f"{exc.type}: {exc.message}") from None
        except MNSExceptionBase as exc:
            raise FailureQueueError(f"{exc.type}: {exc.message}") from None
        return [
            QueueMessage(
                message_id=m.message_id,
                receipt_handle=m.receipt_handle,
                body=m.message_body if isinstance(m.message_body, str) else m.message_body.decode(),
                dequeue_count=int(m.dequeue_count),
                enqueue_ms=int(m.enqueue_time),
            )
            for m in got
        ]

    def delete(self, receipt_handle: str) -> None:
        """DeleteMessage."""
        from mns.mns_exception import MNSExceptionBase

        try:
            self._queue.delete_message(receipt_handle)
        except MNSExceptionBase as exc:
            raise FailureQueueError(f"{exc.type}: {exc.message}") from None
