"""``snapstack package`` against moto's S3-compatible server; ``deploy`` and ``destroy`` through the
official ROS SDK against the ROS stand-in (signatures checked, templates checked with ROS's schemas)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import yaml

from devkit import exitcodes
from devkit.cli import main
from devkit.package import Artifact, upload
from devkit.ros.cdk import validate_resources
from devkit.ros.template import check_references
from devkit.ros.testing import RosStandIn

from .conftest import FUNCTIONS, Oss

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yml"
REGION = "cn-hangzhou"


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tEmulatorKey0001")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "emulator-secret-0001")
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", REGION)


@pytest.fixture
def ros(account, monkeypatch: pytest.MonkeyPatch):
    with RosStandIn() as stand_in:
        monkeypatch.setenv("SNAPSTACK_ROS_ENDPOINT", stand_in.endpoint)
        monkeypatch.setenv("SNAPSTACK_ROS_PROTOCOL", "http")
        monkeypatch.setenv("SNAPSTACK_ROS_POLL_SECONDS", "0")  # each poll moves the stand-in one step
        yield stand_in


def deploy(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["deploy", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- package --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_package_uploads_content_hashed_zips_and_writes_the_packaged_template(
    account, moto_endpoint, tmp_path, capsys
):
    output = tmp_path / "packaged-template.yml"
    argv = ["package", "--bucket", "snapstack-code", "--prefix", "releases/"]
    argv += ["--endpoint", moto_endpoint, "--dist", str(tmp_path / "dist"), "--output", str(output)]

    assert main(argv) == exitcodes.OK  # the bucket does not exist yet: package creates it
    first = capsys.readouterr().out

    doc = yaml.safe_load(output.read_text())
    keys = {}
    for resource in doc["Resources"].values():
        if resource["Type"] == "ALIYUN::FC::Function":
            code = resource["Properties"]["Code"]
            assert code["OssBucketName"] == "snapstack-code"
            keys[resource["Properties"]["FunctionName"]] = code["OssObjectName"]
    assert set(keys) == FUNCTIONS
    bucket = Oss(moto_endpoint).bucket()
    bucket.bucket_name = "snapstack-code"
    for function, key in keys.items():
        assert key.startswith(f"releases/{function}-") and key.endswith(".zip")
        stored = bucket.get_object(key).read()
        assert stored == (tmp_path / "dist" / f"{function}.zip").read_bytes()
    assert first.count(" uploaded oss://") == len(FUNCTIONS)
    # The same bytes again (the same build) upload nothing: the names are their content's hash.
    again = [
        Artifact(f, p, p.stat().st_size, 0, hashlib.sha256(p.read_bytes()).hexdigest())
        for f, p in ((f, tmp_path / "dist" / f"{f}.zip") for f in keys)
    ]
    assert upload(again, bucket, "releases/") == {f: (k, False) for f, k in keys.items()}
    assert all(line.count("MB") == 2 for line in first.splitlines() if ".zip" in line)  # both sizes
    assert "CodeBucket" not in doc["Parameters"]
    check = validate_resources(doc["Resources"])
    assert check.ok and check_references(doc, check.attributes) == []


# -- deploy / destroy -----------------------------------------------------------------------------


def test_deploy_creates_the_stack_printing_each_event_then_the_outputs(ros, capsys):
    code, out, err = deploy(
        capsys, "--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "CodeBucket=b"
    )

    assert code == exitcodes.OK, out + err
    assert "stack snap: CREATE_COMPLETE" in out
    assert "ServiceName" in out and "snapstack" in out and "TokenTableUrl" in out
    resources = yaml.safe_load(TEMPLATE.read_text())["Resources"]
    for logical, body in resources.items():
        assert f"CREATE_IN_PROGRESS           {logical} ({body['Type']})" in err
        assert f"CREATE_COMPLETE              {logical} ({body['Type']})" in err
    lines = err.splitlines()
    assert "ALIYUN::ROS::Stack" in lines[0] and "CREATE_IN_PROGRESS" in lines[0]
    assert "ALIYUN::ROS::Stack" in lines[-1] and "CREATE_COMPLETE" in lines[-1]
    # dependencies first: the role before the service, the service before its functions
    assert err.index("CREATE_COMPLETE              FunctionRole") < err.index(
        "CREATE_IN_PROGRESS           Service "
    )
    assert err.index("CREATE_COMPLETE              Service ") < err.index(
        "CREATE_IN_PROGRESS           DeployHook"
    )


def test_deploy_again_updates_only_what_changed_and_then_finds_nothing_to_change(ros, capsys):
    base = ["--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "CodeBucket=b"]
    assert deploy(capsys, *base)[0] == exitcodes.OK

    code, out, err = deploy(capsys, *base, "--parameter", "LogRetentionDays=90")
    assert code == exitcodes.OK, out + err
    assert "stack snap: UPDATE_COMPLETE" in out
    updated = {line.split()[2] for line in err.splitlines() if "UPDATE_COMPLETE" in line}
    assert updated == {"LogStore", "snap"}

    code, out, _ = deploy(capsys, *base, "--parameter", "LogRetentionDays=90")
    assert code == exitcodes.OK and "no changes" in out


def test_a_resource_that_fails_rolls_the_stack_back_and_deploy_names_it(ros, capsys):
    ros.fail("DeployHook", "code object functions/deploy_hook.zip does not exist in bucket b")

    code, out, err = deploy(
        capsys, "--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "CodeBucket=b"
    )

    assert code == exitcodes.FAILED
    assert "stack snap failed: CREATE_ROLLBACK_COMPLETE" in out
    assert "DeployHook (ALIYUN::FC::Function): CREATE_FAILED  code object functions/deploy_hook.zip" in out
    assert "DELETE_COMPLETE              FunctionRole" in err  # what it made is gone again
    (stack,) = ros.state.live()
    assert stack.status == "CREATE_ROLLBACK_COMPLETE" and not stack.resources


def test_a_failed_update_rolls_back_to_the_previous_template(ros, capsys):
    base = ["--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "CodeBucket=b"]
    assert deploy(capsys, *base)[0] == exitcodes.OK
    ros.fail("LogStore", "TTL cannot be changed while a shipper is attached")

    code, out, _ = deploy(capsys, *base, "--parameter", "LogRetentionDays=90")

    assert code == exitcodes.FAILED
    assert "ROLLBACK_COMPLETE" in out and "LogStore (ALIYUN::SLS::Logstore): UPDATE_FAILED" in out
    (stack,) = ros.state.live()
    assert stack.parameters["LogRetentionDays"] == "30"


def test_ros_refuses_a_template_its_schemas_reject_before_anything_starts(ros, capsys, tmp_path):
    doc = yaml.safe_load(TEMPLATE.read_text())
    broken = copy.deepcopy(doc)
    broken["Resources"]["ScheduledBackup"]["Properties"]["Layers"] = [
        "acs:fc:cn-hangzhou:1:layers/x/versions/1"
    ]
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))

    code, _, err = deploy(
        capsys, "--stack-name", "snap", "--template", str(path), "--parameter", "CodeBucket=b"
    )

    assert code == exitcodes.BAD_INPUT
    assert "StackValidationFailed" in err and "ScheduledBackup: Properties.Layers: unknown property" in err
    assert ros.state.live() == []


def test_a_missing_parameter_and_bad_arguments_are_usage_or_input_errors(ros, capsys):
    code, _, err = deploy(capsys, "--stack-name", "snap", "--template", str(TEMPLATE))
    assert code == exitcodes.BAD_INPUT and "Parameter [CodeBucket] is required" in err
    code, _, err = deploy(capsys, "--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "oops")
    assert code == exitcodes.USAGE and "KEY=VALUE" in err
    code, _, err = deploy(capsys, "--stack-name", "snap", "--template", "nowhere.yml")
    assert code == exitcodes.USAGE and "snapstack package" in err


def test_wrong_credentials_are_refused_by_the_signature_check(ros, capsys, monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret")
    code, _, err = deploy(
        capsys, "--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "CodeBucket=b"
    )
    assert code == exitcodes.TOOL_ERROR and "SignatureDoesNotMatch" in err


def test_destroy_deletes_every_resource_and_a_second_destroy_finds_nothing(ros, capsys):
    assert (
        deploy(capsys, "--stack-name", "snap", "--template", str(TEMPLATE), "--parameter", "CodeBucket=b")[0]
        == 0
    )

    assert main(["destroy", "--stack-name", "snap"]) == exitcodes.OK
    out = capsys.readouterr()
    assert "stack snap: DELETE_COMPLETE" in out.out
    assert out.err.count("DELETE_COMPLETE") == len(yaml.safe_load(TEMPLATE.read_text())["Resources"]) + 1
    assert ros.state.live() == []

    assert main(["destroy", "--stack-name", "snap"]) == exitcodes.OK
    assert "no such stack" in capsys.readouterr().out
