"""The summary's size bound: every disk counted, detail for at most ``limit`` of them, the ones that
need attention kept first, and a JSON size that does not grow with the fleet."""

from __future__ import annotations

import json
import threading

import pytest

from snapstack.execute import DiskResult, Outcome
from snapstack.summary import ERROR_GROUPS, MAX_NOTES, MESSAGE_CHARS, SAMPLE_DISKS, Tally, bounded_notes


def result(
    n: int, outcome: Outcome = Outcome.CREATED, code: str | None = None, message: str = ""
) -> DiskResult:
    return DiskResult(
        disk_id=f"d-{n:06d}",
        outcome=outcome,
        token=f"ss2-{n:032x}",
        snapshot_id=f"s-{n:020d}" if outcome is Outcome.CREATED else None,
        error_code=code,
        message=message or None,
    )


def test_a_small_run_keeps_every_disk_sorted_by_id():
    tally = Tally(limit=10)
    for n in (3, 1, 2):
        tally.add(result(n))
    assert [d["disk_id"] for d in tally.disks()] == ["d-000001", "d-000002", "d-000003"]
    assert tally.omitted == 0 and tally.counts()["created"] == 3


def test_a_large_run_counts_every_disk_and_keeps_the_failures_first():
    tally = Tally(limit=100)
    for n in range(5_000):
        failed = n % 1000 == 999  # five failures, the last one decided last
        tally.add(result(n, Outcome.FAILED, "QuotaExceed.Snapshot") if failed else result(n))
    assert tally.counts() == {**dict.fromkeys((o.value for o in Outcome), 0), "created": 4_995, "failed": 5}
    kept = tally.disks()
    assert len(kept) == 100 and tally.omitted == 4_900
    assert sum(d["outcome"] == "failed" for d in kept) == 5  # none of the failures was cut
    assert [d["disk_id"] for d in kept if d["outcome"] == "created"][:2] == ["d-000000", "d-000001"]


def test_attention_order_failed_deferred_in_progress_skipped_then_the_rest():
    tally = Tally(limit=4)
    order = [Outcome.CREATED, Outcome.DEDUPLICATED, Outcome.SKIPPED, Outcome.IN_PROGRESS, Outcome.DEFERRED]
    for n, outcome in enumerate([*order, Outcome.FAILED]):
        tally.add(result(n, outcome, None if outcome in (Outcome.CREATED, Outcome.DEDUPLICATED) else "X"))
    assert {d["outcome"] for d in tally.disks()} == {"failed", "deferred", "in_progress", "skipped"}


def test_errors_are_grouped_with_samples_and_the_first_message():
    tally = Tally(limit=0)
    for n in range(12):
        tally.add(result(n, Outcome.DEFERRED, "Throttling", message=f"throttled {n}"))
    tally.add(result(99, Outcome.FAILED, "InvalidDiskId.NotFound", message="gone"))
    assert tally.disks() == [] and tally.omitted == 13
    assert tally.errors() == [
        {
            "outcome": "deferred",
            "error_code": "Throttling",
            "count": 12,
            "disks": [f"d-{n:06d}" for n in range(SAMPLE_DISKS)],
            "message": "throttled 0",
        },
        {
            "outcome": "failed",
            "error_code": "InvalidDiskId.NotFound",
            "count": 1,
            "disks": ["d-000099"],
            "message": "gone",
        },
    ]


def test_error_groups_are_bounded():
    tally = Tally(limit=0)
    for n in range(ERROR_GROUPS + 10):
        tally.add(result(n, Outcome.FAILED, f"Code{n}"))
    groups = tally.errors()
    assert len(groups) == ERROR_GROUPS + 1
    other = next(g for g in groups if g["error_code"] == "(other codes)")
    assert other["count"] == 10 and sum(g["count"] for g in groups) == ERROR_GROUPS + 10


def test_messages_and_notes_are_cut():
    tally = Tally(limit=1)
    tally.add(result(1, Outcome.FAILED, "X", message="m" * 5_000))
    (disk,) = tally.disks()
    assert len(disk["message"]) == MESSAGE_CHARS
    notes = bounded_notes([f"note {n} " + "x" * 1_000 for n in range(MAX_NOTES + 7)])
    assert len(notes) == MAX_NOTES + 1 and notes[-1] == "... and 7 more notes"
    assert max(len(n) for n in notes) == MESSAGE_CHARS


@pytest.mark.parametrize("disks", [1_000, 50_000])
def test_the_worst_case_summary_stays_under_the_documented_600_kb(disks):
    """Every disk failed with a long message and its own error code: the largest summary there is."""
    tally = Tally()  # the default limit, 1,000
    for n in range(disks):
        tally.add(result(n, Outcome.FAILED, f"Some.Long.Error.Code.{n % 97:02d}", message="why " * 500))
    body = json.dumps(
        {"disks": tally.disks(), "errors": tally.errors(), "notes": bounded_notes(["n" * 999] * 99)}
    )
    assert len(body.encode()) < 600 * 1024


def test_results_from_many_threads_are_all_counted():
    tally = Tally(limit=50)

    def feed(base: int) -> None:
        for n in range(2_000):
            tally.add(result(base + n))

    threads = [threading.Thread(target=feed, args=(k * 10_000,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.total == 16_000 and tally.counts()["created"] == 16_000 and len(tally.disks()) == 50
