"""The local MNS endpoint (devkit/mns) as the official SDK (aliyun-mns-sdk) sees it over a socket:
signatures checked, a received message hidden for the visibility timeout on the caller's clock, a
stale receipt handle refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

from devkit.emulator.responses import Credential
from devkit.mns.testing import LocalMns
from tests.clock import Clock

QUEUE = "snapstack-failed"


@pytest.fixture
def clock() -> Clock:
    return Clock(1_700_000_000.0)


@pytest.fixture
def mns(clock: Clock) -> Iterator[LocalMns]:
    with LocalMns(clock) as local:
        meta = QueueMeta()
        meta.set_visibilitytimeout(60)
        local.account().get_queue(QUEUE).create(meta)
        yield local


def queue(mns: LocalMns, credential: Credential | None = None):  # type: ignore[no-untyped-def]
    got = mns.account(credential).get_queue(QUEUE)
    got.set_encoding(False)
    return got


def error_of(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(MNSServerException) as caught:
        call()
    return str(caught.value.type)


def test_a_message_sent_is_received_once_until_its_visibility_timeout_then_again(
    mns: LocalMns, clock: Clock
) -> None:
    sent = queue(mns).send_message(Message('{"requestContext": {"requestId": "r-1"}} <&>'))
    (first,) = queue(mns).batch_receive_message(16)
    assert (first.message_id, first.message_body, first.dequeue_count) == (
        sent.message_id,
        '{"requestContext": {"requestId": "r-1"}} <&>',
        1,
    )
    assert first.message_body_md5 == sent.message_body_md5
    assert error_of(lambda: queue(mns).batch_receive_message(16)) == "MessageNotExist"  # hidden
    clock.now += 61
    (again,) = queue(mns).batch_receive_message(16)
    assert (again.message_id, again.dequeue_count) == (sent.message_id, 2)
    # The first consumer's handle is stale: it cannot delete what the second now holds.
    assert error_of(lambda: queue(mns).delete_message(first.receipt_handle)) == "MessageNotExist"
    queue(mns).delete_message(again.receipt_handle)
    assert mns.state.messages(QUEUE) == []


def test_batches_hold_at_most_16_oldest_first_and_delete_in_one_call(mns: LocalMns) -> None:
    for n in range(20):
        queue(mns).send_message(Message(f"m{n}"))
    batch = queue(mns).batch_receive_message(16)
    assert [m.message_body for m in batch] == [f"m{n}" for n in range(16)]
    queue(mns).batch_delete_message([m.receipt_handle for m in batch])
    assert [m.body for m in mns.state.messages(QUEUE)] == ["m16", "m17", "m18", "m19"]


def test_a_wrong_secret_a_missing_sts_token_and_an_unknown_queue_are_refused(mns: LocalMns) -> None:
    key, sts = mns.credentials
    wrong = Credential(key.access_key_id, "not-the-secret")
    assert error_of(lambda: queue(mns, wrong).batch_receive_message(1)) == "SignatureDoesNotMatch"
    tokenless = Credential(sts.access_key_id, sts.access_key_secret, "")
    assert error_of(lambda: queue(mns, tokenless).send_message(Message("x"))) == "SecurityTokenMismatch"
    queue(mns, sts).send_message(Message("signed with the STS triple"))
    other = mns.account().get_queue("no-such-queue")
    assert error_of(lambda: other.batch_receive_message(1)) == "QueueNotExist"
    assert [m.body for m in mns.state.messages(QUEUE)] == ["signed with the STS triple"]
