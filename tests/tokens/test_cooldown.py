"""Alarm cooldowns (snapstack.handlers.cooldown) on every token-table backend in BACKENDS.

The windows count from receipt, on the table's clock: a hand-moved clock drives them here.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from snapstack.handlers.cooldown import Assignment, Cooldowns
from snapstack.tokens import TokenTable
from tests.tokens.support import FakeClock, TableFactory, together

HOUR = timedelta(hours=1)
NAMESPACE = {"service": "snapstack", "function": "alarm_snapshot", "policy": "alarm"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def cooldowns(table: TokenTable, *, cap: int = 6, policy: str = "alarm", owner: str = "req-1") -> Cooldowns:
    return Cooldowns(
        table,
        namespace=NAMESPACE | {"policy": policy},
        owner=owner,
        period=HOUR,
        zone=SHANGHAI,
        cap=cap,
    )


@pytest.fixture
def table(table_factory: TableFactory) -> TokenTable:
    return table_factory()


@pytest.fixture
def morning(clock: FakeClock) -> FakeClock:
    """10:59:40 in Shanghai on a day in the future (Redis key expiry runs on the real clock)."""
    today = datetime.fromtimestamp(clock.now, SHANGHAI).date() + timedelta(days=2)
    clock.now = datetime.combine(today, datetime.min.time(), SHANGHAI).timestamp() + 10 * 3600 + 59 * 60 + 40
    return clock


def test_an_alarm_over_the_clock_hour_joins_the_window(table: TokenTable, morning: FakeClock) -> None:
    """10:59:40 and 11:00:40: one window, whatever the clock hour (the cms_boundary field case)."""
    first = cooldowns(table).assign("d-1", ["cms:rule:1:ALERT"], "cms_alarm rule")
    morning.advance(60)
    second = cooldowns(table).assign("d-1", ["cms:rule:2:ALERT"], "cms_alarm rule")

    assert (first.how, second.how) == ("opened", "joined")
    assert second.window == first.window and second.start == first.start == morning.now - 60
    assert first.window == datetime.fromtimestamp(first.start, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_any_rule_joins_the_live_window_and_keeps_the_openers_reason(
    table: TokenTable, morning: FakeClock
) -> None:
    first = cooldowns(table).assign("d-1", ["cms:disk-full:1:ALERT"], "cms_alarm disk-full")
    morning.advance(HOUR.total_seconds() - 1)
    other = cooldowns(table).assign("d-1", ["ecs-event:stop-1"], "system_event Instance:StateChange")

    assert other.how == "joined" and other.window == first.window
    assert other.reason == "cms_alarm disk-full"  # every delivery of a window renders one request


def test_after_the_period_the_next_alarm_opens_a_new_window(table: TokenTable, morning: FakeClock) -> None:
    first = cooldowns(table).assign("d-1", ["a"], "r")
    morning.advance(HOUR.total_seconds())
    second = cooldowns(table).assign("d-1", ["b"], "r")

    assert second.how == "opened" and second.window != first.window
    assert second.start == first.start + HOUR.total_seconds()


def test_each_disk_and_each_policy_has_its_own_window(table: TokenTable, morning: FakeClock) -> None:
    first = cooldowns(table).assign("d-1", ["a"], "r")
    morning.advance(10)
    other_disk = cooldowns(table).assign("d-2", ["a"], "r")
    other_policy = cooldowns(table, policy="db").assign("d-1", ["a"], "r")

    assert (other_disk.how, other_policy.how) == ("opened", "opened")
    assert other_disk.window != first.window


def test_one_alarm_keeps_its_window_after_the_window_closed(table: TokenTable, morning: FakeClock) -> None:
    """A redelivery, the next status of one maintenance event, or another transport: one identity."""
    first = cooldowns(table).assign("d-1", ["ecs-system-event:e-1"], "system_event Reboot:Scheduled")
    morning.advance(2 * 86400)  # Scheduled, then Executing two days later
    again = cooldowns(table).assign("d-1", ["ecs-system-event:e-1"], "system_event Reboot:Executing")
    other = cooldowns(table).assign("d-1", ["ecs-system-event:e-2"], "system_event Reboot:Scheduled")

    assert (again.how, again.window, again.reason) == ("event", first.window, first.reason)
    assert other.how == "opened" and other.window != first.window


def test_the_daily_cap_denies_new_windows_until_the_next_local_day(
    table: TokenTable, morning: FakeClock
) -> None:
    hour = HOUR.total_seconds()
    placed = []
    for i in range(3):
        placed.append(cooldowns(table, cap=2).assign("d-1", [f"rule-{i}"], "r"))
        morning.advance(hour)
    capped = placed[-1]
    # A known alarm keeps its window even when the cap is reached: it opens nothing.
    known = cooldowns(table, cap=2).assign("d-1", ["rule-0"], "r")
    morning.now = datetime.combine(
        datetime.fromtimestamp(morning.now, SHANGHAI).date() + timedelta(days=1),
        datetime.min.time(),
        SHANGHAI,
    ).timestamp()
    next_day = cooldowns(table, cap=2).assign("d-1", ["rule-9"], "r")

    assert [p.how for p in placed] == ["opened", "opened", "capped"]
    assert capped == Assignment("d-1", "capped", day=placed[1].day)
    assert known.how == "event" and known.window == placed[0].window
    assert next_day.how == "opened"


def test_racing_deliveries_open_one_window_and_all_land_on_it(
    table_factory: TableFactory, morning: FakeClock
) -> None:
    tables = [table_factory() for _ in range(8)]

    results = together(
        tables, lambda t, owner: cooldowns(t, owner=owner).assign("d-1", [owner], f"rule {owner}")
    )

    assert sorted(r.how for r in results) == ["joined"] * 7 + ["opened"]
    assert len({(r.window, r.reason) for r in results}) == 1


def test_racing_deliveries_of_one_alarm_share_its_window(
    table_factory: TableFactory, morning: FakeClock
) -> None:
    """The same event delivered 8 times at once (FC and MNS retries): one window, one mapping."""
    tables = [table_factory() for _ in range(8)]

    results = together(
        tables, lambda t, owner: cooldowns(t, owner=owner).assign("d-1", ["cms:r:1:ALERT"], "r")
    )
    morning.advance(3 * HOUR.total_seconds())
    later = cooldowns(tables[0]).assign("d-1", ["cms:r:1:ALERT"], "r")

    assert len(results) == 8 and len({r.window for r in results}) == 1
    assert later.how == "event" and later.window == results[0].window


def test_an_alarm_named_twice_in_one_batch_is_one_identity(table: TokenTable, morning: FakeClock) -> None:
    placed = cooldowns(table).assign("d-1", ["cms:r:1:ALERT", "cms:r:1:ALERT", "cms:r:2:ALERT"], "r")
    morning.advance(3 * HOUR.total_seconds())
    again = [cooldowns(table).assign("d-1", [i], "r") for i in ("cms:r:1:ALERT", "cms:r:2:ALERT")]

    assert placed.how == "opened" and {a.how for a in again} == {"event"}
    assert {a.window for a in again} == {placed.window}
