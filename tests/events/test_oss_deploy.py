"""OSS records as the deploy hook reads them (final events, keys) and the direct deploy request."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapstack.events import DeployRequest, EventDecodeError, OssEvent, decode_event
from snapstack.events.oss import FINAL_EVENT_NAMES, MAX_KEY_BYTES, key_problem
from tests.events.conftest import EVENTS, as_bytes, sample

FIELD = EVENTS.parent / "tests" / "data" / "field"
ALL_OSS_EVENT_NAMES = [  # FC's OSS trigger event list (events/README.md)
    "ObjectCreated:PutObject",
    "ObjectCreated:PutSymlink",
    "ObjectCreated:PostObject",
    "ObjectCreated:CopyObject",
    "ObjectCreated:InitiateMultipartUpload",
    "ObjectCreated:UploadPart",
    "ObjectCreated:UploadPartCopy",
    "ObjectCreated:CompleteMultipartUpload",
    "ObjectCreated:AppendObject",
    "ObjectRemoved:DeleteObject",
    "ObjectRemoved:DeleteObjects",
    "ObjectRemoved:AbortMultipartUpload",
    "ObjectModified:UpdateObjectMeta",
]
FINAL = {
    "ObjectCreated:PutObject",
    "ObjectCreated:PostObject",
    "ObjectCreated:CopyObject",
    "ObjectCreated:CompleteMultipartUpload",
}


def record_with(**changes):
    value = sample("oss_put_object.json")
    item = value["events"][0]
    if "key" in changes:
        item["oss"]["object"]["key"] = changes.pop("key")
    item.update(changes)
    event = decode_event(as_bytes(value), expect="deploy")
    assert isinstance(event, OssEvent)
    return event.records[0]


def test_the_final_names_are_the_trigger_spelling_of_the_final_events():
    assert all(name.startswith("oss:ObjectCreated:") for name in FINAL_EVENT_NAMES)
    assert {name.removeprefix("oss:") for name in FINAL_EVENT_NAMES} == FINAL


@pytest.mark.parametrize("name", ALL_OSS_EVENT_NAMES)
@pytest.mark.parametrize("prefix", ["", "oss:"])
def test_only_final_events_mean_the_object_exists_in_full(name, prefix):
    assert record_with(eventName=prefix + name).is_final == (name in FINAL)


@pytest.mark.parametrize(("index", "final"), [(0, False), (1, False), (2, False), (3, True), (4, False)])
def test_a_multipart_upload_then_a_delete_has_one_final_event(index, final):
    event = decode_event((FIELD / f"oss_mpu_{index}.json").read_bytes(), expect="deploy")
    assert isinstance(event, OssEvent)
    assert event.records[0].is_final is final


# --- keys --------------------------------------------------------------------------------------------

KEY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(list(" +%/2Bé清")),
    min_size=1,
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(key=KEY_TEXT, form_encoded=st.booleans())
def test_the_stored_key_is_a_candidate_whichever_way_oss_delivers_it(key, form_encoded):
    delivered = quote_plus(key, safe="/") if form_encoded else key
    record = record_with(key=delivered)
    assert key in record.key_candidates
    assert record.key_candidates[0] == record.object_key
    assert len(record.key_candidates) <= 2


@pytest.mark.parametrize(
    ("stored", "delivered"),
    [
        ("releases/web app/manifest.json", "releases/web+app/manifest.json"),  # field case c
        ("releases/web/build%2B7/manifest.json", "releases/web/build%2B7/manifest.json"),  # field case d
        ("releases/web/a+b/manifest.json", "releases/web/a%2Bb/manifest.json"),
        ("releases/web/a+b/manifest.json", "releases/web/a+b/manifest.json"),
        ("releases/web/清单/manifest.json", "releases/web/%E6%B8%85%E5%8D%95/manifest.json"),
        ("releases/web/清单/manifest.json", "releases/web/清单/manifest.json"),
    ],
)
def test_field_and_edge_keys_reach_their_object(stored, delivered):
    assert stored in record_with(key=delivered).key_candidates


@pytest.mark.parametrize(
    "key",
    [
        "/etc/passwd",
        "\\\\server\\share",
        "releases/../../other-bucket/x",
        "releases/./manifest.json",
        "..",
        "releases//manifest.json",
        "releases/web/\x00manifest.json",
        "releases/web/\nmanifest.json",
        "releases/web/\x7f",
        "x" * (MAX_KEY_BYTES + 1),
        "清" * 342,  # 1026 bytes of UTF-8
    ],
)
def test_keys_that_are_not_plain_object_keys_are_named(key):
    assert key_problem(key)


@pytest.mark.parametrize(
    "key",
    ["releases/web/1.4.2/app.tar.gz", "releases/web/", "a", "releases/web app/清单 v2+1%.json", "x" * 1023],
)
def test_plain_keys_pass(key):
    assert key_problem(key) is None


# --- the direct deploy request (decision D4) --------------------------------------------------------


def test_a_deploy_request_decodes_from_the_sample():
    event = decode_event((EVENTS / "deploy_invoke.json").read_bytes(), expect="deploy")
    assert isinstance(event, DeployRequest)
    assert event.deploy_id == "web-1.4.2-build-7"
    assert event.instance_ids == ("i-web-01",)
    assert [s.instance_ids for s in event.selectors()] == [("i-web-01",)]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"instance_ids": ["i-web-01"], "deploy_id": ""}, "deploy_id"),
        ({"instance_ids": ["i-web-01"], "deploy_id": "has space"}, "deploy_id"),
        ({"instance_ids": ["i-web-01"], "deploy_id": "x" * 129}, "deploy_id"),
        ({"instance_ids": ["i-web-01"], "deploy_id": 42}, "deploy_id"),
        ({"deploy_id": "d1"}, "$"),  # no target
        ({"deploy_id": "d1", "instance_ids": ["web-01"]}, "$"),
        ({"deploy_id": "d1", "instance_ids": "i-web-01"}, "instance_ids"),
        ({"deploy_id": "d1", "instance_ids": ["i-web-01"], "retention_days": 365}, "retention_days"),
        ({"deploy_id": "d1", "instance_ids": ["i-web-01"], "tags": {"k": "v"}}, "tags"),
        ({"deploy_id": "d1", "instance_ids": ["i-web-01"], "snapshot_name": "x"}, "snapshot_name"),
        ({"deploy_id": "d1", "instance_ids": ["i-web-01"], "policy": "daily"}, "policy"),
        ({"deploy_id": "d1", "disk_tags": {"app": 1}}, "disk_tags.app"),
        ({"deploy_id": "d1", "disk_tags": {"": "web"}}, "disk_tags"),
        ({"deploy_id": "d1", "disk_ids": ["d-1"] * 101}, "disk_ids"),
        ({"deploy_id": "d1", "disk_ids": ["d-1"], "reason": "x" * 501}, "reason"),
    ],
)
def test_a_deploy_request_names_what_it_may_not_say(payload, field):
    with pytest.raises(EventDecodeError) as info:
        decode_event(json.dumps(payload).encode(), expect="deploy")
    assert info.value.shape == "deploy"
    assert info.value.field == field


@pytest.mark.parametrize("expect", ["timer", "oss", "alarm", "mns"])
def test_other_handlers_refuse_a_deploy_request(expect):
    payload = json.dumps({"deploy_id": "d1", "instance_ids": ["i-web-01"]}).encode()
    if expect == "mns":  # an MNS trigger delivers any JSON as a STREAM body
        assert decode_event(payload, expect=expect) is not None
        return
    with pytest.raises(EventDecodeError, match="deploy"):
        decode_event(payload, expect=expect)
