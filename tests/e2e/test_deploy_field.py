"""The field cases of deploy_hook (tests/data/field, from ../shared/cases/field): each value its README gives.

- ``oss_mpu_0..4``: a multipart upload (Initiate, UploadPart x2, Complete) then a DeleteObject:
  exactly one snapshot per target disk, from the Complete event; the others are ignored with a
  logged reason and no ECS call.
- ``osskey_c_plus_space`` / ``osskey_d_literal_pct`` + ``osskey_setup.py``: manifests under keys
  holding a space and a literal ``%2B``, delivered as OSS encodes them: the manifest is found and
  read; if the object is really gone the message says which key was tried.

Each is checked through the local runner and through ``snapstack local invoke``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from devkit.cli import main

from .cli import endpoint_args
from .conftest import ROOT, all_calls, ours

FIELD = ROOT / "tests" / "data" / "field"
MPU = [FIELD / f"oss_mpu_{i}.json" for i in range(5)]
OSSKEY = {"c": FIELD / "osskey_c_plus_space.json", "d": FIELD / "osskey_d_literal_pct.json"}
STORED = {"c": "releases/web app/manifest.json", "d": "releases/web/build%2B7/manifest.json"}


def setup_manifests(moto_endpoint: str) -> dict[str, str]:
    """Run the field case's own setup script against moto; the stored keys and their eTags."""
    out = subprocess.run(
        [sys.executable, str(FIELD / "osskey_setup.py"), moto_endpoint],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return dict(line.rsplit(" ", 1) for line in out.splitlines())


def test_a_multipart_upload_and_a_delete_make_one_snapshot_per_disk(run, emulator):
    results = []
    for path in MPU:
        calls_before = all_calls(emulator)
        summary = run("deploy_hook", path.read_bytes()).summary
        results.append((summary, all_calls(emulator) - calls_before))
    made = ours(emulator)
    assert made and len({s["disk_id"] for s in made}) == len(made)  # one snapshot per disk
    for index, (summary, calls) in enumerate(results):
        assert summary["ok"], summary
        if index == 3:  # CompleteMultipartUpload: the object now exists in full
            assert summary["created"] == len(made) and calls > 0
        else:
            assert calls == 0 and summary["disks"] == []
            assert summary["notes"] and "not a final upload event" in summary["notes"][0]


@pytest.mark.parametrize("case", ["c", "d"])
def test_a_manifest_under_an_encoded_key_is_found_and_read(run, emulator, oss, moto_endpoint, case):
    stored = setup_manifests(moto_endpoint)
    event = json.loads(OSSKEY[case].read_text())
    assert stored[STORED[case]].upper() == event["events"][0]["oss"]["object"]["eTag"]  # the same version
    summary = run("deploy_hook", OSSKEY[case].read_bytes()).summary
    assert summary["ok"] and summary["created"] == 1, summary
    assert [s["disk_id"] for s in ours(emulator)] == ["d-web-01-data"]
    snap = ours(emulator)[0]
    assert snap["description"].endswith(": release 1.4")


@pytest.mark.parametrize("case", ["c", "d"])
def test_a_manifest_that_is_gone_names_the_keys_tried(run, emulator, oss, case):
    summary = run("deploy_hook", OSSKEY[case].read_bytes()).summary  # nothing was stored
    assert summary["ok"] is False and summary["error"]["field"] == "key"
    assert repr(STORED[case]) in summary["error"]["rule"]
    assert all_calls(emulator) == 0


# --- the same through ``snapstack local invoke`` ----------------------------------------------------------


def local_invoke(emulator, oss_endpoint, event, tmp_path, capfd):
    argv = ["local", "invoke", "deploy_hook", "--event", str(event), "--json", *endpoint_args(emulator)]
    argv += ["--token-table", f"sqlite:///{tmp_path}/t.db", "--oss-endpoint", oss_endpoint]
    code = main(argv)
    # stdout holds only the summary; the function's log lines went to stderr
    return code, json.loads(capfd.readouterr().out)


def test_local_invoke_acts_only_on_the_complete_event(emulator, moto_endpoint, tmp_path, capfd):
    results = [local_invoke(emulator, moto_endpoint, path, tmp_path, capfd) for path in MPU]
    # exit 1 when a disk failed (the sample fleet has some that always fail), else 0
    assert [code for code, _ in results] == [1 if summary["failed"] else 0 for _, summary in results]
    created = [summary["created"] for _, summary in results]
    assert created[3] == len(ours(emulator)) > 0 and created[:3] + created[4:] == [0, 0, 0, 0]


@pytest.mark.parametrize("case", ["c", "d"])
def test_local_invoke_reads_a_manifest_under_an_encoded_key(emulator, oss, tmp_path, capfd, case):
    setup_manifests(oss.endpoint)
    code, summary = local_invoke(emulator, oss.endpoint, OSSKEY[case], tmp_path, capfd)
    assert code == 0 and summary["created"] == 1
    assert [d["disk_id"] for d in summary["disks"]] == ["d-web-01-data"]
