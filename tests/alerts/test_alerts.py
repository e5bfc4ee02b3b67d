"""Each SLS alert of template.yml selects exactly the lines our handlers print for its condition.

The handlers run against the ECS emulator through the official SDK (the e2e runner); their stdout
becomes the log entries FC writes; template.yml's index and each alert's query are applied to them
by devkit/sls (a documented subset of SLS query syntax).
"""

from __future__ import annotations

import ast
import copy
import re
from typing import Any

import pytest

from devkit.ros.cdk import validate_resources
from devkit.sls.logstore import DOUBLE, TEXT
from devkit.sls.query import QueryError, parse
from tests.e2e.conftest import timer_event

from .conftest import INDEX, RESOURCES, ROOT, alerts, of_type

FAILED, ABANDONED, INVOCATION, RPO = (
    "snapstack-failed-disks",
    "snapstack-slots-abandoned",
    "snapstack-invocation-errors",
    "snapstack-rpo-breaches",
)
LOCKED = "d-locked-01-system"  # the sample fleet's disk on a security-locked instance: ends failed


def one_disk(disk: str = "d-web-01-data") -> dict[str, Any]:
    return {"policies": [{"name": "daily", "selector": {"disk_ids": [disk]}}]}


# -- the template -----------------------------------------------------------------------------------


def test_the_stack_alerts_on_each_condition_issue_15_names():
    assert set(alerts()) == {FAILED, ABANDONED, INVOCATION, RPO}
    (rule,) = of_type("ALIYUN::CMS::ResourceMetricRule").values()  # the OnFailure destination
    (queue,) = rule["Resources"]
    assert queue["queue"] == {"Fn::GetAtt": ["FailureQueue", "QueueName"]}
    for function in of_type("ALIYUN::FC::Function").values():
        assert (
            "${FailureQueue.QueueName}"
            in function["AsyncConfiguration"]["Destination"]["OnFailure"]["Fn::Sub"]
        )


def test_ros_schemas_check_the_new_resource_types():
    broken = {
        name: copy.deepcopy(RESOURCES[name]) for name in ("LogIndex", "AlertFailedDisks", "AlertFailureQueue")
    }
    broken["LogIndex"]["Properties"]["KeyIndices"][1]["JsonKeyIndices"][0]["Type"] = "json"
    del broken["AlertFailedDisks"]["Properties"]["Detail"]["Name"]
    broken["AlertFailureQueue"]["Properties"]["Escalations"]["Critical"]["Statistics"] = "Sum"
    errors = validate_resources(broken).errors
    assert "type" in errors["LogIndex"][0] and "json" in errors["LogIndex"][0]
    assert "name: required but missing" in errors["AlertFailedDisks"][0]
    assert "statistics" in errors["AlertFailureQueue"][0]


def test_every_alert_evaluates_a_chart_of_the_dashboard_with_the_same_query():
    (dashboard,) = of_type("ALIYUN::SLS::Dashboard").values()
    charts = {c["title"]: c["search"]["query"] for c in dashboard["Charts"]}
    for alert in alerts().values():
        assert alert.dashboard == {"Fn::GetAtt": ["Dashboard", "DashboardName"]}
        assert charts[alert.chart] == alert.query.text


def test_every_alert_notifies_the_target_parameter():
    for props in of_type("ALIYUN::SLS::Alert").values():
        choice = props["Detail"]["Configuration"]["NotificationList"]["Fn::If"]
        assert choice[0] == "AlertByEmail"
        assert choice[1][0]["EmailList"] == [{"Ref": "AlertEmail"}]
        assert choice[2][0]["Type"] == "MessageCenter"
    cms = [RESOURCES[n] for n in ("AlertContact", "AlertContactGroup", "AlertFailureQueue")]
    assert all(r["Condition"] == "AlertByEmail" for r in cms)
    assert cms[0]["Properties"]["Channels"]["Mail"] == {"Ref": "AlertEmail"}


def test_saved_searches_and_dashboard_name_only_indexed_fields():
    for props in of_type("ALIYUN::SLS::Savedsearch").values():
        parse(props["Detail"]["SearchQuery"], INDEX)
    (dashboard,) = of_type("ALIYUN::SLS::Dashboard").values()
    for chart in dashboard["Charts"]:
        search, _, sql = chart["search"]["query"].partition("|")
        parse(search, INDEX)
        for name in re.findall(r'"(message\.\w+)"', sql):
            assert name in INDEX.keys and INDEX.keys[name].analytics, (chart["title"], name)


def test_the_evaluator_refuses_what_sls_would_refuse_or_it_does_not_model():
    with pytest.raises(QueryError, match="no such key"):
        parse("message.nope: x", INDEX)  # not indexed: SLS refuses to search it
    with pytest.raises(QueryError, match="join terms"):
        parse("message.outcome: failed message.level: error", INDEX)
    with pytest.raises(QueryError, match="only 'select count"):
        parse("* | select sum(x) as y", INDEX)
    with pytest.raises(QueryError, match="wildcards"):
        parse("message.outcome: fail*", INDEX)


# -- the alerts against what the handlers print -------------------------------------------------------


def test_the_failed_disk_alert_selects_exactly_the_failed_disk_lines(capture, emulator):
    run = capture("scheduled_backup", timer_event())
    summary = run.result.summary
    assert (summary["created"], summary["failed"]) == (7, 1)
    failed = alerts()[FAILED]
    assert [line["disk_id"] for line in run.selected(failed.query)] == [LOCKED]
    assert failed.query.rows(run.entries, INDEX) == [{"failed": 1.0}]
    assert run.fired(failed)
    assert not any(run.fired(alerts()[name]) for name in (ABANDONED, INVOCATION, RPO))
    # The decision lines the alert leaves out are exactly the other disks.
    decisions = {line["disk_id"] for line in run.lines() if line.get("message") == "snapshot decision"}
    assert decisions - {LOCKED} == {d["disk_id"] for d in summary["disks"] if d["outcome"] == "created"}


def test_a_clean_run_fires_no_alert(capture, config_json):
    config_json(one_disk())
    run = capture("scheduled_backup", timer_event())
    assert run.result.summary["created"] == 1
    assert not any(run.fired(alert) for alert in alerts().values())


def test_deferred_disks_fire_nothing_yet_and_the_open_disks_search_finds_them(capture, emulator, config_json):
    config_json(one_disk())
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 6}]}}})
    run = capture("scheduled_backup", timer_event())
    assert run.result.incomplete and run.result.summary["deferred"] == 1
    assert not any(run.fired(alert) for alert in alerts().values())  # FC retries it; the reconciler follows
    search = parse(RESOURCES["SearchOpenDisks"]["Properties"]["Detail"]["SearchQuery"], INDEX)
    (line,) = run.selected(search)
    assert (line["disk_id"], line["outcome"]) == ("d-web-01-data", "deferred")


def test_an_account_level_error_fires_the_invocation_alert_once(capture, emulator, config_json):
    config_json(one_disk())
    emulator.state.account.balance_ok = False
    run = capture("scheduled_backup", timer_event())
    assert run.result.error is not None and "InvocationFailed" in run.result.error
    invocation = alerts()[INVOCATION]
    (line,) = run.selected(invocation.query)
    assert (line["level"], line["error_code"]) == ("ERROR", "InvalidAccountStatus.NotEnoughBalance")
    assert run.fired(invocation) and not run.fired(alerts()[FAILED])


def test_ecs_unreachable_before_any_decision_fires_the_invocation_alert(
    capture, emulator, config_json, monkeypatch
):
    config_json(one_disk())
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    emulator.faults.configure(
        {"apis": {"DescribeDisks": {"errors": [{"code": "ServiceUnavailable", "times": 9}]}}}
    )
    run = capture("scheduled_backup", timer_event())
    assert run.result.error is not None and emulator.calls("CreateSnapshot") == 0
    (line,) = run.selected(alerts()[INVOCATION].query)
    assert line["message"] == "invocation failed before any disk was decided"
    assert line["error_code"] == "ServiceUnavailable"


def test_bad_input_is_no_invocation_error_and_the_bad_input_search_finds_it(capture):
    run = capture("scheduled_backup", {"triggerTime": "not a time", "triggerName": "daily", "payload": ""})
    assert run.result.summary["ok"] is False
    assert not any(run.fired(alert) for alert in alerts().values())  # a retry cannot fix it: no page
    search = parse(RESOURCES["SearchBadInput"]["Properties"]["Detail"]["SearchQuery"], INDEX)
    (line,) = run.selected(search)
    assert line["field"] == "triggerTime"


# -- metrics ---------------------------------------------------------------------------------------


def test_every_emf_metric_is_one_number_the_index_can_sum(capture):
    run = capture("scheduled_backup", timer_event())
    blobs = [line for line in run.lines() if "_aws" in line]
    assert blobs
    for blob in blobs:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        for dimension in directive["Dimensions"][0]:
            assert dimension == "service" or INDEX.keys[f"message.{dimension}"].type == TEXT
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert isinstance(blob[name], float), (name, blob[name])  # EMF target member, a bare number
            assert INDEX.keys[f"message.{name}"].type == DOUBLE and INDEX.keys[f"message.{name}"].analytics
    entry = next(e for e in run.entries if "_aws" in e["message"])
    assert INDEX.fields(entry)["message.SnapshotsFailed"] == 1.0
    assert INDEX.fields(entry)["message.SnapshotsCreated"] == 7.0


# -- the alert names the code logs ------------------------------------------------------------------


def logged_alert_names() -> set[str]:
    """Every ``alert`` value the runtime code logs: ``alert="X"``, ``alert=CONSTANT``, ``{"alert": ...}``."""
    from snapstack import observability

    def value(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and isinstance(getattr(observability, node.id, None), str):
            return str(getattr(observability, node.id))
        return None

    names: set[str] = set()
    for path in (ROOT / "layers/snapstack/python/snapstack").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "alert":
                names.add(value(node.value) or f"<unresolved in {path.name}>")
            elif isinstance(node, ast.Dict):
                for key, item in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "alert":
                        names.add(value(item) or f"<unresolved in {path.name}>")
    return names


def test_every_alert_searches_for_a_name_the_code_logs(stack):
    logged = logged_alert_names()
    assert "InvocationFailed" in logged  # the scan sees the handlers' own
    searched = {
        name for alert in alerts().values() for name in re.findall(r"message\.alert: (\w+)", alert.query.text)
    }
    # Every alert name the code logs is on the alert-lines saved search.
    everything = RESOURCES["SearchAlerts"]["Properties"]["Detail"]["SearchQuery"]
    assert all(f"message.alert: {name}" in everything for name in logged), (logged, everything)
    missing = searched - logged
    if missing and "reconciler" not in {spec.name for spec in stack.functions.values()}:
        pytest.skip(f"{sorted(missing)} are the reconciler's (branch operate), not in this tree yet")
    assert not missing


# -- the reconciler's alerts (issue #15 items 3-4: branch operate) ----------------------------------


@pytest.fixture
def reconciler(stack):
    if "reconciler" not in {spec.name for spec in stack.functions.values()}:
        pytest.skip("template.yml has no reconciler function yet (branch operate)")
    return "reconciler"


def test_the_rpo_alert_selects_exactly_the_breaches_the_reconciler_reports(capture, config_json, reconciler):
    config_json(one_disk())
    run = capture(reconciler, timer_event(policy=None))
    breaches = [b["disk_id"] for b in run.result.summary["rpo"]["breaches"]]
    assert breaches == ["d-web-01-data"]  # no snapshot of ours yet
    rpo = alerts()[RPO]
    assert [line["disk_id"] for line in run.selected(rpo.query)] == breaches
    assert run.fired(rpo) and not run.fired(alerts()[ABANDONED])


def test_the_abandoned_slot_alert_selects_the_slot_left_deferred_past_its_deadline(
    capture, emulator, config_json, reconciler
):
    config_json(one_disk())
    emulator.faults.configure({"apis": {"CreateSnapshot": {"errors": [{"code": "Throttling", "times": 99}]}}})
    first = capture("scheduled_backup", timer_event())
    assert first.result.summary["deferred"] == 1 and not first.fired(alerts()[ABANDONED])
    emulator.faults.configure({})
    late = capture(reconciler, timer_event("2026-12-27T20:00:00Z", policy=None))
    abandoned = alerts()[ABANDONED]
    (line,) = late.selected(abandoned.query)
    assert line["disk_id"] == "d-web-01-data"
    assert late.fired(abandoned)
