"""The executor's pure decisions: what a terminal token record settles, and which values a
redelivery would change on the snapshot that exists (the adoption warning)."""

from __future__ import annotations

from typing import Any

import pytest

from snapstack.ecs.request import CreateSnapshotRequest, SnapshotTag
from snapstack.execute import Outcome, _changed_fields, settled
from snapstack.targets import SlotSnapshot
from snapstack.tokens.base import TokenRecord, TokenState


def record(state: TokenState, **fields: Any) -> TokenRecord:
    times = {"created_at": 1.0, "updated_at": 1.0, "expires_at": 9.0}
    return TokenRecord(token="ss2-t", state=state, owner="o", **times, **fields)


def test_no_record_or_an_open_one_leaves_work_to_do():
    assert settled("d-1", "ss2-t", None) is None
    for state in (TokenState.CLAIMED, TokenState.SENT):
        assert settled("d-1", "ss2-t", record(state)) is None
    assert settled("d-1", "ss2-t", record(TokenState.FAILED, error_code="Throttling", retryable=True)) is None


def test_a_created_record_is_deduplicated_with_its_snapshot():
    done = settled("d-1", "ss2-t", record(TokenState.CREATED, snapshot_id="s-1"))
    assert done is not None
    assert (done.disk_id, done.token, done.outcome, done.snapshot_id) == (
        "d-1",
        "ss2-t",
        Outcome.DEDUPLICATED,
        "s-1",
    )
    assert (done.attempts, done.latency_ms, done.error_code) == (0, None, None)  # no call made now


@pytest.mark.parametrize(
    ("code", "detail", "outcome", "why"),
    [
        ("QuotaExceed.Snapshot", None, Outcome.FAILED, ""),
        ("IncorrectDiskStatus.NeverUsed", None, Outcome.SKIPPED, ""),  # a skip-disposition code
        (
            "IncorrectDiskStatus.NeverUsed",
            "gave up after 3 deliveries",
            Outcome.FAILED,
            " (gave up after 3 deliveries)",
        ),
        (None, "no code", Outcome.FAILED, " (no code)"),
    ],
)
def test_a_final_failure_is_skipped_or_failed_as_recorded(code, detail, outcome, why):
    done = settled("d-1", "ss2-t", record(TokenState.FAILED, error_code=code, retryable=False, detail=detail))
    assert done is not None and done.outcome is outcome
    assert done.error_code == (code or "Unknown")
    assert done.message == (
        f"recorded by an earlier run{why}; not retried (`snapstack tokens retry` re-arms it)"
    )


SNAP = SlotSnapshot(
    snapshot_id="s-1",
    status="accomplished",
    name="daily-d-1",
    description="nightly",
    retention_days=7,
    tags={"app": "web", "snapstack:slot": "ss2-t"},
)


@pytest.mark.parametrize(
    ("request_fields", "changed"),
    [
        ({"snapshot_name": "daily-d-1", "description": "nightly", "retention_days": 7}, []),
        ({"retention_days": 7}, []),  # name and description not asked for: nothing to compare
        (
            {"snapshot_name": "weekly-d-1", "retention_days": 7},
            ["SnapshotName ('daily-d-1' -> 'weekly-d-1')"],
        ),
        ({"snapshot_name": "a-d-1", "retention_days": 7}, ["SnapshotName ('daily-d-1' -> 'a-d-1')"]),
        ({"description": "other", "retention_days": 7}, ["Description"]),
        ({"description": "daily", "retention_days": 7}, ["Description"]),  # sorts before "nightly"
        ({"retention_days": 30}, ["RetentionDays (7 -> 30)"]),
        ({}, ["RetentionDays (7 -> None)"]),
        ({"retention_days": 7, "tags": (SnapshotTag(key="app", value="web"),)}, []),
        ({"retention_days": 7, "tags": (SnapshotTag(key="app", value="api"),)}, ["Tags"]),
        ({"retention_days": 7, "tags": (SnapshotTag(key="team", value="x"),)}, ["Tags"]),
        (
            {
                "snapshot_name": "x-d-1",
                "description": "dd",
                "retention_days": 1,
                "tags": (SnapshotTag(key="k"),),
            },
            ["SnapshotName ('daily-d-1' -> 'x-d-1')", "Description", "RetentionDays (7 -> 1)", "Tags"],
        ),
    ],
)
def test_a_redelivery_names_each_value_that_differs_from_the_snapshot_that_exists(request_fields, changed):
    assert _changed_fields(SNAP, CreateSnapshotRequest(disk_id="d-1", **request_fields)) == changed


def test_values_read_back_from_ecs_are_compared_by_value_not_identity():
    """What ECS answered and what the policy rendered are equal values in different objects."""
    name, description, days = (
        "".join(["daily-", "d-1"]),
        "".join(["night", "ly"]),
        int("1000"),
    )  # not literals
    snap = SNAP.model_copy(update={"name": name, "description": description, "retention_days": days})
    request = CreateSnapshotRequest(
        disk_id="d-1", snapshot_name="daily-d-1", description="nightly", retention_days=1000
    )
    assert snap.name is not request.snapshot_name and snap.description is not request.description
    assert snap.retention_days is not request.retention_days
    assert _changed_fields(snap, request) == []
