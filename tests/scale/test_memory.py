"""The streaming bound: a 20,000-disk run's peak memory is within a small factor of a 2,000-disk run's.

Each run is a fresh process (``bench.memory.measure``: the ECS emulator in another process, a
one-disk warm-up first), and the figure is the growth of the process's peak RSS over its
warmed-up baseline. Holding every disk's intent and result, as planning-then-creating did, made
it grow with the fleet (about 8 KB a disk: some 17 MB at 2,000 disks, 170 MB at 20,000); streamed,
what is in flight is the same at both sizes. Not timed: only memory is compared.
"""

from __future__ import annotations

import pytest

from bench.memory import measure

SMALL, LARGE = 2_000, 20_000
#: "Within a small factor": ten times the disks may cost at most twice the memory growth.
FACTOR = 2.0


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_times_the_disks_costs_at_most_twice_the_memory():
    small, large = measure(SMALL), measure(LARGE)
    assert (small["created"], large["created"]) == (SMALL, LARGE)
    grew = {n: r["peak_mb"] - r["baseline_mb"] for n, r in ((SMALL, small), (LARGE, large))}
    assert grew[LARGE] <= FACTOR * grew[SMALL], grew
