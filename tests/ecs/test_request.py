"""Every CreateSnapshot parameter rule, as properties over generated input.

Each oracle below is the contract's sentence written as a predicate, independent of the
model's code; hypothesis looks for an input on which the model and the sentence disagree.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapstack.ecs.errors import InvalidRequest
from snapstack.ecs.request import CreateSnapshotRequest

NAME_ALPHABET = string.ascii_letters + string.digits + ":_-./ hé中" + "\t"
name_text = st.text(alphabet=NAME_ALPHABET, max_size=140) | st.sampled_from(
    ["auto", "autoSnap", "Auto-x", "http://x", "https://x", "a", "ab", "a" * 128, "a" * 129, "中文-1", "9abc"]
)


def build(**fields):
    return CreateSnapshotRequest(disk_id="d-1", **fields)


def rejected(code: str, field_prefix: str, **fields) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        build(**fields)
    assert info.value.code == code
    assert info.value.field.startswith(field_prefix)
    return info.value


def name_ok(s: str) -> bool:
    return (
        2 <= len(s) <= 128
        and s[0].isalpha()
        and all(c.isalpha() or c in "0123456789:_-" for c in s)
        and not s.startswith(("http://", "https://", "auto"))
    )


@given(name_text)
def test_snapshot_name(name):
    if name_ok(name):
        assert build(snapshot_name=name).snapshot_name == name
    else:
        rejected("InvalidSnapshotName.Malformed", "SnapshotName", snapshot_name=name)


@given(st.text(max_size=300) | st.sampled_from(["http://a", "https://abc", "ab", "a"]))
def test_description(text):
    if 2 <= len(text) <= 256 and not text.startswith(("http://", "https://")):
        build(description=text)
    else:
        rejected("InvalidDescription.Malformed", "Description", description=text)


@given(st.integers(min_value=-10, max_value=70000))
def test_retention_days(days):
    if 1 <= days <= 65536:
        build(retention_days=days)
    else:
        rejected("InvalidRetentionDays.Malformed", "RetentionDays", retention_days=days)


@given(st.integers(min_value=-5, max_value=70000))
def test_instant_access_retention_days(days):
    if 1 <= days <= 65535:
        assert build(instant_access=True, instant_access_retention_days=days).instant_access
    else:
        rejected(
            "InvalidParameter",
            "InstantAccessRetentionDays",
            instant_access=True,
            instant_access_retention_days=days,
        )
    # Without InstantAccess=true the service would ignore it silently: refused.
    rejected("InvalidParameter", "InstantAccessRetentionDays", instant_access_retention_days=max(days, 1))


@given(st.text(max_size=12) | st.sampled_from(["Standard", "Flash", "standard", "archive"]))
def test_category(category):
    if category in ("Standard", "Flash"):
        build(category=category)
        rejected("InvalidParameter", "Category", category=category, instant_access=False)
    else:
        rejected("InvalidSnapshotCategory.Malformed", "Category", category=category)


@given(st.text(max_size=80))
def test_client_token(token):
    if token.isascii() and len(token) <= 64:
        build(client_token=token)
    else:
        rejected("InvalidParameter", "ClientToken", client_token=token)


def key_ok(k: str) -> bool:
    return (
        bool(k)
        and len(k) <= 128
        and not k.startswith(("acs:", "aliyun"))
        and "http://" not in k
        and "https://" not in k
    )


def value_ok(v: str) -> bool:
    return len(v) <= 128 and not v.startswith("acs:") and "http://" not in v and "https://" not in v


tag_text = st.text(max_size=135) | st.sampled_from(
    ["acs:x", "aliyun", "aliyunX", "x-http://y", "ok", "", "https://"]
)


@settings(max_examples=300)
@given(st.lists(st.tuples(tag_text, tag_text), max_size=24))
def test_tags(pairs):
    tags = [{"key": k, "value": v} for k, v in pairs]
    keys = [k for k, _ in pairs]
    expected = None
    if len(pairs) > 20:
        expected = "QuotaExceed.Tags"
    else:
        for n, (k, v) in enumerate(pairs):
            if not key_ok(k):
                expected = "InvalidTagKey.Malformed"
            elif not value_ok(v):
                expected = "InvalidTagValue.Malformed"
            elif k in keys[:n]:
                expected = "Duplicate.TagKey"
            if expected:
                break
    if expected is None:
        assert [t.key for t in build(tags=tags).tags] == keys
    else:
        rejected(expected, "Tag", tags=tags)


def test_disk_id_is_required():
    with pytest.raises(InvalidRequest) as info:
        CreateSnapshotRequest()  # type: ignore[call-arg]
    assert (info.value.code, info.value.field) == ("MissingParameter", "DiskId")
    with pytest.raises(InvalidRequest):
        CreateSnapshotRequest(disk_id="")


def test_storage_location_arn_is_unavailable():
    rejected("InvalidParameter", "StorageLocationArn", storage_location_arn="acs:x")


def test_wrong_types_are_named_not_coerced():
    rejected("InvalidRetentionDays.Malformed", "RetentionDays", retention_days="7")
    rejected("InvalidRetentionDays.Malformed", "RetentionDays", retention_days=True)
    rejected("InvalidParameter", "InstantAccess", instant_access="yes")


def test_every_violation_is_reported_not_just_the_first():
    err = rejected("InvalidSnapshotName.Malformed", "SnapshotName", snapshot_name="1", retention_days=0)
    assert [v.code for v in err.violations] == [
        "InvalidSnapshotName.Malformed",
        "InvalidSnapshotName.Malformed",
        "InvalidRetentionDays.Malformed",
    ]


def test_model_is_immutable():
    req = build(snapshot_name="abc")
    with pytest.raises(Exception, match="frozen"):
        req.snapshot_name = "xyz"  # type: ignore[misc]


valid_requests = st.builds(
    CreateSnapshotRequest,
    disk_id=st.from_regex(r"d-[a-z0-9]{6,20}", fullmatch=True),
    snapshot_name=st.none() | st.from_regex(r"[a-zA-Z][a-zA-Z0-9:_-]{1,40}", fullmatch=True).filter(name_ok),
    description=st.none() | st.from_regex(r"[a-z][a-z ]{1,60}", fullmatch=True),
    retention_days=st.none() | st.integers(1, 65536),
    instant_access=st.none() | st.booleans(),
    client_token=st.none() | st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True),
    resource_group_id=st.none() | st.just("rg-abc"),
    tags=st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), unique=True, max_size=20).map(
        lambda keys: tuple({"key": k, "value": k.upper()} for k in keys)
    ),
)


@given(valid_requests)
def test_round_trips_through_the_sdk_and_the_wire(req):
    assert CreateSnapshotRequest.from_sdk(req.to_sdk()) == req
    assert CreateSnapshotRequest.from_query(req.to_query()) == req


def test_deprecated_lower_case_tag_spellings_are_read():
    req = CreateSnapshotRequest.from_query(
        {"DiskId": "d-1", "Tag.1.key": "old", "Tag.1.value": "v1", "Tag.2.Key": "new", "Tag.2.Value": "v2"}
    )
    assert [(t.key, t.value) for t in req.tags] == [("old", "v1"), ("new", "v2")]
    both = CreateSnapshotRequest.from_query({"DiskId": "d-1", "Tag.1.key": "old", "Tag.1.Key": "current"})
    assert both.tags[0].key == "current"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "MissingParameter"),
        ({"DiskId": "d", "RetentionDays": "seven"}, "InvalidRetentionDays.Malformed"),
        ({"DiskId": "d", "InstantAccess": "maybe"}, "InvalidParameter"),
        ({"DiskId": "d", "Tag.21.Key": "k"}, "QuotaExceed.Tags"),
        ({"DiskId": "d", "Tag.0.Key": "k"}, "InvalidParameter"),
        ({"DiskId": "d", "Tag.1.Value": "v"}, "InvalidTagKey.Malformed"),
    ],
)
def test_wire_parsing_errors(params, code):
    with pytest.raises(InvalidRequest) as info:
        CreateSnapshotRequest.from_query(params)
    assert info.value.code == code


def test_wire_booleans_follow_the_sdk(server, make_client):
    """What the SDK puts on the wire is what ``to_query`` says it does."""
    req = build(
        snapshot_name="abc",
        instant_access=True,
        instant_access_retention_days=3,
        retention_days=7,
        client_token="t",
        tags=({"key": "k", "value": ""},),
    )
    server.answers = [server.ok(SnapshotId="s-1")]
    make_client().create_snapshot(req)
    sent = server.requests[0].query
    assert {k: sent[k] for k in req.to_query()} == req.to_query()


def test_tag_rules_name_the_tag_by_its_one_based_number_and_stop_at_128():
    ok = CreateSnapshotRequest(disk_id="d-1", tags=({"key": "k" * 128, "value": "v" * 128},))
    assert len(ok.tags[0].value) == 128
    with pytest.raises(InvalidRequest) as info:
        CreateSnapshotRequest(disk_id="d-1", tags=({"key": "a", "value": "v" * 129},))
    assert (info.value.field, info.value.code) == ("Tag.1.Value", "InvalidTagValue.Malformed")


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"disk_id": 5}, "DiskId", "InvalidParameter"),  # present but not a string: not "missing"
        ({"disk_id": "d-1", "snapshot_name": 5}, "SnapshotName", "InvalidSnapshotName.Malformed"),
        ({"disk_id": "d-1", "tags": "app=web"}, "Tag", "InvalidParameter"),
    ],
)
def test_a_wrong_type_is_named_by_its_wire_field(data, field, code):
    with pytest.raises(InvalidRequest) as info:
        CreateSnapshotRequest(**data)
    assert (info.value.field, info.value.code) == (field, code)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"tags": [{"key": 5, "value": "v"}]}, "Tag"),  # inside a tag: the error names the parameter
        ({"bogus": 1}, "bogus"),  # not a parameter: named as given
        ({"retention_days": "x"}, "RetentionDays"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_by_its_wire_parameter(given, field):
    with pytest.raises(InvalidRequest) as caught:
        CreateSnapshotRequest(disk_id="d-1", **given)
    assert caught.value.field == field
