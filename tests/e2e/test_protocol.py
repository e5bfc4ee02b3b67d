"""The dedupe protocol end to end (issue #10 items 5-7, 11, 12): token generations under both ECS
token modes, takeover after ECS forgot a token, IdempotentParameterMismatch, instance state and
the delivery bound. Everything runs template.yml's functions against the ECS emulator and a real
SQLite token table; the state A leaves behind is written through the table's own transitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs
from darabonba.runtime import RuntimeOptions

from devkit.emulator.testing import EcsEmulator
from snapstack.tokens import TokenState, client_token_at, open_table
from tests.e2e.conftest import ROOT, Runner, ours, target_of, timer_event

DISK = "d-web-01-data"
FIELD = ROOT / "tests" / "data" / "field"


def one_disk(**policy: Any) -> dict[str, Any]:
    return {"policies": [{"name": "daily", "selector": {"disk_ids": [DISK]}, **policy}]}


def table_of(run: Runner) -> Any:
    return open_table(run.token_table)


@pytest.mark.parametrize("mode", ["remember", "release"])
def test_a_definitive_error_moves_the_slot_to_a_new_recorded_generation(
    run: Runner, emulator: EcsEmulator, config_json: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    emulator.state.set_token_errors(mode)
    config_json(one_disk())
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    emulator.state.patch_disk(DISK, transferring=True)  # a state rule: ECS answers, definitively

    first = run("scheduled_backup", timer_event())
    (disk,) = first.summary["disks"]
    assert first.incomplete and (disk["outcome"], disk["error_code"]) == (
        "deferred",
        "IncorrectDiskStatus.Transferring",
    )
    record = table_of(run).get(disk["token"])
    assert record is not None and (record.generation, record.in_doubt) == (1, False)

    emulator.state.patch_disk(DISK, transferring=False)
    second = run("scheduled_backup", timer_event())
    assert second.summary["created"] == 1 and not second.incomplete
    (snap,) = ours(emulator)
    assert snap["client_token"] == client_token_at(disk["token"], 1)  # never the answered token again
    tokens = emulator.state.dump()["client_tokens"]
    # remember: the refused token keeps its error forever, so reusing it would never succeed.
    assert (disk["token"] in tokens) == (mode == "remember")


def test_a_takeover_after_ecs_forgot_the_token_makes_no_second_snapshot(
    run: Runner, emulator: EcsEmulator, config_json: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_json(one_disk())
    monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", "0.2")
    # Learn the slot's token and request from a dry planning run: a first delivery that fails at once.
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 99}]}}})
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    probe = run("scheduled_backup", timer_event()).summary["disks"][0]
    emulator.faults.configure({})
    table = table_of(run)
    token = probe["token"]
    # A: claims, marks the request sent, ECS commits it... and A dies before it records anything.
    claimed = table.claim(token, "A", lease_seconds=0.01)
    sent = table.mark_sent(token, "A", generation=claimed.record.generation)
    request = ecs.CreateSnapshotRequest(
        disk_id=DISK,
        client_token=client_token_at(token, sent.generation),
        tag=[ecs.CreateSnapshotRequestTag(key="snapstack:slot", value=token)],
    )
    made = emulator.sdk_client().create_snapshot_with_options(request, RuntimeOptions()).body.snapshot_id
    emulator.state.forget_client_tokens()  # ...and by the time B comes, ECS no longer knows the token
    table.renew_lease(token, "A", lease_seconds=0.0)  # A's lease has run out

    b = run("scheduled_backup", timer_event())
    (disk,) = b.summary["disks"]
    assert (disk["outcome"], disk["snapshot_id"]) == ("deduplicated", made)
    assert "found by its slot tag" in disk["message"]
    assert b.summary["created"] == 0  # counted once, by nobody twice
    assert [s["snapshot_id"] for s in ours(emulator)] == [made]
    record = table.get(token)
    assert record is not None and (record.state, record.snapshot_id) == (TokenState.CREATED, made)


def test_a_parameter_mismatch_resolves_to_the_snapshot_that_exists(
    run: Runner, emulator: EcsEmulator, config_json: Any, tmp_path: Path
) -> None:
    config_json(one_disk(retention_days=7))
    first = run("scheduled_backup", timer_event()).summary
    (made,) = [d["snapshot_id"] for d in first["disks"]]
    # The record is gone (expired, or a new table) and the policy was edited since.
    config_json(one_disk(retention_days=9))
    again = Runner(run.stack, emulator, f"sqlite:///{tmp_path}/fresh.db")("scheduled_backup", timer_event())

    (disk,) = again.summary["disks"]
    assert (disk["outcome"], disk["snapshot_id"]) == ("deduplicated", made)
    assert "RetentionDays (7 -> 9)" in disk["warning"]
    assert "IdempotentParameterMismatch" in emulator.counters.to_dict()["CreateSnapshot"]["outcomes"]
    assert len(ours(emulator)) == 1 and not again.incomplete


def test_a_value_that_varies_per_delivery_is_fixed_per_slot(
    run: Runner, emulator: EcsEmulator, config_json: Any, tmp_path: Path
) -> None:
    config_json(one_disk())
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "QuotaExceed.Snapshot"}]}}})
    probe = Runner(run.stack, emulator, f"sqlite:///{tmp_path}/probe.db")("scheduled_backup", timer_event())
    token = probe.summary["disks"][0]["token"]
    emulator.faults.configure({})
    # A first delivery rendered another name (an event time inside it) and failed retryably: the
    # slot's record keeps its values, and every later delivery sends them, not its own.
    table = table_of(run)
    first = "snapstack-first-delivery-name"
    table.claim(token, "first", meta={"name": first})
    table.fail(token, "first", "Throttling", retryable=True)

    later = run("scheduled_backup", timer_event()).summary
    assert later["created"] == 1
    (snap,) = ours(emulator)
    assert snap["name"] == first


# The case carries its policy inline: inline policies are opt-in (issue 10 item 2).
NEVER_STARTED_OPT_IN = {
    "inline_policies": {
        "allow": {"disk_ids": ["d-batch-01-system", "d-web-01-data"]},
        "max_retention_days": 7,
    }
}


def test_never_started_instances_are_skipped_and_the_run_completes(
    run: Runner, emulator: EcsEmulator, config_json: Any
) -> None:
    config_json(NEVER_STARTED_OPT_IN)
    event = (FIELD / "never_started.json").read_bytes()  # /work/shared/cases/field/never_started.json
    result = run("scheduled_backup", event)

    by_disk = {d["disk_id"]: d for d in result.summary["disks"]}
    assert by_disk["d-web-01-data"]["outcome"] == "created"
    skipped = by_disk["d-batch-01-system"]
    assert (skipped["outcome"], skipped["error_code"]) == ("skipped", "IncorrectInstanceStatus")
    assert "never been started" in skipped["message"]
    assert not result.incomplete and result.error is None  # no endless function error
    assert emulator.calls("CreateSnapshot") == 1  # no call for the disk ECS would refuse


def test_never_started_through_snapstack_local_invoke(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("snapstack")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "devkit.cli"]
    out = subprocess.run(
        [*command, "local", "invoke", "scheduled_backup", "--event", str(FIELD / "never_started.json"),
         "--json", "--token-table", f"sqlite:///{tmp_path}/t.db"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "SNAPSTACK_CONFIG_JSON": json.dumps(NEVER_STARTED_OPT_IN)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    start = out.stdout.rfind("\n{\n")  # --json prints the summary last (logs may precede it)
    summary = json.loads(out.stdout[start + 1 if start >= 0 else 0 :])
    outcomes = {d["disk_id"]: d["outcome"] for d in summary["disks"]}
    assert outcomes == {"d-web-01-data": "created", "d-batch-01-system": "skipped"}


def test_a_transitional_instance_defers_without_a_call_and_gives_up_after_n_deliveries(
    run: Runner, emulator: EcsEmulator, config_json: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_json({"policies": [{"name": "daily", "selector": {"disk_ids": ["d-api-01-system"]}}]})  # Stopping
    monkeypatch.setenv("SNAPSTACK_MAX_DELIVERIES", "3")
    runs = [run("scheduled_backup", timer_event()) for _ in range(4)]

    outcomes = [(r.summary["disks"][0]["outcome"], r.incomplete) for r in runs]
    assert outcomes == [("deferred", True), ("deferred", True), ("failed", False), ("failed", False)]
    assert "gave up after 3 deliveries" in runs[2].summary["disks"][0]["message"]
    assert "is Stopping" in runs[0].summary["disks"][0]["message"]
    assert emulator.calls("CreateSnapshot") == 0
    assert "tokens retry" in runs[3].summary["disks"][0]["message"]


def test_account_level_errors_fail_the_invocation_not_each_disk(
    run: Runner, emulator: EcsEmulator, config_json: Any
) -> None:
    config_json(
        {"policies": [{"name": "daily", "selector": {"disk_tags": {"backup": "daily"}}, "concurrency": 1}]}
    )
    emulator.state.account.balance_ok = False
    result = run("scheduled_backup", timer_event())
    assert (
        result.error is not None and "InvocationFailed: InvalidAccountStatus.NotEnoughBalance" in result.error
    )
    assert emulator.calls("CreateSnapshot") == 1  # the first answer stopped the rest
    records = table_of(run).records()
    assert records and all(r.retryable for r in records if r.state is TokenState.FAILED)

    emulator.state.account.balance_ok = True  # the operator tops up: the retry just works
    again = run("scheduled_backup", timer_event())
    assert again.error is None and again.summary["failed"] <= 1  # only the security-locked disk


def test_target_of_is_the_emulator(emulator: EcsEmulator) -> None:
    assert target_of(emulator).endpoint == emulator.endpoint
