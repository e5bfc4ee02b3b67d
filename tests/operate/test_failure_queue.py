"""The reconciler drains the OnFailure destination queue (issue #15 item 3), end to end: FC's
destination records in the local MNS endpoint (devkit/mns), read by the reconciler through the
official SDK over a socket, on the ECS emulator's virtual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mns.queue import Message, QueueMeta

from devkit.emulator.models import iso
from devkit.emulator.responses import Credential
from devkit.mns.testing import LocalMns
from tests.operate.conftest import DISK, ROOT, World, assert_never_two, policy, slots

QUEUE = "snapstack-failed"
OTHER = "d-web-02-data"


@pytest.fixture
def mns(world: World) -> Iterator[LocalMns]:
    creds = world.emulator.credentials  # the local FC context hands the functions these keys
    key = Credential(creds.access_key_id, creds.access_key_secret)
    with LocalMns(world.emulator.state.clock.now, credentials=[key]) as local:
        meta = QueueMeta()
        meta.set_visibilitytimeout(900)  # as template.yml's FailureQueue
        local.account().get_queue(QUEUE).create(meta)
        world.monkeypatch.setenv(
            "SNAPSTACK_FAILURE_QUEUE", f"mns+http://{local.url[len('http://') :]}/{QUEUE}"
        )
        yield local


def give_up(world: World, mns: LocalMns, function: str, request_id: str, payload: str) -> None:
    """What FC sends the OnFailure destination after an event's last retry (result callback record)."""
    arn = f"acs:fc:cn-hangzhou:1234567890123456:services/snapstack.LATEST/functions/{function}"
    record = {
        "timestamp": iso(world.now),
        "requestContext": {
            "requestId": request_id,
            "functionArn": arn,
            "condition": "UnhandledInvocationError",
            "approximateInvokeCount": 4,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "functionError": "UnhandledInvocationError"},
        "responsePayload": '{"errorMessage": "1 disk(s) not finished"}',
    }
    queue = mns.account().get_queue(QUEUE)
    queue.set_encoding(False)
    queue.send_message(Message(json.dumps(record)))


def alerts(captured: pytest.CaptureResult[str]) -> list[dict[str, Any]]:
    text = captured.out + captured.err  # the functions' log lines (stdout on FC)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("alert") == "FailedInvocation"]


def test_failed_invocations_are_finished_reported_once_and_removed(
    world: World, mns: LocalMns, capsys: pytest.CaptureFixture[str]
) -> None:
    world.configure(policy("daily", DISK, OTHER))
    world.monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    world.emulator.faults.configure(
        {"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "match": {"DiskId": OTHER}}]}}}
    )
    payload = json.dumps({"policy": "daily"})
    # FC's delivery and 3 retries, one request id: the last gives up on the throttled disk.
    runs = [world.backup("daily", request_id="req-backup-1") for _ in range(4)]
    assert [r.incomplete for r in runs] == [True, True, True, False]
    world.emulator.faults.configure({})
    give_up(world, mns, "scheduled_backup", "req-backup-1", world.event(payload).decode())
    give_up(world, mns, "reconciler", "req-reconciler-9", world.event("").decode())  # claims nothing
    dead_letter = (ROOT / "events/eventbridge_ecs_instance_state_change.json").read_text()
    mns.account().get_queue(QUEUE).send_message(Message(dead_letter))  # EventBridge's DLQ: the bare event
    world.monkeypatch.delenv("SNAPSTACK_RETRY_MAX_ATTEMPTS")
    capsys.readouterr()

    run = world.reconcile()

    assert run["failure_queue"] == {"received": 3, "deleted": 3}
    (row,) = run["disks"]
    assert (row["disk_id"], row["verdict"], row["origin"]) == (OTHER, "repaired", "token-table")
    assert sorted(slots(world.emulator).values()) == [1, 1]
    assert mns.state.messages(QUEUE) == []
    found = {a.get("failed_request_id", "-"): a for a in alerts(capsys.readouterr())}
    assert set(found) == {"req-backup-1", "req-reconciler-9", "-"}
    backup = found["req-backup-1"]
    assert (backup["level"], backup["failed_function"], backup["slots"], backup["disks"]) == (
        "ERROR",
        "scheduled_backup",
        1,
        [OTHER],
    )
    assert backup["verdicts"] == {"repaired": 1} and backup["attempts"] == 4
    assert json.loads(backup["event"])["payload"] == payload
    assert found["req-reconciler-9"]["slots"] == 0  # it claimed nothing: the event is in the line
    assert "acs.ecs" in found["-"]["event"]

    capsys.readouterr()
    again = world.reconcile()
    assert again["failure_queue"] == {"received": 0, "deleted": 0} and again["disks"] == []
    assert alerts(capsys.readouterr()) == []  # each event FC gave up on is reported once


def test_a_message_whose_slot_waits_stays_until_its_slot_is_made(world: World, mns: LocalMns) -> None:
    world.configure(policy("daily", DISK), policy("weekly", DISK, period="1w"))
    world.backup("daily")
    for _ in range(4):  # the daily snapshot is in progress on every delivery of the weekly event
        world.backup("weekly", request_id="req-weekly-1")
    give_up(world, mns, "scheduled_backup", "req-weekly-1", world.event('{"policy": "weekly"}').decode())

    world.advance(60)
    waiting = world.reconcile()
    assert [r["verdict"] for r in waiting["disks"]] == ["waiting"]
    assert waiting["failure_queue"] == {"received": 1, "deleted": 0}
    assert len(mns.state.messages(QUEUE)) == 1  # kept, hidden until the next run

    world.advance(900)  # the daily snapshot is done; the message is visible again
    made = world.reconcile()
    assert [(r["verdict"], r["policy"]) for r in made["disks"]] == [("repaired", "weekly")]
    assert made["failure_queue"] == {"received": 1, "deleted": 1}
    assert mns.state.messages(QUEUE) == []
    assert sorted(slots(world.emulator).values()) == [1, 1]
    assert_never_two(world.emulator)


def test_a_queue_that_cannot_be_read_fails_the_run_after_the_rest_is_done(
    world: World, mns: LocalMns
) -> None:
    world.configure(policy("daily", DISK))
    world.monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    world.emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling"}]}}})
    assert world.backup("daily").incomplete
    world.emulator.faults.configure({})
    world.monkeypatch.delenv("SNAPSTACK_RETRY_MAX_ATTEMPTS")
    world.monkeypatch.setenv(
        "SNAPSTACK_FAILURE_QUEUE", f"mns+http://{mns.url[len('http://') :]}/no-such-queue"
    )

    result = world.invoke("reconciler")

    assert result.incomplete and result.summary is not None
    assert [r["verdict"] for r in result.summary["disks"]] == ["repaired"]  # the table's work is done
    assert any("QueueNotExist" in e for e in result.summary["errors"])
