"""template.yml: ROS's own schemas accept it, every reference names something, and what it grants,
schedules and keeps follows from the code it deploys (computed, not listed again here)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.local.runner import load_handler
from devkit.local.template import load_template
from devkit.ros.cdk import validate_resources
from devkit.ros.template import check_references
from snapstack.events import decode_event
from snapstack.policy.naming import STACK_TAG
from snapstack.tokens.base import DEFAULT_RECORD_TTL_SECONDS
from snapstack.tokens.tablestore import PRIMARY_KEY
from tests.stack.code_actions import code_actions

ROOT = Path(__file__).resolve().parents[1]
DOC = yaml.safe_load((ROOT / "template.yml").read_text())
RESOURCES: dict[str, Any] = DOC["Resources"]
#: What each trigger type delivers, as sample events in events/.
TRIGGER_SAMPLES = {
    "timer": ["timer.json"],
    "oss": ["oss_put_object.json"],
    "mns_topic": ["mns_topic_json.json", "mns_topic_json_attrs.json"],  # the trigger says JSON
    "eventbridge": ["eventbridge_ecs_instance_state_change.json"],
}


def of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def triggers() -> dict[str, dict[str, Any]]:
    """Trigger kind -> {"function": FunctionName resource, "resource": ...}, the rule included."""
    found: dict[str, dict[str, Any]] = {}
    for name, trigger in of_type("ALIYUN::FC::Trigger").items():
        props = trigger["Properties"]
        function = props["FunctionName"]["Fn::GetAtt"][0]
        found.setdefault(props["TriggerType"], {"functions": set(), "resources": []})
        found[props["TriggerType"]]["functions"].add(function)
        found[props["TriggerType"]]["resources"].append(name)
    for name, rule in of_type("ALIYUN::EventBridge::Rule").items():
        for target in rule["Properties"]["Targets"]:
            function = next(
                r
                for r, body in of_type("ALIYUN::FC::Function").items()
                if target["Endpoint"]["Fn::Sub"].endswith(f"/functions/{body['Properties']['FunctionName']}")
            )
            found.setdefault("eventbridge", {"functions": set(), "resources": []})
            found["eventbridge"]["functions"].add(function)
            found["eventbridge"]["resources"].append(name)
    return found


def policy(role: str, name_suffix: str) -> list[dict[str, Any]]:
    for item in RESOURCES[role]["Properties"]["Policies"]:
        if item["PolicyName"]["Fn::Sub"].endswith(name_suffix):
            return list(item["PolicyDocument"]["Statement"])
    raise AssertionError(f"{role} has no policy named *{name_suffix}")


# -- ROS's schemas and references ---------------------------------------------------------------


@pytest.fixture(scope="module")
def schema_check():
    return validate_resources(RESOURCES)


def test_ros_schemas_accept_every_resource(schema_check):
    assert set(schema_check.errors) == set(RESOURCES)
    assert schema_check.ok, {k: v for k, v in schema_check.errors.items() if v}


def test_the_schemas_catch_what_made_the_old_stack_undeployable():
    broken = copy.deepcopy(RESOURCES)
    broken["ScheduledBackup"]["Properties"]["Layers"] = ["acs:fc:cn-hangzhou:1:layers/x/versions/1"]
    params = broken["EcsEventsRule"]["Properties"]["Targets"][0]["ParamList"]
    del params[-1]["Value"]
    broken["LogStore"]["Properties"]["TTL"] = "thirty"
    errors = validate_resources(broken).errors
    assert "Properties.Layers: unknown property" in errors["ScheduledBackup"][0]
    assert "value: required but missing" in errors["EcsEventsRule"][0]
    assert "should be a number" in errors["LogStore"][0]
    assert not errors["Service"]


def test_every_reference_names_a_parameter_resource_attribute_or_condition(schema_check):
    assert check_references(DOC, schema_check.attributes) == []


def test_a_reference_to_nothing_is_reported(schema_check):
    broken = copy.deepcopy(DOC)
    broken["Resources"]["Service"]["Properties"]["Role"] = {"Fn::GetAtt": ["FunctionRole", "Nope"]}
    broken["Resources"]["LogStore"]["Properties"]["TTL"] = {"Ref": "Missing"}
    broken["Outputs"]["LogStore"]["Value"] = {"Fn::Sub": "${Ghost.Name}"}
    errors = check_references(broken, schema_check.attributes)
    assert len(errors) == 3
    assert any("no attribute 'Nope'" in e for e in errors)
    assert any("'Missing' is no parameter" in e for e in errors)
    assert any("GetAtt 'Ghost' is no resource" in e for e in errors)


def test_every_parameter_has_a_default_except_the_code_bucket_package_fills_in():
    no_default = {name for name, p in DOC["Parameters"].items() if "Default" not in p}
    assert no_default == {"CodeBucket"}
    assert all(p.get("Description") for p in DOC["Parameters"].values())


# -- functions and triggers -----------------------------------------------------------------------


def test_every_function_handler_is_a_callable_in_its_code():
    stack = load_template(ROOT / "template.yml")
    assert {s.name for s in stack.functions.values()} == {
        "scheduled_backup",
        "deploy_hook",
        "alarm_snapshot",
        "prune",
        "reconciler",
    }
    for spec in stack.functions.values():
        assert spec.runtime == "python3.10"
        assert (spec.source / "snapstack.json").is_file()
        assert callable(load_handler(spec))


def test_every_trigger_type_has_samples_of_the_shape_it_delivers():
    found = triggers()
    assert set(found) == set(TRIGGER_SAMPLES)
    # (the handler kind decoding it, the model it must decode to)
    shapes = {
        "timer": ("timer", "TimerEvent"),
        "oss": ("oss", "OssEvent"),
        "mns_topic": ("alarm", "MnsMessage"),
        "eventbridge": ("alarm", "CloudEvent"),
    }
    for kind, samples in TRIGGER_SAMPLES.items():
        expect, model = shapes[kind]
        for sample in samples:
            decoded = decode_event((ROOT / "events" / sample).read_bytes(), expect=expect)  # type: ignore[arg-type]
            assert type(decoded).__name__ == model, (sample, decoded)


def test_a_timer_runs_every_shipped_policy_by_name():
    shipped = json.loads((ROOT / "functions/scheduled_backup/snapstack.json").read_text())
    timers = [
        r["Properties"]
        for r in of_type("ALIYUN::FC::Trigger").values()
        if r["Properties"]["TriggerType"] == "timer"
        and r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["ScheduledBackup", "FunctionName"]}
    ]
    named = sorted(json.loads(t["TriggerConfig"]["payload"])["policy"] for t in timers)
    assert named == sorted(p["name"] for p in shipped["policies"])
    every_timer = [r["Properties"] for r in of_type("ALIYUN::FC::Trigger").values()]
    for timer in (t for t in every_timer if t["TriggerType"] == "timer"):
        cron = DOC["Parameters"][timer["TriggerConfig"]["cronExpression"]["Ref"]]["Default"]
        assert len(cron.split()) == 6  # FC cron: seconds first


def test_the_oss_trigger_fires_only_once_an_object_exists_in_full():
    (oss,) = [
        r["Properties"]
        for r in of_type("ALIYUN::FC::Trigger").values()
        if r["Properties"]["TriggerType"] == "oss"
    ]
    from snapstack.events.oss import FINAL_EVENT_NAMES

    assert set(oss["TriggerConfig"]["events"]) == set(FINAL_EVENT_NAMES)
    key = oss["TriggerConfig"]["filter"]["key"]
    assert {key["prefix"]["Ref"], key["suffix"]["Ref"]} == {"DeployKeyPrefix", "DeployKeySuffix"}


def test_the_token_table_is_keyed_and_expires_as_the_code_expects():
    (table,) = of_type("ALIYUN::OTS::Table").values()
    assert table["Properties"]["PrimaryKey"] == [{"Name": PRIMARY_KEY, "Type": "STRING"}]
    assert table["Properties"]["TimeToLive"] == DEFAULT_RECORD_TTL_SECONDS
    assert table["Properties"]["MaxVersions"] == 1
    # FC gives up on an event before its token records expire.
    assert DOC["Parameters"]["AsyncMaxEventAgeSeconds"]["MaxValue"] <= DEFAULT_RECORD_TTL_SECONDS


def test_async_invocations_retry_a_bounded_number_of_times_then_land_in_the_failure_queue():
    for name, fn in of_type("ALIYUN::FC::Function").items():
        cfg = fn["Properties"]["AsyncConfiguration"]
        assert cfg["MaxAsyncRetryAttempts"] == {"Ref": "AsyncRetryAttempts"}, name
        assert cfg["MaxAsyncEventAgeInSeconds"] == {"Ref": "AsyncMaxEventAgeSeconds"}, name
        assert "${FailureQueue.QueueName}/messages" in cfg["Destination"]["OnFailure"]["Fn::Sub"], name
    assert DOC["Parameters"]["AsyncRetryAttempts"]["MaxValue"] <= 8
    assert RESOURCES["DeployHook"]["Properties"]["AsyncConfiguration"]["StatefulInvocation"] is True


def test_the_reconciler_runs_every_15_minutes_and_reads_the_failure_queue():
    (timer,) = [
        r["Properties"]
        for r in of_type("ALIYUN::FC::Trigger").values()
        if r["Properties"]["FunctionName"] == {"Fn::GetAtt": ["Reconciler", "FunctionName"]}
    ]
    assert timer["TriggerType"] == "timer"
    assert DOC["Parameters"][timer["TriggerConfig"]["cronExpression"]["Ref"]]["Default"] == "0 */15 * * * *"
    env = RESOURCES["Reconciler"]["Properties"]["EnvironmentVariables"]
    queue = env["SNAPSTACK_FAILURE_QUEUE"]["Fn::Sub"]
    assert queue.startswith("mns://") and queue.endswith("/${FailureQueue.QueueName}")


def test_environment_variables_follow_fc_rules():
    for fn in of_type("ALIYUN::FC::Function").values():
        env = fn["Properties"].get("EnvironmentVariables", {})
        assert all(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]*", k) and not k.startswith("FC_") for k in env)
        assert len(json.dumps(env)) < 4096


# -- roles ----------------------------------------------------------------------------------------


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in s["Action"]}


def test_the_code_policy_grants_exactly_the_api_actions_the_code_calls():
    # FC 2.0 gives every function of a service the service's role: the union is what it needs.
    needed = set().union(*code_actions().values())
    assert {"ecs:CreateSnapshot", "ecs:DescribeDisks", "ots:PutRow"} <= needed  # the scan sees calls
    assert _actions(policy("FunctionRole", "-code")) == needed


def test_code_policy_resources_are_scoped_to_the_stack_region_account_and_its_own_table_and_bucket():
    for statement in policy("FunctionRole", "-code"):
        for resource in statement["Resource"]:
            arn = resource["Fn::Sub"]
            assert arn.startswith("acs:"), arn
            service = arn.split(":")[1]
            if service == "oss":  # OSS ARNs carry no region
                assert arn == "acs:oss:*:${ALIYUN::AccountId}:${DeployBucket.Name}/*"
            else:
                prefix = f"acs:{service}:${{ALIYUN::Region}}:${{ALIYUN::AccountId}}:"
                assert arn.startswith(prefix), arn
                # Only ECS's Describe* calls (no resource-level scope) may name the whole region.
                assert arn != prefix + "*" or statement["Action"][0].startswith("ecs:Describe"), arn
            if service == "ots":
                assert arn.endswith("instance/${TokenInstance.InstanceName}/table/${TokenTableName}")


def test_delete_snapshot_is_granted_only_on_snapshots_this_stack_tagged():
    # The tag the code writes on every snapshot and prune checks (policy/naming.py) scopes RAM too,
    # so a second stack in the account, whatever its policy names, cannot have its snapshots deleted.
    (statement,) = [s for s in policy("FunctionRole", "-code") if "ecs:DeleteSnapshot" in s["Action"]]
    assert statement["Action"] == ["ecs:DeleteSnapshot"]
    assert statement["Condition"] == {
        "StringEquals": {f"acs:ResourceTag/{STACK_TAG}": {"Ref": "ServiceName"}}
    }


def test_the_platform_policy_is_what_the_log_config_and_failure_destination_need():
    statements = policy("FunctionRole", "-platform")
    assert _actions(statements) == {"log:PostLogStoreLogs", "mns:SendMessage"}
    log_config = RESOURCES["Service"]["Properties"]["LogConfig"]
    assert log_config["Project"] == {"Fn::GetAtt": ["LogProject", "Name"]}
    assert log_config["Logstore"] == {"Fn::GetAtt": ["LogStore", "LogstoreName"]}


@pytest.mark.parametrize(
    ("role", "service", "trigger_type"),
    [
        ("OssInvocationRole", "oss.aliyuncs.com", "oss"),
        ("MnsInvocationRole", "mns.aliyuncs.com", "mns_topic"),
    ],
)
def test_invocation_roles_let_their_service_invoke_only_the_function_its_trigger_targets(
    role, service, trigger_type
):
    props = RESOURCES[role]["Properties"]
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": [service]}
    (statement,) = props["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["fc:InvokeFunction"]
    (function,) = triggers()[trigger_type]["functions"]
    name = RESOURCES[function]["Properties"]["FunctionName"]
    assert all(r["Fn::Sub"].endswith(f"/functions/{name}") for r in statement["Resource"])
    users = [
        r
        for r in of_type("ALIYUN::FC::Trigger").values()
        if r["Properties"].get("InvocationRole") == {"Fn::GetAtt": [role, "Arn"]}
    ]
    assert [u["Properties"]["TriggerType"] for u in users] == [trigger_type]


def test_the_functions_role_is_assumed_by_fc_and_used_by_the_service():
    (trust,) = RESOURCES["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["fc.aliyuncs.com"]}
    assert RESOURCES["Service"]["Properties"]["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
