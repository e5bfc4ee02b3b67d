"""The built zips run on FC's python3.10 image: every trigger's sample, end to end, from the artifact.

Each invocation is a fresh python3.10 process holding exactly FC's preinstalled modules
(``layers/deps/fc-python310.txt``) with the unzipped function as its code directory, talking to
the ECS emulator, the local Tablestore (the production-default token table), moto's S3 server
and a real redis-server.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from devkit.package import Artifact, build, preinstalled
from devkit.redis_server import RedisServer
from tests.test_template import TRIGGER_SAMPLES

from .conftest import FUNCTIONS, Oss

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
FUNCTION_OF_TRIGGER = {
    "timer": "scheduled_backup",
    "oss": "deploy_hook",
    "mns_topic": "alarm_snapshot",
    "eventbridge": "alarm_snapshot",
}
CASES = [(kind, sample) for kind, samples in TRIGGER_SAMPLES.items() for sample in samples]


def deliverable(sample: str, oss: Oss | None) -> bytes:
    """The sample's bytes; for OSS, with the object it names stored for real first."""
    event = (EVENTS / sample).read_bytes()
    if not sample.startswith("oss_"):
        return event
    assert oss is not None
    data = json.loads(event)
    obj = data["events"][0]["oss"]["object"]
    stored = oss.put(obj["key"], b'{"instance_ids": ["i-web-01"], "reason": "release 1.4.2"}')
    obj.update(stored["events"][0]["oss"]["object"])
    return json.dumps(data).encode()


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "sample"), CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_every_trigger_sample_runs_from_its_zip_once_however_often_it_arrives(fc, oss_bucket, kind, sample):
    fc.extra_env["SNAPSTACK_OSS_ENDPOINT"] = oss_bucket.endpoint  # an IP: path-style in every oss2
    event = deliverable(sample, oss_bucket)
    function = FUNCTION_OF_TRIGGER[kind]

    first = fc.invoke(function, event)
    calls = fc.ecs.calls("CreateSnapshot")
    again = fc.invoke(function, event)

    assert first.error is None, first.output[-4000:]
    assert first.summary["created"] >= 1, first.summary
    assert calls == first.summary["created"] + first.summary["failed"]
    assert again.error is None and again.summary["created"] == 0
    assert again.summary["deduplicated"] == first.summary["created"]
    assert fc.ecs.calls("CreateSnapshot") == calls  # the second delivery made no call


@pytest.mark.slow
def test_the_function_uses_its_own_library_and_fcs_preinstalled_sdks(fc, oss_bucket):
    fc.extra_env["SNAPSTACK_OSS_ENDPOINT"] = oss_bucket.endpoint
    run = fc.invoke("deploy_hook", deliverable("oss_put_object.json", oss_bucket))
    assert run.error is None, run.output[-4000:]
    code = str(fc.code_dirs["deploy_hook"])
    assert run.modules["snapstack"][1].startswith(code)
    assert run.modules["pydantic"][1].startswith(code)
    assert run.modules["oss2"][0] == "2.16.0" and not run.modules["oss2"][1].startswith(code)
    assert run.modules["tablestore"][0] == "5.4.1" and not run.modules["tablestore"][1].startswith(code)
    assert run.modules["requests"][0] == "2.28.1"


@pytest.mark.slow
def test_path_style_oss_on_fcs_oss2_2_16_fails_the_invocation_naming_the_setting(fc, oss_bucket):
    """FC's oss2 2.16.0 has no ``is_path_style``: asked for it, the function fails as a
    configuration error (FC records and alerts on it), before any ECS call."""
    fc.extra_env["SNAPSTACK_OSS_ENDPOINT"] = oss_bucket.endpoint
    fc.extra_env["SNAPSTACK_OSS_PATH_STYLE"] = "true"
    run = fc.invoke("deploy_hook", deliverable("oss_put_object.json", oss_bucket))
    assert run.error is not None and "ConfigError" in run.error, run.output[-4000:]
    assert "SNAPSTACK_OSS_PATH_STYLE: oss2 2.16.0 cannot address buckets path-style" in run.error
    assert fc.ecs.calls("CreateSnapshot") == 0


@pytest.mark.slow
def test_the_redis_token_table_works_with_fcs_redis_4_4(fc):
    with RedisServer() as server:
        fc.token_table = server.url
        first = fc.invoke("scheduled_backup", deliverable("timer.json", None))
        again = fc.invoke("scheduled_backup", deliverable("timer.json", None))
    assert first.error is None, first.output[-4000:]
    assert first.modules["redis"][0] == "4.4.0"
    assert first.summary["created"] >= 1 and again.summary["created"] == 0


def _entries(artifact: Artifact) -> list[str]:
    with zipfile.ZipFile(artifact.path) as zf:
        return zf.namelist()


def test_each_zip_holds_its_function_the_library_and_the_lock_but_nothing_fc_preinstalls(artifacts):
    assert set(artifacts) == FUNCTIONS
    top = {name: {e.split("/")[0] for e in _entries(a)} for name, a in artifacts.items()}
    for name, entries in top.items():
        assert {"index.py", "snapstack.json", "snapstack", "pydantic", "alibabacloud_ecs20140526"} <= entries
        shipped = {e.split("-")[0].lower().replace("_", "-") for e in entries if e.endswith(".dist-info")}
        assert not shipped & preinstalled(), name
        assert "numpy" not in entries  # FC's tablestore 5.4.1 needs none
        assert not any("/tests/" in e or e.endswith("/RECORD") for e in _entries(artifacts[name]))


def test_every_module_has_unchecked_hash_bytecode_for_cpython_310(artifacts):
    with zipfile.ZipFile(artifacts["scheduled_backup"].path) as zf:
        names = set(zf.namelist())
        sources = [n for n in names if n.endswith(".py")]
        assert len(sources) > 1000
        for source in sources:
            folder, _, file = source.rpartition("/")
            pyc = f"{folder}/__pycache__/{file[:-3]}.cpython-310.pyc".lstrip("/")
            assert pyc in names, source
        header = zf.read("snapstack/__pycache__/__init__.cpython-310.pyc")[:8]
    assert header[:4] == bytes.fromhex("6f0d0d0a")  # CPython 3.10's magic number
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source never checked


def test_a_second_build_is_byte_identical(artifacts, tmp_path):
    (again,) = build(tmp_path, ["scheduled_backup"])
    assert again.path.read_bytes() == artifacts["scheduled_backup"].path.read_bytes()
    assert again.object_name == artifacts["scheduled_backup"].object_name
