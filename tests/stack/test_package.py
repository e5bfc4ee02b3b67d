"""devkit.package without a build: the interpreter it insists on, the lock, the packaged template."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devkit import exitcodes
from devkit.package import LOCK, PackageError, find_python310, main, packaged_template, preinstalled
from tests.stack.conftest import FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]


def test_no_python310_is_a_clear_error_naming_where_it_looked(monkeypatch, capsys):
    monkeypatch.setenv("SNAPSTACK_PYTHON310", "/nonexistent/python3.10")
    with pytest.raises(PackageError, match=r"no CPython 3\.10 found .*/nonexistent/python3\.10"):
        find_python310()
    assert main(["--out", "unused"]) == exitcodes.TOOL_ERROR
    assert "no CPython 3.10 found" in capsys.readouterr().err


def test_the_lock_pins_every_distribution_with_a_hash_and_none_that_fc_preinstalls():
    pins = [line for line in LOCK.read_text().splitlines() if "==" in line]
    assert len(pins) > 20
    names = {line.split("==")[0] for line in pins}
    assert {"alibabacloud-ecs20140526", "pydantic", "aws-lambda-powertools", "tzdata"} <= names
    assert not names & preinstalled()
    assert not names & {"numpy", "tablestore", "oss2", "redis", "boto3"}
    assert LOCK.read_text().count("--hash=sha256:") == len(pins)


def test_the_packaged_template_points_each_function_at_its_object_and_drops_code_bucket():
    keys = {f: f"p/{f}-0123456789abcdef.zip" for f in FUNCTIONS}
    doc = packaged_template(ROOT / "template.yml", "code-bucket", keys)
    functions = {
        r["Properties"]["FunctionName"]: r["Properties"]["Code"]
        for r in doc["Resources"].values()
        if r["Type"] == "ALIYUN::FC::Function"
    }
    assert functions == {f: {"OssBucketName": "code-bucket", "OssObjectName": k} for f, k in keys.items()}
    assert "CodeBucket" not in doc["Parameters"]
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc  # what `snapstack package` writes reads back
    with pytest.raises(PackageError, match="no zip was built"):
        packaged_template(ROOT / "template.yml", "code-bucket", {"scheduled_backup": "x.zip"})
