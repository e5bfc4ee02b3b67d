"""deploy_hook's details that the broader end-to-end tests leave open: the note for a request that
matched nothing, the label a release without a deploy id shows in snapshot names, and how much
of an untrusted bucket, region or key a refusal quotes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from snapstack.handlers.deploy import Release

from .conftest import oss_event, ours


def test_a_request_that_matched_no_disk_says_so_and_one_outside_the_allow_list_is_denied(run, emulator):
    nothing = run("deploy_hook", {"deploy_id": "r1", "reason": "x", "disk_ids": ["d-nowhere"]}).summary
    assert (nothing["ok"], nothing["disks"]) == (True, [])
    assert nothing["notes"] == ["request: the request matched no disks"]

    outside = run(
        "deploy_hook", {"deploy_id": "r2", "reason": "x", "disk_ids": ["d-batch-01-system"]}
    ).summary
    assert [(d["disk_id"], d["outcome"]) for d in outside["disks"]] == [("d-batch-01-system", "denied")]
    assert outside["notes"] == []  # denied is an answer: no "matched no disks" note
    assert emulator.calls("CreateSnapshot") == 0


@pytest.mark.parametrize("key", ["manifest.json", "drops/2026/manifest.json"])
def test_a_release_without_deploy_id_is_named_by_its_objects_file_name_and_etag(run, emulator, oss, key):
    event = oss.put(key, json.dumps({"disk_ids": ["d-web-01-data"]}).encode())
    etag = event["events"][0]["oss"]["object"]["eTag"]
    summary = run("deploy_hook", event).summary
    assert summary["created"] == 1 and summary["deploy"] == f"{key}@{etag}"
    (snapshot,) = ours(emulator)
    assert snapshot["name"] == f"snapstack-deploy-manifest-json-{etag[:8]}-d-web-01-data"


def refused(run: Any, event: dict[str, Any]) -> tuple[str, str]:
    summary = run("deploy_hook", event).summary
    assert summary["ok"] is False
    return summary["error"]["field"], summary["error"]["rule"]


def test_a_refusal_quotes_at_most_64_characters_of_a_bucket_or_region(run, emulator):
    event = oss_event("releases/web/app.tar.gz", "A" * 32, 10)
    record = event["events"][0]
    name = "b" * 63 + "XYZ"
    record["oss"]["bucket"].update({"name": name, "arn": f"acs:oss:cn-hangzhou:1:{name}"})
    assert refused(run, event) == ("oss.bucket.name", f"{'b' * 63 + 'X'!r} is not a deploy bucket")

    event = oss_event("releases/web/app.tar.gz", "A" * 32, 10)
    event["events"][0]["region"] = "r" * 63 + "XYZ"
    assert refused(run, event) == (
        "region",
        f"{'r' * 63 + 'X'!r} is not this function's region 'cn-hangzhou'",
    )
    assert emulator.calls("CreateSnapshot") == 0


def test_a_refusal_quotes_at_most_200_characters_of_a_key(run, emulator):
    key = "releases/" + "k" * 190 + "XYZ/../app.tar.gz"
    event = oss_event(key, "A" * 32, 10)
    assert refused(run, event) == (
        "oss.object.key",
        f"{key[:200]!r} must not contain '.', '..' or empty path segments",
    )
    assert key[:200].endswith("kX")


def test_an_event_whose_every_record_is_refused_is_bad_input_however_many(run, emulator):
    event = oss_event("releases/web/app.tar.gz", "A" * 32, 10)
    record = event["events"][0]
    record["oss"]["bucket"].update({"name": "elsewhere", "arn": "acs:oss:cn-hangzhou:1:elsewhere"})
    event["events"] = [record] * 300  # past the integers CPython keeps one object of
    assert refused(run, event) == ("oss.bucket.name", "'elsewhere' is not a deploy bucket")
    assert emulator.calls("DescribeDisks") == 0


@pytest.mark.parametrize("other", ["a-bucket", "zz-bucket"])  # sorting before or after the name
def test_an_arn_naming_another_bucket_is_refused(run, emulator, other):
    event = oss_event("releases/web/app.tar.gz", "A" * 32, 10)
    event["events"][0]["oss"]["bucket"]["arn"] = f"acs:oss:cn-hangzhou:1:{other}"
    assert refused(run, event) == ("oss.bucket.arn", "names another bucket than oss.bucket.name")


def test_a_release_is_immutable():
    release = Release("web-1", [], "why", "request", "web-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        release.deploy_id = "web-2"


def test_records_after_an_ignored_or_refused_one_are_still_read(run, emulator):
    event = oss_event("releases/web/app.tar.gz", "A" * 32, 10)
    final = event["events"][0]
    initiate = {**final, "eventName": "ObjectCreated:InitiateMultipartUpload"}
    foreign = json.loads(json.dumps(final))
    foreign["oss"]["bucket"].update({"name": "elsewhere", "arn": "acs:oss:cn-hangzhou:1:elsewhere"})
    event["events"] = [initiate, foreign, final]
    summary = run("deploy_hook", event).summary
    assert summary["ok"] is True and summary["created"] >= 1
    assert [n.split(":")[0] for n in summary["notes"]] == ["releases/web/app.tar.gz", "record 1 refused"]


def test_when_every_record_is_refused_the_first_ones_reason_is_given(run, emulator):
    event = oss_event("releases/web/app.tar.gz", "A" * 32, 10)
    foreign = json.loads(json.dumps(event["events"][0]))
    foreign["oss"]["bucket"].update({"name": "elsewhere", "arn": "acs:oss:cn-hangzhou:1:elsewhere"})
    astray = json.loads(json.dumps(event["events"][0]))
    astray["region"] = "cn-beijing"
    event["events"] = [foreign, astray]
    assert refused(run, event)[0] == "oss.bucket.name"
    event["events"] = [astray, foreign]
    assert refused(run, event)[0] == "region"


def test_without_a_region_variable_the_fc_contexts_region_is_the_functions(run, emulator):
    unset = {"SNAPSTACK_REGION": "", "FC_REGION": "", "ALIBABA_CLOUD_REGION_ID": ""}
    summary = run("deploy_hook", oss_event("releases/web/app.tar.gz", "A" * 32, 10), env=unset).summary
    assert summary["ok"] is True and summary["created"] >= 1
