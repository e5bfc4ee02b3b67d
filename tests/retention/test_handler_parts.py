"""handlers/prune.py's parts: which policies a timer payload picks, what the first-run marker
decides when it cannot be read, the breaker's metric, and the log lines (the run without its
list of failures). Quick on purpose: ``make mutation`` runs these first for prune's mutants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from snapstack.handlers.prune import chosen_policies
from snapstack.handlers.runtime import BadInput
from snapstack.retention.config import PruneConfig

from .conftest import ROOT, metrics, timer

SHIPPED = json.loads((ROOT / "functions" / "prune" / "snapstack.json").read_text())
SHIPPED_PLAN = 9  # what the shipped "daily" deletes in the retention fleet (test_handler.py)


def shipped(**retention: Any) -> dict[str, Any]:
    """The shipped configuration, its "daily" retention changed by ``retention``."""
    config = json.loads(json.dumps(SHIPPED))
    config["policies"][0]["retention"].update(retention)
    return config


def two_policies() -> PruneConfig:
    daily = SHIPPED["policies"][0]
    weekly = {**daily, "name": "weekly", "period": "1w"}
    return PruneConfig.model_validate({"policies": [daily, weekly]})


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        (None, ["daily", "weekly"]),
        ("  ", ["daily", "weekly"]),
        ("weekly", ["weekly"]),  # a bare name
        ('"weekly"', ["weekly"]),
        ('{"policy": "weekly"}', ["weekly"]),
        ('{"policies": ["weekly", "daily"]}', ["daily", "weekly"]),  # in the configuration's order
        ('{"policy": "daily", "policies": ["weekly"]}', ["weekly"]),  # "policies" wins
        ('["weekly"]', ["weekly"]),
    ],
)
def test_the_payload_picks_policies_by_name(payload, names):
    assert [p.name for p in chosen_policies(two_policies(), payload)] == names


@pytest.mark.parametrize(
    "payload",
    ['{"policy": "daily", "extra": 1}', '{"name": "daily"}', "{}", '{"policies": "daily"}', "[]", "7"],
)
def test_a_payload_with_other_keys_or_no_names_is_refused(payload):
    with pytest.raises(BadInput) as caught:
        chosen_policies(two_policies(), payload)
    assert (caught.value.field, caught.value.rule) == (
        "policies",
        'name policies by name: {"policies": ["daily"]} or {"policy": "daily"}',
    )


def log_lines(out: str, message: str) -> list[dict[str, Any]]:
    """The structured log lines with ``message`` in ``out``."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


def test_log_lines_carry_each_run_without_its_failures(emulator: EcsEmulator, run_function, capsys) -> None:
    emulator.faults.configure(
        {
            "apis": {
                "DeleteSnapshot": {
                    "errors": [{"code": "SnapshotCreatedImage", "match": {"SnapshotId": "s-daily-01-03"}}]
                }
            }
        }
    )
    result = run_function("prune", timer("daily"), shipped(first_run="apply"))
    (daily,) = result.summary["policies"]
    assert len(daily["failures"]) == 1 and daily["mode"] == "apply"
    brief = {k: v for k, v in daily.items() if k != "failures"}
    out = capsys.readouterr().out
    (run,) = log_lines(out, "prune run")
    assert run["run"] == brief and run["policy"] == "daily"
    (summary,) = log_lines(out, "invocation summary")
    assert summary["policies"] == [brief]


def test_a_snapshot_someone_else_deleted_is_gone_not_a_failure(
    emulator: EcsEmulator, run_function, capsys
) -> None:
    emulator.faults.configure(
        {
            "apis": {
                "DeleteSnapshot": {
                    "errors": [
                        {"code": "InvalidSnapshotId.NotFound", "match": {"SnapshotId": "s-daily-01-03"}}
                    ]
                }
            }
        }
    )
    result = run_function("prune", timer("daily"), shipped(first_run="apply"))
    (daily,) = result.summary["policies"]
    assert (daily["deleted"], daily["gone"], daily["failed"]) == (SHIPPED_PLAN - 1, 1, 0)
    assert daily["failures"] == []
    assert metrics(capsys.readouterr().out)["PruneGone"] == 1


def test_the_breaker_counts_as_tripped_only_when_it_stops_deletions(
    emulator: EcsEmulator, run_function, capsys
) -> None:
    config = shipped(breaker={"max_fraction": 1, "max_count": SHIPPED_PLAN - 1})
    first = run_function("prune", timer("daily"), config)  # the first run: a dry run, breaker or not
    (daily,) = first.summary["policies"]
    assert daily["mode"] == "dry_run" and daily["breaker_reason"].startswith(f"{SHIPPED_PLAN} deletions")
    figures = metrics(capsys.readouterr().out)
    assert (figures["BreakerTripped"], figures["PruneDryRun"], figures["PruneBlocked"]) == (
        0,
        SHIPPED_PLAN,
        0,
    )

    second = run_function("prune", timer("daily"), config)
    (daily,) = second.summary["policies"]
    assert (daily["mode"], daily["deleted"], daily["breaker"]) == ("apply", 0, SHIPPED_PLAN)
    figures = metrics(capsys.readouterr().out)
    assert (figures["BreakerTripped"], figures["PruneBlocked"], figures["SnapshotsPruned"]) == (
        1,
        SHIPPED_PLAN,
        0,
    )
    assert emulator.calls("DeleteSnapshot") == 0


def test_an_unreadable_first_run_marker_makes_a_dry_run(
    emulator: EcsEmulator, run_function, tmp_path: Path
) -> None:
    (tmp_path / "t.db").mkdir()  # the token table's file: a directory SQLite cannot open
    result = run_function("prune", timer("daily"))
    (daily,) = result.summary["policies"]
    assert result.summary["ok"] is True and daily["mode"] == "dry_run"
    assert daily["dry_run_reason"].startswith("the first-run marker could not be read (")
    assert daily["dry_run_reason"].endswith("): nothing is deleted until it can")
    assert (daily["dry_run"], emulator.calls("DeleteSnapshot")) == (SHIPPED_PLAN, 0)


def test_first_run_apply_needs_no_marker(emulator: EcsEmulator, run_function, tmp_path: Path) -> None:
    (tmp_path / "t.db").mkdir()  # the marker could not be read: first_run apply never reads it
    result = run_function("prune", timer("daily"), shipped(first_run="apply"))
    (daily,) = result.summary["policies"]
    assert (daily["mode"], daily["deleted"]) == ("apply", SHIPPED_PLAN) and "dry_run_reason" not in daily
