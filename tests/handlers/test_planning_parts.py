"""handlers/planning.py piece by piece, against the ECS emulator over the official SDK: what each
disk's intent carries, which disks planning decides without ECS, how a listing page is split
into batches, and what ``resolve_targets`` asks DescribeDisks (counted at the emulator).

Quick on purpose: ``make mutation`` runs these first for the planner's mutants (the end-to-end
tests of tests/e2e pin the same behaviour through whole invocations, slowly).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from devkit.emulator.fleet import generate_fleet
from devkit.emulator.testing import EcsEmulator
from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.retry import RetryPolicy
from snapstack.execute import DiskResult, Hold, Intent, Outcome
from snapstack.handlers.planning import (
    PLAN_BATCH,
    AllowList,
    build_intents,
    compact,
    resolve_targets,
    stream_intents,
)
from snapstack.policy.model import Policy, Selector
from snapstack.reconcile.deadlines import slot_deadline
from snapstack.targets import Disk, InstanceState
from snapstack.tokens.base import TokenRecord, TokenState
from snapstack.tokens.slots import client_token, slot_key

REGION = "cn-hangzhou"
#: 30 Running instances i-gen-00000..00029, four disks each (d-gen-000000..000119; the first of
#: each instance is its system disk): more than DescribeDisks' first page of 100, so a region
#: scan costs two calls where one instance's disks cost one.
FLEET_DISKS = 120
DAY = date(2026, 11, 27)
SLOT_END = datetime(2026, 11, 28, tzinfo=timezone.utc)

POLICY = Policy.model_validate(
    {
        "name": "daily",
        "selector": {"all_disks": True},
        "snapshot_name": "ss-{policy}-{trigger}-{slot}-{date}-{disk_id}",
        "description": "of {instance_id} because {reason}",
    }
)


def disk_id(n: int) -> str:
    return f"d-gen-{n:06d}"


def instance_id(n: int) -> str:
    return f"i-gen-{n:05d}"


@pytest.fixture(scope="module")
def fleet() -> Iterator[EcsEmulator]:
    with EcsEmulator(fleet=generate_fleet(FLEET_DISKS, snapshot_seconds=0)) as emu:
        yield emu


@pytest.fixture
def emu(fleet: EcsEmulator) -> Iterator[EcsEmulator]:
    yield fleet
    fleet.reset()


def runtime_for(emu: EcsEmulator, records: dict[str, TokenRecord] | None = None) -> Any:
    """What the planner reads of a Runtime: ECS, the region and the bulk slot-record read (which
    records the tokens it was asked for in ``asked``)."""
    creds = emu.credentials
    config = EcsConfig(REGION, endpoint=emu.endpoint, protocol="http", retry=RetryPolicy(max_attempts=1))
    runtime = SimpleNamespace(
        ecs=EcsClient(config, Credentials(creds.access_key_id, creds.access_key_secret)),
        region=REGION,
        slot_records=None,
        asked=[],
    )
    if records is not None:

        def read(tokens: Any) -> dict[str, TokenRecord]:
            wanted = list(tokens)
            runtime.asked.append(wanted)
            return {t: records[t] for t in wanted if t in records}

        runtime.slot_records = read
    return runtime


def keyed(disk: str, slot: str = "20261127") -> tuple[str, str]:
    """The slot key and token planning derives for ``disk`` (no invocation: empty stack/function)."""
    key = slot_key("timer", slot=slot, disk=disk, ns_stack="", ns_function="", ns_policy="daily")
    return key, client_token(key)


def record(token: str, state: TokenState, **fields: Any) -> TokenRecord:
    return TokenRecord(
        token=token, state=state, owner="o", created_at=1.0, updated_at=1.0, expires_at=2.0, **fields
    )


def plan(disks: list[Disk], **kwargs: Any) -> tuple[list[Intent], list[DiskResult]]:
    options = {"trigger": "timer", "slot_parts": {"slot": "20261127"}, "slot": "20261127", "day": DAY}
    return build_intents(POLICY, disks, **{**options, **kwargs})


def test_a_moment_is_compacted_to_the_minute_unless_only_its_date_is_asked():
    moment = datetime(2026, 11, 27, 20, 5, 59)
    assert compact(moment) == "20261127T2005"  # an alarm's window: the default
    assert compact(moment, with_time=False) == compact(moment.date(), with_time=False) == "20261127"


# --- build_intents ----------------------------------------------------------------------------------


def test_an_intent_carries_the_slot_the_request_and_the_deadline():
    disk = Disk(disk_id="d-1", instance_id="i-1", tags={"team": "web"})
    (intent,), refused = plan([disk], reason="nightly\nrun", slot_end=SLOT_END)
    key, token = keyed("d-1")
    assert refused == []
    assert (intent.disk_id, intent.instance_id, intent.slot_key, intent.token) == ("d-1", "i-1", key, token)
    assert intent.labels == {"policy": "daily", "trigger": "timer", "slot": "20261127"}
    assert intent.hold is None and intent.deadline == slot_deadline("timer", end=SLOT_END)
    request = intent.request
    assert (request.disk_id, request.client_token) == ("d-1", token)
    assert request.snapshot_name == "ss-daily-timer-20261127-20261127-d-1"
    assert request.description == "of i-1 because nightly run"  # the reason is cleaned
    assert dict((t.key, t.value) for t in request.tags) == {
        "snapstack:policy": "daily",
        "snapstack:trigger": "timer",
        "snapstack:slot": token,
        "snapstack:stack": "",
    }


def test_a_disk_without_instance_is_named_none_and_a_slot_is_made_a_name_part():
    (intent,), _ = plan([Disk(disk_id="d-2")], slot="web/1.4.2", slot_parts={"deploy": "web/1.4.2"})
    assert intent.labels["slot"] == "web-1-4-2"
    assert intent.request.snapshot_name == "ss-daily-timer-web-1-4-2-20261127-d-2"
    assert intent.request.description == "of none because "


def test_without_a_day_the_date_is_today_in_the_policys_zone():
    (intent,), _ = build_intents(POLICY, [Disk(disk_id="d-3")], trigger="deploy", slot_parts={}, slot="r1")
    before = datetime.now(POLICY.zone).strftime("%Y%m%d")
    name = intent.request.snapshot_name
    after = datetime.now(POLICY.zone).strftime("%Y%m%d")
    assert name in (f"ss-daily-deploy-r1-{before}-d-3", f"ss-daily-deploy-r1-{after}-d-3")
    assert intent.deadline is not None and intent.deadline > datetime.now(timezone.utc).timestamp()


def test_a_disk_whose_request_breaks_a_rule_fails_alone_with_no_ecs_call():
    long_id = "d-" + "x" * 120  # the rendered SnapshotName passes 128 characters
    intents, refused = plan([Disk(disk_id=long_id), Disk(disk_id="d-ok")])
    assert [i.disk_id for i in intents] == ["d-ok"]
    assert refused == [
        DiskResult(
            disk_id=long_id,
            outcome=Outcome.FAILED,
            token=keyed(long_id)[1],
            error_code="InvalidSnapshotName.Malformed",
            message="InvalidSnapshotName.Malformed: SnapshotName must be 2 to 128 characters long",
        )
    ]


@pytest.mark.parametrize(
    ("status", "held"),
    [("Running", False), ("Stopped", False), ("Pending", True), ("Starting", True), ("Stopping", True)],
)
def test_a_disk_on_an_instance_in_transition_is_held(status, held):
    state = InstanceState(instance_id="i-5", status=status, ever_started=True)
    (intent,), refused = plan([Disk(disk_id="d-5", instance_id="i-5", instance=state)])
    assert refused == []
    hold = Hold(code="IncorrectInstanceStatus", message=f"instance i-5 is {status}, not Running or Stopped")
    assert intent.hold == (hold if held else None)


def test_a_disk_on_an_instance_never_started_is_skipped():
    state = InstanceState(instance_id="i-6", status="Stopped", ever_started=False)
    intents, refused = plan([Disk(disk_id="d-6", instance_id="i-6", instance=state)])
    assert intents == []
    assert refused == [
        DiskResult(
            disk_id="d-6",
            outcome=Outcome.SKIPPED,
            token=keyed("d-6")[1],
            error_code="IncorrectInstanceStatus",
            message="instance i-6 has never been started: ECS refuses snapshots of its disks until it "
            "has run once (no ECS call made)",
        )
    ]


# --- resolve_targets: one query for the whole set, counted at the emulator ---------------------------


def resolved(emu: EcsEmulator, instances: list[str], disks: list[str]) -> tuple[list[str], int]:
    """(disk ids found, DescribeDisks calls made)."""
    before = emu.calls("DescribeDisks")
    found = resolve_targets(runtime_for(emu), instances, disks)
    return [d.disk_id for d in found], emu.calls("DescribeDisks") - before


def test_disk_ids_alone_are_asked_100_a_call_and_each_is_found_once(emu):
    named = [disk_id(n) for n in range(150)] + [disk_id(5), "d-missing"]
    found, calls = resolved(emu, [], named)
    assert (found, calls) == ([disk_id(n) for n in range(120)], 2)


def test_two_disk_ids_are_both_found(emu):
    assert resolved(emu, [], [disk_id(7), disk_id(3)]) == ([disk_id(3), disk_id(7)], 1)


def test_one_instance_alone_costs_one_call(emu):
    assert resolved(emu, [instance_id(2)], []) == ([disk_id(n) for n in range(8, 12)], 1)


def test_instances_and_disks_together_are_one_region_scan(emu):
    found, calls = resolved(emu, [instance_id(2), instance_id(0)], [disk_id(8), disk_id(40)])
    assert (found, calls) == ([disk_id(n) for n in (0, 1, 2, 3, 8, 9, 10, 11, 40)], 2)
    found, calls = resolved(emu, [instance_id(1)], [disk_id(100)])
    assert (found, calls) == ([disk_id(n) for n in (4, 5, 6, 7, 100)], 2)


def test_nothing_named_finds_nothing(emu):
    assert resolved(emu, [], []) == ([], 0)


# --- stream_intents: a listing page into batches -----------------------------------------------------


def stream(runtime: Any, pages: list[list[Disk]], allow: AllowList | None = None) -> list[Any]:
    return list(
        stream_intents(
            runtime,
            POLICY,
            pages,
            trigger="timer",
            slot_parts={"slot": "20261127"},
            slot="20261127",
            day=DAY,
            slot_end=SLOT_END,
            allow=allow,
        )
    )


def listed(first: int, count: int) -> list[Disk]:
    """Disks as a listing page shows them (no instance state yet)."""
    return [Disk(disk_id=disk_id(n), instance_id=instance_id(n // 4)) for n in range(first, first + count)]


def test_a_page_is_planned_plan_batch_at_a_time_with_instance_states(emu):
    batches = stream(runtime_for(emu), [listed(0, PLAN_BATCH + 20)])
    assert [len(b.intents) for b in batches] == [PLAN_BATCH, 20]
    assert all(not b.results and b.records is None for b in batches)
    planned = [i for b in batches for i in b.intents]
    assert [i.disk_id for i in planned] == [disk_id(n) for n in range(PLAN_BATCH + 20)]
    assert all(i.hold is None for i in planned)
    assert batches[0].labels == {"policy": "daily", "trigger": "timer", "slot": "20261127"}
    assert emu.calls("DescribeInstances") == 1  # 30 instances: one call of up to 100 ids


def test_an_instance_state_read_in_the_listing_holds_or_skips_its_disks(emu):
    emu.state.patch_instance(instance_id(0), status="Starting")
    emu.state.patch_instance(instance_id(1), status="Stopped", ever_started=False)
    (batch,) = stream(runtime_for(emu), [listed(0, 8)])
    assert [(i.disk_id, i.hold is not None) for i in batch.intents] == [(disk_id(n), True) for n in range(4)]
    assert [(r.disk_id, r.outcome) for r in batch.results] == [
        (disk_id(n), Outcome.SKIPPED) for n in range(4, 8)
    ]


def test_slots_the_table_settled_are_decided_first_and_unfinished_ones_go_first(emu):
    tokens = [keyed(disk_id(n))[1] for n in range(6)]
    records = {
        tokens[1]: record(tokens[1], TokenState.CREATED, snapshot_id="s-1"),
        tokens[2]: record(tokens[2], TokenState.FAILED, error_code="InvalidDiskId.NotFound", retryable=False),
        tokens[4]: record(tokens[4], TokenState.SENT),  # left unfinished by an earlier delivery
        tokens[5]: record(tokens[5], TokenState.FAILED, error_code="Throttling", retryable=True),
    }
    runtime = runtime_for(emu, records)
    settled, planned = stream(runtime, [listed(0, 6)])
    assert runtime.asked == [tokens]  # one bulk read for the page
    assert [(r.disk_id, r.outcome) for r in settled.results] == [
        (disk_id(1), Outcome.DEDUPLICATED),
        (disk_id(2), Outcome.FAILED),
    ]
    assert settled.labels == planned.labels and not settled.intents
    assert [i.disk_id for i in planned.intents] == [disk_id(n) for n in (4, 5, 0, 3)]
    assert planned.records == records  # handed over: the executor does not read them again


def test_a_page_with_nothing_to_plan_reads_no_records(emu):
    runtime = runtime_for(emu, {})
    assert stream(runtime, [[]]) == []
    assert runtime.asked == [] and emu.calls("DescribeInstances") == 0


def test_a_page_with_no_record_yields_only_its_plan_with_the_records_read(emu):
    runtime = runtime_for(emu, {})
    (batch,) = stream(runtime, [listed(0, 2)])
    assert [i.disk_id for i in batch.intents] == [disk_id(0), disk_id(1)]
    assert batch.records == {} and batch.results == []


def test_the_allow_list_denies_what_it_does_not_cover_page_by_page(emu):
    runtime = runtime_for(emu, {})
    allow = AllowList(runtime, Selector(instance_ids=[instance_id(0), instance_id(2)]))
    batches = stream(runtime, [listed(0, 8), listed(8, 4)], allow)
    denied, planned, second = batches
    assert [r.disk_id for r in denied.results] == [disk_id(n) for n in range(4, 8)]
    assert {(r.outcome, r.error_code, r.token) for r in denied.results} == {
        (Outcome.DENIED, "NotAllowed", "")
    }
    assert denied.results[0].message == "outside this function's allow-list (policy selector)"
    assert [i.disk_id for i in planned.intents] == [disk_id(n) for n in range(4)]
    assert [i.disk_id for i in second.intents] == [disk_id(n) for n in range(8, 12)]
    assert runtime.asked == [
        [keyed(disk_id(n))[1] for n in range(4)],
        [keyed(disk_id(n))[1] for n in range(8, 12)],
    ]
