"""Alarm cooldowns (snapstack.handlers.cooldown) on every token-table backend in BACKENDS.

The windows count from receipt, on the table's clock: a hand-moved clock drives them here.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from snapstack.handlers.cooldown import EVENT_PREFIX, WINDOW_PREFIX, Assignment, Cooldowns, record_key
from snapstack.tokens import TokenTable
from tests.tokens.support import FakeClock, MovingClock, TableFactory, together

HOUR = timedelta(hours=1)
NAMESPACE = {"service": "snapstack", "function": "alarm_snapshot", "policy": "alarm"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
#: The disk d-1's window record under the default namespace.
WINDOW_KEY = record_key(WINDOW_PREFIX, "alarm-window", **NAMESPACE, disk="d-1")


def cooldowns(
    table: TokenTable,
    *,
    cap: int = 6,
    policy: str = "alarm",
    owner: str = "req-1",
    period: timedelta = HOUR,
    zone: ZoneInfo = SHANGHAI,
) -> Cooldowns:
    return Cooldowns(
        table,
        namespace=NAMESPACE | {"policy": policy},
        owner=owner,
        period=period,
        zone=zone,
        cap=cap,
    )


def midnight_after(day: str, zone: ZoneInfo = SHANGHAI) -> float:
    """The instant local ``day`` (ISO) ends in ``zone``."""
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), zone).timestamp()


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
    assert (capped.window, capped.start, capped.reason) == ("", 0.0, "")  # no window, no instant
    with pytest.raises(FrozenInstanceError):
        capped.window = placed[1].window  # type: ignore[misc]
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


def test_the_records_sit_beside_the_claims_under_keys_of_their_own(
    table: TokenTable, morning: FakeClock
) -> None:
    """``ssw-``/``sse-`` + 32 hex digits: a key another release computes differently would forget
    every live window and every alarm's mapping on upgrade."""
    cooldowns(table).assign("d-1", ["e-1", "e-2"], "r")

    keys = sorted(r.token for r in table.records())
    assert len(keys) == 3 and WINDOW_KEY in keys
    assert all(re.fullmatch(r"(sse|ssw)-[0-9a-f]{32}", key) for key in keys), keys
    assert [key[:4] for key in keys] == [EVENT_PREFIX, EVENT_PREFIX, WINDOW_PREFIX]


def test_a_window_record_lives_until_its_local_day_ends_or_its_window_does(
    table: TokenTable, morning: FakeClock
) -> None:
    """The day's count lives as long as it counts; a window open over midnight lives to its end."""
    opened = cooldowns(table).assign("d-1", ["a"], "r")
    midnight = midnight_after(opened.day)
    record = table.get(WINDOW_KEY)
    assert record is not None and record.expires_at == midnight

    morning.now = midnight - 1800  # 23:30: this window ends at 00:30, after its day
    late = cooldowns(table).assign("d-1", ["b"], "r")
    record = table.get(WINDOW_KEY)
    assert record is not None and record.expires_at == late.start + HOUR.total_seconds()
    morning.now = midnight + 600  # 00:10 the next day: still the 23:30 window
    after = cooldowns(table).assign("d-1", ["c"], "r")

    assert (late.how, after.how, after.window) == ("opened", "joined", late.window)


def test_an_alarm_is_known_for_seven_days_and_an_hour_then_forgotten(
    table: TokenTable, morning: FakeClock
) -> None:
    """FC keeps an async event at most 7 days: its mapping outlives every redelivery by an hour."""
    first = cooldowns(table).assign("d-1", ["e-1"], "r")
    morning.advance(7 * 86400 + 3600 - 1)
    known = cooldowns(table).assign("d-1", ["e-1"], "r")
    morning.advance(1)
    forgotten = cooldowns(table).assign("d-1", ["e-1"], "r")

    assert (known.how, known.window) == ("event", first.window)
    assert forgotten.how == "opened" and forgotten.window != first.window


@pytest.mark.parametrize("change", ["shorter period", "zone to the west"])
def test_a_changed_policy_counts_its_new_local_day_afresh(
    table: TokenTable, morning: FakeClock, change: str
) -> None:
    """A window opened under the old settings is over but its record still lives (to the end of
    its window, or of its day in its zone): the next alarm falls on a new local day under the new
    settings, so the day's count starts again and the cap of 1 does not refuse it."""
    day = datetime.fromtimestamp(morning.now, SHANGHAI).date().isoformat()
    if change == "shorter period":
        morning.now = midnight_after(day) - 1800  # 23:30, a 2-hour window: its record lives to 01:30
        old = cooldowns(table, cap=1, period=2 * HOUR).assign("d-1", ["a"], "r")
        morning.now = midnight_after(day) + 2700  # 00:45 the next day, on 1-hour windows
        new = cooldowns(table, cap=1, period=HOUR)
    else:
        morning.now = midnight_after(day) + 3600  # 01:00 in Shanghai, 17:00 the day before in UTC
        old = cooldowns(table, cap=1).assign("d-1", ["a"], "r")
        morning.advance(1.5 * HOUR.total_seconds())  # 18:30 UTC: the window is over, its record lives
        new = cooldowns(table, cap=1, zone=UTC)
    assert table.get(WINDOW_KEY) is not None

    placed = new.assign("d-1", ["b"], "r")

    assert (old.how, placed.how) == ("opened", "opened") and placed.day != old.day


def test_a_lowered_cap_refuses_the_next_window_the_same_day(table: TokenTable, morning: FakeClock) -> None:
    placed = []
    for i in range(3):
        placed.append(cooldowns(table, cap=3).assign("d-1", [f"rule-{i}"], "r"))
        morning.advance(HOUR.total_seconds())
    lowered = cooldowns(table, cap=2).assign("d-1", ["rule-3"], "r")

    assert [p.how for p in placed] == ["opened"] * 3
    assert lowered == Assignment("d-1", "capped", day=placed[0].day)


@pytest.mark.parametrize("table_url", ["sqlite", "redis"], indirect=True)
@pytest.mark.parametrize(("stalled", "how"), [(0.0, "joined"), (3600.0, "capped")])
def test_a_delivery_that_loses_the_race_to_open_a_window_takes_what_the_winner_left(
    table_factory: TableFactory, morning: FakeClock, stalled: float, how: str
) -> None:
    """Another delivery opens the window between this one's read and its write (the 2nd clock
    reading: put-if-absent's, on these backends). The loser reads again: the winner's live window
    (joined), or, stalled an hour, the winner's window over and the cap of 1 reached (capped)."""
    other = table_factory()
    winner: list[Assignment] = []

    def open_first() -> None:
        if moving.moves == 2:
            winner.append(cooldowns(other, cap=1, owner="req-2").assign("d-1", ["b"], "rule b"))
            morning.advance(stalled)

    moving = MovingClock(morning, open_first)
    loser = table_factory(clock=moving)
    moving.moving = True
    placed = cooldowns(loser, cap=1).assign("d-1", ["a"], "rule a")
    moving.moving = False

    (won,) = winner
    assert won.how == "opened" and placed.how == how
    if how == "joined":
        assert (placed.window, placed.start, placed.reason) == (won.window, won.start, "rule b")
    else:
        assert placed == Assignment("d-1", "capped", day=won.day)


@pytest.mark.parametrize("stalled", [False, True])
def test_an_alarm_a_concurrent_delivery_mapped_first_lands_where_that_one_did(
    table_factory: TableFactory, morning: FakeClock, stalled: bool
) -> None:
    """Between this delivery's window and its alarm's mapping, another delivery of the same alarm
    maps it: to this very window (this one still reports what it did: opened), or — this one
    stalled past the window's end — to the next window it opened (this one follows it there)."""
    probe, other = table_factory(), table_factory()
    theirs: list[Assignment] = []

    def map_first() -> None:
        window = probe.get(WINDOW_KEY)
        if not theirs and window is not None and float(window.meta["start"]) == morning.now:
            if stalled:
                morning.advance(HOUR.total_seconds())
            theirs.append(cooldowns(other, owner="req-2").assign("d-1", ["e-1"], "r"))

    moving = MovingClock(morning, map_first)
    ours = table_factory(clock=moving)
    moving.moving = True
    placed = cooldowns(ours).assign("d-1", ["e-1"], "r")
    moving.moving = False
    later = cooldowns(probe).assign("d-1", ["e-1"], "r")

    (their,) = theirs
    if stalled:
        assert (their.how, placed.how) == ("opened", "event")
        assert placed.window == their.window and placed.start == their.start
    else:
        assert (their.how, placed.how, placed.window) == ("joined", "opened", their.window)
    assert (later.how, later.window) == ("event", their.window)


def test_a_stalled_delivery_that_maps_the_alarm_first_keeps_it_on_the_earlier_window(
    table_factory: TableFactory, morning: FakeClock
) -> None:
    """The first delivery opens a window and stalls past its end before mapping the alarm; a
    redelivery opens the next window, and the first maps the alarm before it does: the redelivery
    lands on the earlier window, as every later delivery of the alarm will."""
    probe = table_factory()
    paused, resume = threading.Event(), threading.Event()

    def stall() -> None:  # the first delivery's clock: it stalls once its window is open
        if not paused.is_set() and probe.get(WINDOW_KEY) is not None:
            paused.set()
            assert resume.wait(timeout=30), "the redelivery never let the first one go on"

    first_clock = MovingClock(morning, stall)
    first_clock.moving = True
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(cooldowns(table_factory(clock=first_clock)).assign, "d-1", ["e-1"], "r")
        assert paused.wait(timeout=30), "the first delivery never opened its window"
        morning.advance(HOUR.total_seconds())

        def let_go() -> None:  # the redelivery's clock: once its own window is open, the first maps
            window = probe.get(WINDOW_KEY)
            if not resume.is_set() and window is not None and float(window.meta["start"]) == morning.now:
                resume.set()
                first.result(timeout=60)

        second_clock = MovingClock(morning, let_go)
        second_clock.moving = True
        second = cooldowns(table_factory(clock=second_clock)).assign("d-1", ["e-1"], "r")
        earlier = first.result(timeout=60)

    assert earlier.how == "opened" and resume.is_set()
    assert (second.how, second.window, second.start) == ("event", earlier.window, earlier.start)
    assert cooldowns(probe).assign("d-1", ["e-1"], "r").window == earlier.window
