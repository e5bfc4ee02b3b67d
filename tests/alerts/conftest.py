"""The stack's SLS index, saved searches, dashboard and alerts, as template.yml defines them, and
the log entries FC would write for a function run against the ECS emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.sls.logstore import Index, fc_entries
from devkit.sls.query import Query, condition_holds, parse
from tests.e2e.conftest import (  # noqa: F401 - the e2e fixtures, reused here
    Runner,
    config_json,
    emulator,
    run,
    stack,
)

ROOT = Path(__file__).resolve().parents[2]
DOC: dict[str, Any] = yaml.safe_load((ROOT / "template.yml").read_text())
RESOURCES: dict[str, Any] = DOC["Resources"]


def of_type(kind: str) -> dict[str, Any]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == kind}


(INDEX_PROPS,) = of_type("ALIYUN::SLS::Index").values()
INDEX = Index.from_resource(INDEX_PROPS)


@dataclass(frozen=True)
class Alert:
    """One SLS alert of the template: its query (parsed) and condition."""

    name: str
    query: Query
    condition: str
    chart: str
    dashboard: Any


def alerts() -> dict[str, Alert]:
    """Alert name (Detail.Name) -> Alert."""
    found = {}
    for props in of_type("ALIYUN::SLS::Alert").values():
        detail = props["Detail"]
        config = detail["Configuration"]
        (item,) = config["QueryList"]
        found[detail["Name"]] = Alert(
            detail["Name"],
            parse(item["Query"], INDEX),
            config["Condition"],
            item["ChartTitle"],
            config["Dashboard"],
        )
    return found


@dataclass
class Captured:
    """A function run's result and the log entries FC would have written for it."""

    result: Any
    entries: list[dict[str, str]]

    def fired(self, alert: Alert) -> bool:
        return condition_holds(alert.condition, alert.query.rows(self.entries, INDEX))

    def selected(self, query: Query) -> list[dict[str, Any]]:
        """The JSON lines the query's search part selects."""
        return [json.loads(e["message"]) for e in query.select(self.entries, INDEX)]

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON line the run printed."""
        return [json.loads(e["message"]) for e in self.entries]


@pytest.fixture
def capture(run: Runner, capsys: pytest.CaptureFixture[str]) -> Callable[..., Captured]:  # noqa: F811
    """Run a function through the e2e runner; return its result and FC's log entries for it."""
    runner = run

    def go(function: str, event: Any) -> Captured:
        capsys.readouterr()  # only this run's lines
        result = runner(function, event)
        out = capsys.readouterr().out
        return Captured(result, fc_entries(out, function=function, service=runner.stack.service_name))

    return go
