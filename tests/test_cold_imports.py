"""What a cold start imports: each function loads only the event families and backends it uses.

Every check runs in a fresh interpreter (this process has long since imported everything), loading
``functions/<name>/index.py`` the way FC does. A module imported here at start-up is paid for on
every cold start, so an eager import creeping back in fails this file rather than going unseen
until someone runs ``make bench``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "snapstack" / "python"
FAMILIES = {"alarms", "cloudevents", "cms", "deploy", "mns", "oss", "timer"}
#: Optional packages no function may import before it needs them.
HEAVY = {"oss2", "tablestore", "redis", "boto3", "yaml", "moto", "devkit"}

_PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import index
{after}
mods = sorted(sys.modules)
print(json.dumps({{
    "families": sorted({{m.split(".")[2] for m in mods if m.startswith("snapstack.events.")}}),
    "top": sorted({{m.split(".")[0] for m in mods}}),
}}))
"""


def loaded(function: str, after: str = "") -> dict[str, list[str]]:
    """Event modules and top-level packages loaded after importing ``function``'s entry point."""
    probe = _PROBE.format(after=after)
    args = [sys.executable, "-c", probe, str(ROOT / "functions" / function), str(LAYER)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    report: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize(
    ("function", "families"),
    [
        ("scheduled_backup", {"timer"}),
        ("deploy_hook", {"oss", "deploy"}),
        ("alarm_snapshot", FAMILIES - {"timer", "oss", "deploy"}),
        ("prune", {"timer"}),
    ],
)
def test_each_function_imports_only_its_own_event_families(function, families):
    report = loaded(function)
    assert set(report["families"]) & FAMILIES == families
    assert not set(report["top"]) & HEAVY


def test_a_family_is_imported_when_its_first_event_is_decoded():
    form = (ROOT / "events" / "cms_threshold_alarm.form").read_text()
    after = f"from snapstack.events.decode import decode_event\ndecode_event({form!r})"
    assert "cms" in loaded("scheduled_backup", after)["families"]


def test_the_package_still_exports_every_name_on_first_access():
    after = "import snapstack.events as e\nassert all(getattr(e, n) is not None for n in e.__all__)"
    assert set(loaded("scheduled_backup", after)["families"]) >= FAMILIES
