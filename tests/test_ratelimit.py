"""The client-side rate limiter's rate and burst, on a clock the test moves (no wall-clock time)."""

from __future__ import annotations

import threading

import pytest

from snapstack.ratelimit import RateLimiter

OVERSHOOT = 1e-6


def approx(expected):
    return pytest.approx(expected, abs=1e-4)


class Clock:
    """A monotonic clock that moves only when the limiter sleeps or the test advances it.

    Like ``time.sleep``, a sleep returns a little after the time asked (here 1 us): a limiter that
    asks for the exact missing fraction of a token then finds it there, as it does on a real clock.
    """

    def __init__(self) -> None:
        self.now = 1.0
        self.waits: list[float] = []
        self.grants: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the limiter asked to sleep for nothing"
        self.waits.append(seconds)
        self.now += seconds + OVERSHOOT

    def limiter(self, rate: float, **kwargs: float) -> RateLimiter:
        return RateLimiter(rate, clock=self, sleep=self.sleep, **kwargs)

    def acquire(self, limiter: RateLimiter, times: int) -> None:
        for _ in range(times):
            limiter.acquire()
            self.grants.append(self.now)


def test_a_burst_goes_through_at_once_then_calls_are_spaced_at_the_rate():
    clock = Clock()
    limiter = clock.limiter(10, burst=3)
    clock.acquire(limiter, 3)
    assert clock.waits == [] and clock.grants == [1.0] * 3
    clock.acquire(limiter, 4)
    assert clock.grants[3:] == approx([1.1, 1.2, 1.3, 1.4])
    assert clock.waits == approx([0.1] * 4)


@pytest.mark.parametrize(("rate", "burst", "calls"), [(50, 5, 105), (4, 1, 9), (0.5, 2, 5)])
def test_n_calls_past_the_burst_take_n_over_rate_seconds(rate, burst, calls):
    clock = Clock()
    clock.acquire(clock.limiter(rate, burst=burst), calls)
    assert clock.now - 1.0 == approx((calls - burst) / rate)
    assert len(clock.waits) == calls - burst


def test_an_idle_limiter_saves_at_most_the_burst():
    clock = Clock()
    limiter = clock.limiter(10, burst=3)
    clock.acquire(limiter, 3)
    clock.now += 3600  # an hour idle refills the bucket, but only up to the burst
    clock.acquire(limiter, 3)
    assert clock.waits == []
    clock.acquire(limiter, 1)
    assert clock.waits == approx([0.1])


def test_a_partly_refilled_token_waits_only_for_the_missing_part():
    clock = Clock()
    limiter = clock.limiter(2, burst=1)
    clock.acquire(limiter, 1)
    clock.now += 0.2  # 0.4 of a token back: 0.6 missing at 2 per second
    clock.acquire(limiter, 1)
    assert clock.waits == approx([0.3])
    assert clock.grants[-1] == approx(1.5)


@pytest.mark.parametrize(("rate", "burst"), [(50, 5.0), (25, 2.5), (5, 1.0), (0.5, 1.0)])
def test_the_default_burst_is_a_tenth_of_a_second_of_calls_and_at_least_one(rate, burst):
    clock = Clock()
    limiter = clock.limiter(rate)
    assert limiter.burst == burst
    clock.acquire(limiter, int(burst))
    assert clock.waits == []
    clock.acquire(limiter, 1)
    assert clock.waits == approx([(1 - burst % 1) / rate])  # a fractional burst leaves part of a token


def test_options_are_named_not_positional():
    with pytest.raises(TypeError):
        RateLimiter(10, 3)  # type: ignore[misc]


@pytest.mark.parametrize("rate", [0, -1, -0.5])
def test_a_rate_that_is_not_positive_is_refused(rate):
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimiter(rate)


def test_threads_share_one_bucket():
    # Four threads take 20 grants from one limiter; the clock moves only by the limiter's sleeps,
    # so the total time is fixed by the rate whatever the interleaving.
    clock = Clock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleep(seconds)

    limiter = RateLimiter(10, burst=4, clock=clock, sleep=sleep)
    barrier = threading.Barrier(4)
    done: list[int] = []

    def worker() -> None:
        barrier.wait(timeout=30)
        for _ in range(5):
            limiter.acquire()
        done.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(done) == 4
    # Waits overlap between threads, so the clock moved at least what 16 spaced grants need.
    assert clock.now - 1.0 >= 16 / 10
