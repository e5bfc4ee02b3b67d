"""A prune run against the emulator: what goes, what never goes, and how each deletion ended.

The retention fleet (devkit/emulator/fixtures/retention_fleet.json) holds the policy ``daily``'s
16 days of snapshots on d-ret-01-data plus one of each kind retention must not delete.
"""

from __future__ import annotations

import json
import re

import pytest

from devkit.emulator.testing import EcsEmulator
from snapstack.retention.delete import Deletion

from .conftest import FLEET_NOW, daily_policy, fleet_data, prune, snapshot_ids

#: In the fleet, and never to be deleted by policy ``daily`` whatever its rules say.
UNTOUCHABLE = {
    "s-manual-01": "foreign",
    "s-auto-01": "automatic",
    "s-weekly-01": "another policy's",
    "s-daily-01-pinned": "pinned",
    "s-daily-01-imaged": "a custom image uses it",
    "s-daily-01-cloned": "a disk was made from it (Force not allowed)",
    "s-daily-02-02": "progressing",
    "s-daily-01-15": "d-ret-01-data's newest",
    "s-daily-02-01": "d-ret-02-data's newest accomplished",
    "s-daily-gone-00": "its disk is released (orphans: keep)",
    "s-daily-gone-01": "its disk is released (orphans: keep)",
}
KEEP_ONLY_ONE = {"keep_last": 1, "breaker": {"max_fraction": 1, "max_count": 1000}}


def test_a_run_without_detail_holds_only_its_deletions_and_plans_the_same(emulator: EcsEmulator) -> None:
    full = prune(emulator, daily_policy(), dry_run="detail")
    lean = prune(emulator, daily_policy(), dry_run="no detail", detail=False)
    assert [d.snapshot for d in lean.plan.deletions] == [d.snapshot for d in full.plan.deletions]
    assert all(d.delete for disk in lean.plan.disks for d in disk.decisions)
    assert lean.counts() == full.counts() == lean.counts() | {"snapshots": 23, "kept": 14, "dry_run": 9}


def test_a_dry_run_makes_no_delete_call_and_reports_every_planned_deletion(emulator: EcsEmulator) -> None:
    before = snapshot_ids(emulator)
    report = prune(emulator, daily_policy(), dry_run="looking only")
    assert emulator.calls("DeleteSnapshot") == 0
    assert snapshot_ids(emulator) == before
    planned = {d.snapshot.snapshot_id for d in report.plan.deletions}
    assert planned and {r.decision.snapshot.snapshot_id for r in report.results} == planned
    assert {r.outcome for r in report.results} == {Deletion.DRY_RUN}


def test_applying_deletes_the_delete_set_and_logs_each_deletion_with_its_rule(
    emulator: EcsEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot_ids(emulator)
    report = prune(emulator, daily_policy())
    planned = {d.snapshot.snapshot_id: d.rule for d in report.plan.deletions}
    assert planned == {
        "s-daily-01-failed": "failed",
        **{f"s-daily-01-{n:02d}": "beyond-retention" for n in (0, 1, 3, 4, 5, 6, 7, 8)},
    }
    assert snapshot_ids(emulator) == before - set(planned)
    assert emulator.calls("DeleteSnapshot") == len(planned)
    assert report.counts()["deleted"] == len(planned)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "snapshot deletion" in line]
    assert {(line["snapshot_id"], line["rule"], line["outcome"]) for line in lines} == {
        (sid, rule, "deleted") for sid, rule in planned.items()
    }
    assert all(line["policy"] == "daily" and line["disk_id"] for line in lines)


def test_what_retention_must_not_delete_survives_the_harshest_rules(emulator: EcsEmulator) -> None:
    report = prune(emulator, daily_policy(**KEEP_ONLY_ONE))
    left = snapshot_ids(emulator)
    assert set(UNTOUCHABLE) <= left, {s: why for s, why in UNTOUCHABLE.items() if s not in left}
    kept = {d.snapshot.snapshot_id: d.rules for disk in report.plan.disks for d in disk.kept}
    assert kept["s-daily-01-pinned"] == ("pinned",)
    assert kept["s-daily-01-imaged"] == ("in-use:image",)
    assert kept["s-daily-01-cloned"] == ("in-use:disk",)
    assert kept["s-daily-02-02"] == ("progressing",)
    assert kept["s-daily-01-15"] == ("newest", "keep-last")
    assert not {"s-manual-01", "s-auto-01", "s-weekly-01"} & set(kept)  # never even candidates
    # d-ret-01-data's 15 older days and its failed one, d-ret-02-data's older one
    assert report.counts()["deleted"] == 17


def test_force_deletes_a_snapshot_disks_were_made_from_only_when_allowed(emulator: EcsEmulator) -> None:
    report = prune(emulator, daily_policy(**KEEP_ONLY_ONE, force_delete_used_by_disks=True))
    forced = [r for r in report.results if r.decision.force]
    assert [(r.decision.snapshot.snapshot_id, r.outcome) for r in forced] == [
        ("s-daily-01-cloned", Deletion.DELETED)
    ]
    left = snapshot_ids(emulator)
    assert "s-daily-01-cloned" not in left and "s-daily-01-imaged" in left  # Force never helps an image


@pytest.mark.parametrize(
    ("breaker", "reason"),
    [
        ({"max_fraction": 0.2}, r"9 of the policy's 23 snapshots \(39%\).*max_fraction 0.2"),
        ({"max_count": 5}, "9 deletions planned, more than max_count 5"),
    ],
)
def test_the_breaker_trips_and_nothing_is_deleted(emulator: EcsEmulator, breaker, reason) -> None:
    before = snapshot_ids(emulator)
    report = prune(emulator, daily_policy(keep_last=3, daily=7, weekly=4, breaker=breaker))
    assert report.breaker is not None
    assert re.search(reason, report.breaker)
    assert emulator.calls("DeleteSnapshot") == 0 and snapshot_ids(emulator) == before
    assert report.counts()["breaker"] == 9 and report.counts()["deleted"] == 0


def test_the_breaker_holds_at_its_limits(emulator: EcsEmulator) -> None:
    report = prune(emulator, daily_policy(keep_last=3, daily=7, weekly=4, breaker={"max_count": 9}))
    assert report.breaker is None and report.counts()["deleted"] == 9


def test_a_failed_deletion_is_reported_failed_and_the_rest_go_on(emulator: EcsEmulator) -> None:
    emulator.faults.configure(
        {
            "apis": {
                "DeleteSnapshot": {
                    "errors": [
                        {"code": "SnapshotCreatedImage", "match": {"SnapshotId": "s-daily-01-03"}},
                        {"code": "Operation.Conflict", "match": {"SnapshotId": "s-daily-01-04"}},
                        {"code": "InvalidSnapshotId.NotFound", "match": {"SnapshotId": "s-daily-01-05"}},
                    ]
                }
            }
        }
    )
    report = prune(emulator, daily_policy())
    ends = {r.decision.snapshot.snapshot_id: (r.outcome, r.error_code) for r in report.results}
    assert ends["s-daily-01-03"] == (Deletion.FAILED, "SnapshotCreatedImage")
    assert ends["s-daily-01-04"] == (Deletion.FAILED, "Operation.Conflict")  # retried, never cleared
    assert ends["s-daily-01-05"] == (Deletion.GONE, "InvalidSnapshotId.NotFound")
    assert {"s-daily-01-03", "s-daily-01-04", "s-daily-01-05"} <= snapshot_ids(emulator)
    assert report.counts() | {"failed": 2, "gone": 1, "deleted": 6} == report.counts()
    assert emulator.counters.to_dict()["DeleteSnapshot"]["outcomes"]["Operation.Conflict"] > 1


def test_only_the_selector_disks_are_read_one_call_each(emulator: EcsEmulator) -> None:
    prune(emulator, daily_policy(), dry_run="counting calls")
    assert emulator.calls("DescribeSnapshots") == 2  # d-ret-01-data and d-ret-02-data
    assert emulator.calls("DescribeDisks") == 1


def test_orphans_are_pruned_by_the_same_rules_after_the_grace_period(emulator: EcsEmulator) -> None:
    rules = {**KEEP_ONLY_ONE, "orphans": {"action": "prune", "grace_days": 90}}
    report = prune(emulator, daily_policy(**rules))
    (gone,) = [d for d in report.plan.disks if not d.exists]
    assert gone.disk_id == "d-ret-gone"  # released: its snapshots were found by the region read
    assert [(d.snapshot.snapshot_id, d.delete, d.rules) for d in gone.decisions] == [
        ("s-daily-gone-01", False, ("newest", "keep-last")),
        ("s-daily-gone-00", True, ("beyond-retention",)),
    ]
    assert "s-daily-gone-00" not in snapshot_ids(emulator)
    assert emulator.calls("DescribeSnapshots") == 1  # the whole region, 35 snapshots: one page


def test_orphans_within_their_grace_period_stay(emulator: EcsEmulator) -> None:
    rules = {**KEEP_ONLY_ONE, "orphans": {"action": "prune", "grace_days": 120}}
    report = prune(emulator, daily_policy(**rules))
    (gone,) = [d for d in report.plan.disks if not d.exists]
    assert {d.rules for d in gone.decisions} == {("orphan-grace",), ("newest", "orphan-grace")}
    assert {"s-daily-gone-00", "s-daily-gone-01"} <= snapshot_ids(emulator)


def test_max_age_counts_elapsed_time_from_the_run(emulator: EcsEmulator) -> None:
    report = prune(emulator, daily_policy(max_age_days=3), dry_run="dates", now=FLEET_NOW)
    kept = {d.snapshot.snapshot_id for disk in report.plan.disks for d in disk.kept if "max-age" in d.rules}
    assert kept == {"s-daily-01-13", "s-daily-01-14", "s-daily-01-15", "s-daily-02-00", "s-daily-02-01"}


def test_an_unknown_region_reads_nothing_and_deletes_nothing() -> None:
    fleet = fleet_data()
    fleet["disks"] = []
    with EcsEmulator(fleet=fleet) as emu:
        report = prune(emu, daily_policy())
        assert report.plan.disks == [] and emu.calls("DeleteSnapshot") == 0
