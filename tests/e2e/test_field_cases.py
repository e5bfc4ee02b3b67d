"""The field cases of ../shared/cases/field/ (copied to tests/data/field/), through the installed
``snapstack local invoke`` command, each asserting the value the cases' README gives.

One ECS emulator per test is the region every run of a case talks to (``--endpoint``), and one
SQLite file its token table, so a case's later deliveries meet what the earlier ones left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator

from .conftest import ROOT, ours
from .test_commands import endpoint_args

FIELD = ROOT / "tests" / "data" / "field"
SNAPSTACK = Path(sys.executable).with_name("snapstack")
# The timer cases carry their policy inline: a configuration that opts in, bounded to the fleet's
# daily-backup disks (d-web-01-data is one of them).
INLINE_OPT_IN = {
    "policies": [{"name": "daily", "selector": {"disk_tags": {"backup": "daily"}}}],
    "inline_policies": {"allow": {"disk_tags": {"backup": "daily"}}, "max_retention_days": 30},
}


def local_invoke(
    function: str, event: Path, emulator: EcsEmulator, table: str, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``snapstack local invoke FUNCTION --event FILE --json`` as a user runs it; the summary."""
    env = dict(os.environ, SNAPSTACK_RETRY_BASE_DELAY="0.01", SNAPSTACK_RETRY_MAX_DELAY="0.05")
    env.pop("SNAPSTACK_CONFIG_JSON", None)
    if config is not None:
        env["SNAPSTACK_CONFIG_JSON"] = json.dumps(config)
    argv = [
        str(SNAPSTACK),
        "local",
        "invoke",
        function,
        "--event",
        str(event),
        "--json",
        "--token-table",
        table,
        *endpoint_args(emulator),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    # --json prints the summary as indented JSON after any log lines (which are one line each).
    out = done.stdout
    start = 0 if out.startswith("{\n") else out.rindex("\n{\n") + 1
    summary: dict[str, Any] = json.loads(out[start:])
    return summary


@pytest.fixture
def table(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/tokens.db"


def outcomes(summary: dict[str, Any]) -> dict[str, str]:
    return {d["disk_id"]: d["outcome"] for d in summary["disks"]}


def test_the_12h_policy_on_the_spring_forward_day_makes_two_slots(emulator: EcsEmulator, table: str) -> None:
    """00:30 and 12:30 New York time on 2026-03-08: two slots, two snapshots."""
    first = local_invoke("scheduled_backup", FIELD / "dst12h_0.json", emulator, table, INLINE_OPT_IN)
    emulator.state.clock.advance(3600)  # the first snapshot finishes before the next one starts
    second = local_invoke("scheduled_backup", FIELD / "dst12h_1.json", emulator, table, INLINE_OPT_IN)

    assert (first["slot"], second["slot"]) == ("2026-03-08T00:00", "2026-03-08T12:00")
    assert (first["created"], second["created"], second["deduplicated"]) == (1, 1, 0)
    assert [s["disk_id"] for s in ours(emulator)] == ["d-web-01-data"] * 2


def test_the_6h_policy_on_the_spring_forward_day_keeps_its_wall_clock_labels(
    emulator: EcsEmulator, table: str
) -> None:
    """00:00, 06:00, 12:00, 18:00 New York time: four slots labelled with those times."""
    summaries = []
    for i in range(4):
        summaries.append(
            local_invoke("scheduled_backup", FIELD / f"dst6h_{i}.json", emulator, table, INLINE_OPT_IN)
        )
        emulator.state.clock.advance(3600)
    again = local_invoke("scheduled_backup", FIELD / "dst6h_1.json", emulator, table, INLINE_OPT_IN)

    assert [s["slot"] for s in summaries] == [f"2026-03-08T{h}:00" for h in ("00", "06", "12", "18")]
    assert [s["created"] for s in summaries] == [1, 1, 1, 1]
    assert (again["created"], again["deduplicated"]) == (0, 1)  # a redelivery stays in its slot
    names = sorted(s["name"] for s in ours(emulator))
    assert names == [f"snapstack-q6h-20260308T{h}00-d-web-01-data" for h in ("00", "06", "12", "18")]


def test_a_poison_element_costs_the_good_one_nothing(emulator: EcsEmulator, tmp_path: Path) -> None:
    """Element 0 (i-web-01 stopped) acts as if alone; element 1 (plain text) is reported by index."""
    batch = json.loads((FIELD / "batch_poison.json").read_text())
    alone_file = tmp_path / "alone.json"
    alone_file.write_text(json.dumps(batch[:1]))

    poisoned = local_invoke(
        "alarm_snapshot", FIELD / "batch_poison.json", emulator, f"sqlite:///{tmp_path}/a.db"
    )
    emulator.state.clock.advance(3600)
    alone = local_invoke("alarm_snapshot", alone_file, emulator, f"sqlite:///{tmp_path}/b.db")

    assert poisoned["ok"] and outcomes(poisoned) == outcomes(alone)
    assert outcomes(poisoned)["d-web-01-system"] == outcomes(poisoned)["d-web-01-data"] == "created"
    (bad,) = poisoned["unusable"]
    assert (bad["index"], bad["field"]) == (1, "[1].data.messageBody")
    assert "carries no alarm" in bad["rule"]
    assert alone["unusable"] == []


def test_the_same_alarm_over_the_clock_hour_makes_one_snapshot(emulator: EcsEmulator, table: str) -> None:
    """The same alarm for d-web-01-system at 10:59:40 and 11:00:40, period 1h: one snapshot."""
    first = local_invoke("alarm_snapshot", FIELD / "cms_boundary_0.json", emulator, table)
    second = local_invoke("alarm_snapshot", FIELD / "cms_boundary_1.json", emulator, table)

    assert outcomes(first) == {"d-web-01-system": "created"}
    assert outcomes(second) == {"d-web-01-system": "deduplicated"}
    assert first["slot"] == second["slot"]
    assert [s["disk_id"] for s in ours(emulator)] == ["d-web-01-system"]
    assert any("within the cooldown" in note for note in second["notes"])
