"""template.yml is the single source of truth: check it says what FC and the runner need."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from devkit.local.runner import load_handler
from devkit.local.template import load_template

ROOT = Path(__file__).resolve().parents[1]
DOC = yaml.safe_load((ROOT / "template.yml").read_text())
RESOURCES = DOC["Resources"]


def of_type(kind):
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def test_native_ros_resources_only():
    assert DOC["ROSTemplateFormatVersion"] == "2015-09-01" and "Transform" not in DOC
    assert {r["Type"] for r in RESOURCES.values()} <= {
        "ALIYUN::FC::Service",
        "ALIYUN::FC::Function",
        "ALIYUN::FC::Trigger",
        "ALIYUN::FC::Layer",
        "ALIYUN::EventBridge::Rule",
    }


def test_every_function_runs_python310_from_a_folder_with_its_handler():
    stack = load_template(ROOT / "template.yml")
    assert {s.name for s in stack.functions.values()} == {
        "scheduled_backup",
        "deploy_hook",
        "alarm_snapshot",
        "reconciler",
    }
    for spec in stack.functions.values():
        assert spec.runtime == "python3.10"
        assert (spec.source / "snapstack.json").is_file()
        assert callable(load_handler(spec))
        assert spec.layer_paths == (ROOT / "layers/snapstack/python",)


def test_each_trigger_kind_reaches_its_function():
    functions = {r["Properties"]["FunctionName"] for r in of_type("ALIYUN::FC::Function").values()}
    triggers = sorted(
        (r["Properties"]["TriggerType"], r["Properties"]["FunctionName"])
        for r in of_type("ALIYUN::FC::Trigger").values()
    )
    assert triggers == [
        ("mns_topic", "alarm_snapshot"),
        ("oss", "deploy_hook"),
        ("timer", "reconciler"),
        ("timer", "scheduled_backup"),
    ]
    assert {function for _, function in triggers} <= functions
    (rule,) = of_type("ALIYUN::EventBridge::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["Type"] == "acs.fc.function" and "alarm_snapshot" in target["Endpoint"]["Fn::Sub"]


def test_timer_cron_has_a_seconds_field_and_the_payload_names_a_policy():
    (timer,) = [
        r
        for r in of_type("ALIYUN::FC::Trigger").values()
        if r["Properties"]["TriggerType"] == "timer" and r["Properties"]["FunctionName"] == "scheduled_backup"
    ]
    cron = DOC["Parameters"][timer["Properties"]["TriggerConfig"]["CronExpression"]["Ref"]]["Default"]
    assert len(cron.split()) == 6
    assert timer["Properties"]["TriggerConfig"]["Payload"] == '{"policy": "daily"}'


def test_the_reconciler_runs_every_15_minutes_with_no_retry_of_a_failed_run():
    (timer,) = [
        r for r in of_type("ALIYUN::FC::Trigger").values() if r["Properties"]["FunctionName"] == "reconciler"
    ]
    schedule = DOC["Parameters"][timer["Properties"]["TriggerConfig"]["CronExpression"]["Ref"]]["Default"]
    assert schedule == "@every 15m"  # FC's fixed-interval timer form (FACTS.md §1a)
    assert RESOURCES["Reconciler"]["Properties"]["AsyncConfiguration"] == {"MaxAsyncRetryAttempts": 0}


def test_environment_variables_follow_fc_rules():
    for fn in of_type("ALIYUN::FC::Function").values():
        env = fn["Properties"].get("EnvironmentVariables", {})
        assert all(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]*", k) and not k.startswith("FC_") for k in env)
        assert len(str(env)) < 4096
