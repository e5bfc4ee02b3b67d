"""Where the reconciler's work comes from: a source of one's own beside the token table's, records
it cannot re-drive, and a source that cannot be read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.retry import Deadline
from snapstack.execute import RunStats
from snapstack.observability import get_logger
from snapstack.ratelimit import RateLimiter
from snapstack.reconcile.meta import slot_meta
from snapstack.reconcile.redrive import Reconciler
from snapstack.reconcile.sources import OpenRecords
from snapstack.reconcile.work import SlotResult, SourceContext, Verdict, Work
from snapstack.tokens import TokenState
from tests.operate.conftest import DISK, World, policy, slots


@dataclass
class Listed:
    """A source that names slots it was given (as a queue of failed events would) and keeps what it
    is told about them."""

    work: list[Work]
    name: str = "listed"
    settled: dict[str, SlotResult] = field(default_factory=dict)

    def collect(self, context: SourceContext) -> Iterable[Work]:
        return list(self.work)

    def settle(self, results: Mapping[str, SlotResult]) -> None:
        self.settled.update(results)


def reconciler(world: World) -> Reconciler:
    creds = world.emulator.credentials
    config = EcsConfig(
        region_id=world.emulator.state.region_id, endpoint=world.emulator.endpoint, protocol="http"
    )
    return Reconciler(
        ecs=EcsClient(config, Credentials(creds.access_key_id, creds.access_key_secret)),
        table=world.table(),
        owner="reconciler:test",
        logger=get_logger(),
        stats=RunStats(),
        deadline=Deadline(None),
        now=world.now,
        limiter=RateLimiter(100),
    )


def test_two_sources_naming_one_slot_cost_one_redrive_and_each_hears_of_its_own(world: World) -> None:
    world.configure(policy("daily", DISK))
    world.emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling"}]}}})
    world.monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    world.backup("daily")
    world.emulator.faults.configure({})
    (record,) = world.table().records()
    slot = slot_meta(record)
    assert slot is not None
    queue = Listed([Work(record.token, slot, None, "listed")])

    report = reconciler(world).run([queue, OpenRecords()])

    (result,) = report.results  # one slot, however many sources name it
    assert (result.verdict, result.origin) == (Verdict.REPAIRED, "token-table")  # the one with a record
    assert queue.settled == {record.token: result}  # each source hears of what it named
    assert slots(world.emulator) == {record.token: 1}


def test_a_record_without_its_request_is_not_redriven_and_is_closed_at_its_deadline(world: World) -> None:
    table = world.table()
    # A record written before records carried their request: a disk, labels, a deadline.
    deadline = world.now + 3600
    meta = {"disk_id": DISK, "policy": "daily", "slot": "20240601", "deadline": f"{deadline:.0f}"}
    table.claim("ss2-old", "gone", lease_seconds=0.0, meta=meta)
    table.fail("ss2-old", "gone", "Throttling", retryable=True)

    first = reconciler(world).run([OpenRecords()])
    assert [r.verdict for r in first.results] == [Verdict.UNREADABLE]
    world.advance(3600)
    second = reconciler(world).run([OpenRecords()])
    assert [(r.verdict, r.error_code) for r in second.results] == [
        (Verdict.ABANDONED, "Reconcile.DeadlinePassed")
    ]
    assert table.get("ss2-old").state is TokenState.FAILED  # type: ignore[union-attr]
    assert world.emulator.calls("CreateSnapshot") == 0


def test_a_source_that_cannot_be_read_fails_the_run_after_the_rest_is_done(
    world: World, tmp_path: object
) -> None:
    world.configure(policy("daily", DISK))
    world.token_table = "sqlite:////proc/snapstack/tokens.db"  # cannot be created: the table is down
    result = world.invoke("reconciler")
    assert result.incomplete and result.summary is not None
    (error,) = result.summary["errors"]
    assert error.startswith("source token-table: SQLite token table")
    assert result.summary["rpo"]["policies"][0]["checked"] == 1  # the RPO check still ran


def test_a_source_that_names_a_slot_given_up_on_gets_it_made(world: World) -> None:
    world.configure(policy("daily", DISK))
    world.emulator.state.patch_disk(DISK, transferring=True)
    for _ in range(4):  # FC's deliveries: the fourth gives up
        world.backup("daily")
    (record,) = world.table().records()
    assert (record.state, record.retryable) == (TokenState.FAILED, False)
    world.emulator.state.patch_disk(DISK, transferring=False)
    slot = slot_meta(record)
    assert slot is not None
    queue = Listed([Work(record.token, slot, None, "listed")])  # it knows the slot, not its record

    (result,) = reconciler(world).run([queue]).results
    assert (result.verdict, result.origin) == (Verdict.REPAIRED, "listed")
    assert queue.settled == {record.token: result}
    assert slots(world.emulator) == {record.token: 1}
