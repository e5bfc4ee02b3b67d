"""The prune function as FC runs it (local runner, template.yml): first run dry, then for real."""

from __future__ import annotations

import json

import pytest

from devkit.emulator.testing import EcsEmulator

from .conftest import ROOT, metrics, snapshot_ids, timer

SHIPPED_PLAN = 9  # what functions/prune/snapstack.json's "daily" deletes in the retention fleet


def test_the_first_run_is_a_dry_run_then_the_policy_prunes(
    emulator: EcsEmulator, run_function, capsys
) -> None:
    first = run_function("prune", timer('{"policy": "daily"}'))
    (daily,) = first.summary["policies"]
    assert daily["mode"] == "dry_run" and "first run" in daily["dry_run_reason"]
    assert daily["dry_run"] == SHIPPED_PLAN and emulator.calls("DeleteSnapshot") == 0
    assert metrics(capsys.readouterr().out)["PruneDryRun"] == SHIPPED_PLAN

    before = snapshot_ids(emulator)
    second = run_function("prune", timer('{"policy": "daily"}'))
    (daily,) = second.summary["policies"]
    assert daily["mode"] == "apply" and daily["deleted"] == SHIPPED_PLAN
    assert daily["delete_rules"] == {"beyond-retention": 8, "failed": 1}
    assert len(before - snapshot_ids(emulator)) == SHIPPED_PLAN
    figures = metrics(capsys.readouterr().out)
    assert (figures["SnapshotsPruned"], figures["PruneFailed"], figures["BreakerTripped"]) == (9, 0, 0)

    third = run_function("prune", timer(""))  # an empty payload runs every policy
    assert [(p["policy"], p["deleted"]) for p in third.summary["policies"]] == [("daily", 0)]


def test_first_run_apply_prunes_at_once(emulator: EcsEmulator, run_function) -> None:
    config = json.loads((ROOT / "functions" / "prune" / "snapstack.json").read_text())
    config["policies"][0]["retention"]["first_run"] = "apply"
    result = run_function("prune", timer("daily"), config)
    assert result.summary["policies"][0]["deleted"] == SHIPPED_PLAN


def test_failed_deletions_are_reported_and_counted(emulator: EcsEmulator, run_function, capsys) -> None:
    run_function("prune", timer(None))  # the first, dry run
    emulator.faults.configure(
        {
            "apis": {
                "DeleteSnapshot": {
                    "errors": [{"code": "SnapshotCreatedImage", "match": {"SnapshotId": "s-daily-01-03"}}]
                }
            }
        }
    )
    result = run_function("prune", timer(None))
    (daily,) = result.summary["policies"]
    assert (daily["deleted"], daily["failed"]) == (SHIPPED_PLAN - 1, 1)
    (failure,) = daily["failures"]
    assert failure.pop("message").startswith("The snapshot has been used to create user defined image(s).")
    assert failure == {
        "snapshot_id": "s-daily-01-03",
        "disk_id": "d-ret-01-data",
        "rule": "beyond-retention",
        "error_code": "SnapshotCreatedImage",
    }
    assert "s-daily-01-03" in snapshot_ids(emulator)
    assert metrics(capsys.readouterr().out)["PruneFailed"] == 1


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        ('{"policies": ["hourly"]}', "no policy named ['hourly'] (configured: daily)"),
        ('{"policies": []}', "name policies by name"),
        ('{"policy": {"name": "inline"}}', "name policies by name"),
        ("[1, 2]", "name policies by name"),
    ],
)
def test_a_payload_naming_no_configured_policy_is_bad_input(emulator, run_function, payload, rule) -> None:
    result = run_function("prune", timer(payload))
    assert result.summary["ok"] is False
    assert result.summary["error"]["field"] == "policies" and rule in result.summary["error"]["rule"]
    assert sum(e["total"] for e in emulator.counters.to_dict().values()) == 0


def test_a_run_that_cannot_read_ecs_is_retried_by_fc(emulator: EcsEmulator, run_function) -> None:
    emulator.faults.configure({"apis": {"DescribeDisks": {"errors": [{"code": "Forbidden.RAM"}]}}})
    result = run_function("prune", timer(None))
    assert result.summary is None and "PruneIncomplete" in (result.error or "")
    assert emulator.calls("DeleteSnapshot") == 0
