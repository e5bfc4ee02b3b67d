"""Retry arithmetic: the backoff's cap and floor, the shared budget, and the deadline's boundary.

Time is a clock the test holds: the client's sleeps move it (the conftest's scripted server
answers at once), so "is there time for another attempt" is decided on exact numbers.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from snapstack.ecs.errors import EcsApiError
from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.ecs.retry import TABLE_RETRY, Deadline, RetryBudget, RetryPolicy, call_with_retries
from tests.clock import Clock

REQ = CreateSnapshotRequest(disk_id="d-bp1test", client_token="tok-1")


class Top(random.Random):
    """Draws the top of every range: the backoff's ceiling itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Bottom(random.Random):
    """Draws the bottom of every range: no jitter wait at all."""

    def uniform(self, a: float, b: float) -> float:
        return a


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 5.0), (30, 5.0)]
)
def test_the_ceiling_doubles_from_the_base_delay_up_to_the_max(attempt, ceiling):
    policy = RetryPolicy(base_delay=0.25, max_delay=5.0)
    assert policy.backoff(attempt, Top()) == ceiling
    assert policy.backoff(attempt, Bottom()) == 0.0


def test_a_server_retry_after_is_a_floor_not_a_ceiling():
    policy = RetryPolicy(base_delay=0.25, max_delay=5.0)
    assert policy.backoff(1, Bottom(), retry_after=3.0) == 3.0
    assert policy.backoff(3, Top(), retry_after=0.5) == 1.0  # the jitter draw was longer
    assert policy.backoff(1, Top(), retry_after=None) == 0.25


def test_the_defaults_are_the_documented_ones():
    # README "Configuration": 6 attempts, 0.2 s base, 8 s cap; 2 s kept to record the outcome.
    policy = RetryPolicy()
    defaults = (policy.max_attempts, policy.base_delay, policy.max_delay, policy.deadline_margin)
    assert defaults == (6, 0.2, 8.0, 2.0)


def test_the_budget_is_its_floor_plus_a_ratio_of_the_calls():
    budget = RetryBudget(ratio=0.5, floor=2)
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]
    for _ in range(4):
        budget.record_call()  # 2 + 0.5 * 4 = 4 retries in all
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]
    assert budget.retries == 4


def test_a_fractional_budget_rounds_up():
    budget = RetryBudget(ratio=0.5, floor=2)
    budget.record_call()  # 2.5 retries: the third one is still within it, a fourth is not
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_each_call_adds_its_share_of_the_budget():
    budget = RetryBudget(ratio=1.0, floor=0)
    assert not budget.try_spend()  # no call yet, no floor: nothing to spend
    budget.record_call()
    assert [budget.try_spend() for _ in range(2)] == [True, False]


def test_settings_are_named_and_the_policy_is_frozen():
    with pytest.raises(TypeError):
        RetryBudget(0.5, 20)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        RetryPolicy().max_attempts = 1  # type: ignore[misc]


def test_the_default_budget_is_twenty_plus_half_the_calls():
    budget = RetryBudget()
    assert sum(budget.try_spend() for _ in range(25)) == 20
    for _ in range(10):
        budget.record_call()
    assert sum(budget.try_spend() for _ in range(25)) == 5


def test_a_deadline_counts_down_on_its_clock():
    clock = Clock(500.0)
    deadline = Deadline(10.0, clock)
    assert deadline.remaining() == 10.0
    clock.now += 6.5
    assert deadline.remaining() == 3.5
    clock.now += 5
    assert deadline.remaining() == -1.5
    assert Deadline(None, clock).remaining() == float("inf")


@pytest.mark.parametrize(
    ("seconds_left", "attempts"),
    [
        (3.0, 1),  # 3.0 left - 1.0 wait = 2.0, not more than the 2.0 margin: no retry
        (3.001, 2),  # just over: one retry, after which 2.001 - 1.0 is under the margin
        (4.001, 3),
        (None, 4),  # no deadline: the attempt cap ends it
    ],
)
def test_a_retry_needs_its_wait_plus_the_margin_still_ahead(server, make_client, seconds_left, attempts):
    clock = Clock(500.0)
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=1.0, deadline_margin=2.0)
    client = make_client(policy, deadline=Deadline(seconds_left, clock), rng=Top(), sleep=clock.sleep)
    server.answers = [server.error(500, "InternalError")] * 4
    with pytest.raises(EcsApiError) as info:
        client.create_snapshot(REQ)
    assert info.value.attempts == attempts == len(server.requests)
    assert clock.now == 500.0 + attempts - 1  # one 1.0 s wait before each retry


def failing(clock: Clock, times: int, error: Exception) -> tuple[list[float], Any]:
    """A call that raises ``error`` ``times`` times, then answers "ok"; records when it ran."""
    ran: list[float] = []

    def call() -> str:
        ran.append(clock.now)
        if len(ran) <= times:
            raise error
        return "ok"

    return ran, call


ONE_SECOND = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=1.0, deadline_margin=2.0)


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError)


def test_call_with_retries_waits_its_backoff_between_attempts():
    clock = Clock(500.0)
    ran, call = failing(clock, 2, ConnectionError("dropped"))
    kwargs = {"retryable": is_connection_error, "policy": ONE_SECOND, "rng": Top(), "sleep": clock.sleep}
    assert call_with_retries(call, **kwargs) == "ok"
    assert ran == [500.0, 501.0, 502.0]


@pytest.mark.parametrize(
    ("error", "seconds_left", "calls"),
    [
        (ValueError("a bug"), None, 1),  # not retryable: raised at once
        (ConnectionError("down"), None, 4),  # the attempt cap
        (ConnectionError("down"), 3.0, 1),  # 3.0 left - 1.0 wait is not more than the 2.0 margin
        (ConnectionError("down"), 3.001, 2),
    ],
)
def test_call_with_retries_gives_up(error, seconds_left, calls):
    clock = Clock(500.0)
    ran, call = failing(clock, 10, error)
    deadline = Deadline(seconds_left, clock)
    with pytest.raises(type(error)):
        call_with_retries(
            call,
            retryable=is_connection_error,
            policy=ONE_SECOND,
            deadline=deadline,
            rng=Top(),
            sleep=clock.sleep,
        )
    assert len(ran) == calls


def test_token_table_calls_retry_for_about_a_second():
    retry = TABLE_RETRY
    settings = (retry.max_attempts, retry.base_delay, retry.max_delay, retry.deadline_margin)
    assert settings == (4, 0.05, 0.5, 1.0)
    assert sum(retry.backoff(n, Top()) for n in range(1, retry.max_attempts)) == pytest.approx(0.35)


def test_call_with_retries_takes_its_settings_by_name():
    with pytest.raises(TypeError):
        call_with_retries(lambda: "ok", is_connection_error)  # type: ignore[misc]
