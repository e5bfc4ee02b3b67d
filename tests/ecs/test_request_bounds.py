"""CreateSnapshotRequest at every numeric boundary of the contract (seed: the CreateSnapshot API
reference), one value inside and one outside each, and the wire-parsing branches."""

from __future__ import annotations

from typing import Any

import pytest

from snapstack.ecs.errors import InvalidRequest
from snapstack.ecs.request import MAX_TAGS, CreateSnapshotRequest, SnapshotTag


def fields(**given: Any) -> list[tuple[str, str]]:
    """(field, code) of every violation for a request with ``given`` (empty: it is valid)."""
    try:
        CreateSnapshotRequest(**{"disk_id": "d-1", **given})
    except InvalidRequest as exc:
        return [(v.field, v.code) for v in exc.violations]
    return []


@pytest.mark.parametrize(
    ("given", "broken"),
    [
        ({"description": "ab"}, []),
        ({"description": "a"}, [("Description", "InvalidDescription.Malformed")]),
        ({"description": "d" * 256}, []),
        ({"description": "d" * 257}, [("Description", "InvalidDescription.Malformed")]),
        ({"snapshot_name": "n" * 128}, []),
        ({"snapshot_name": "n" * 129}, [("SnapshotName", "InvalidSnapshotName.Malformed")]),
        ({"retention_days": 1}, []),
        ({"retention_days": 0}, [("RetentionDays", "InvalidRetentionDays.Malformed")]),
        ({"retention_days": 65536}, []),
        ({"retention_days": 65537}, [("RetentionDays", "InvalidRetentionDays.Malformed")]),
        ({"client_token": "t" * 64}, []),
        ({"client_token": "t" * 65}, [("ClientToken", "InvalidParameter")]),
        ({"client_token": "tökén"}, [("ClientToken", "InvalidParameter")]),
        ({"instant_access": True, "instant_access_retention_days": 1}, []),
        (
            {"instant_access": True, "instant_access_retention_days": 0},
            [("InstantAccessRetentionDays", "InvalidParameter")],
        ),
        ({"instant_access": True, "instant_access_retention_days": 65535}, []),
        (
            {"instant_access": True, "instant_access_retention_days": 65536},
            [("InstantAccessRetentionDays", "InvalidParameter")],
        ),
        ({"tags": (SnapshotTag(key="k" * 128, value="v" * 128),)}, []),
        ({"tags": (SnapshotTag(key="k" * 129),)}, [("Tag.1.Key", "InvalidTagKey.Malformed")]),
        ({"tags": (SnapshotTag(key="k", value="v" * 129),)}, [("Tag.1.Value", "InvalidTagValue.Malformed")]),
        ({"tags": tuple(SnapshotTag(key=f"k{n}") for n in range(MAX_TAGS))}, []),
        (
            {"tags": tuple(SnapshotTag(key=f"k{n}") for n in range(MAX_TAGS + 1))},
            [("Tag", "QuotaExceed.Tags")],
        ),
    ],
)
def test_each_limit_admits_its_last_value_and_refuses_the_next(given, broken):
    assert fields(**given) == broken


def test_a_tag_is_frozen_like_the_request():
    tag = SnapshotTag(key="k", value="v")
    with pytest.raises(ValueError, match="frozen"):
        tag.value = "w"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"RetentionDays": "7"}, {"retention_days": 7}),
        ({"InstantAccess": "TRUE", "InstantAccessRetentionDays": "3"}, {"instant_access": True}),
        ({"InstantAccess": "false"}, {"instant_access": False}),
        ({"Category": "Flash"}, {"category": "Flash"}),
    ],
)
def test_wire_values_are_parsed_by_their_kind(params, expected):
    request = CreateSnapshotRequest.from_query({"DiskId": "d-1", **params})
    assert {k: getattr(request, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("params", "broken"),
    [
        ({"RetentionDays": "seven"}, [("RetentionDays", "InvalidRetentionDays.Malformed")]),
        ({"InstantAccess": "yes"}, [("InstantAccess", "InvalidParameter")]),
        (
            {"RetentionDays": "x", "InstantAccess": "1"},
            [("RetentionDays", "InvalidRetentionDays.Malformed"), ("InstantAccess", "InvalidParameter")],
        ),
        ({f"Tag.{MAX_TAGS + 1}.Key": "k"}, [(f"Tag.{MAX_TAGS + 1}.Key", "QuotaExceed.Tags")]),
        (
            {"Tag.0.Key": "k", f"Tag.{MAX_TAGS + 2}.Key": "k"},
            [("Tag.0.Key", "InvalidParameter"), (f"Tag.{MAX_TAGS + 2}.Key", "QuotaExceed.Tags")],
        ),
    ],
)
def test_wire_values_that_do_not_parse_are_all_named(params, broken):
    with pytest.raises(InvalidRequest) as caught:
        CreateSnapshotRequest.from_query({"DiskId": "d-1", **params})
    assert [(v.field, v.code) for v in caught.value.violations] == broken


@pytest.mark.parametrize(
    ("given", "broken"),
    [
        ({}, [("DiskId", "MissingParameter")]),
        ({"disk_id": "d-1", "tags": "nope"}, [("Tag", "InvalidParameter")]),
        ({"disk_id": "d-1", "retention_days": "7"}, [("RetentionDays", "InvalidRetentionDays.Malformed")]),
        ({"disk_id": 7}, [("DiskId", "InvalidParameter")]),  # a wrong type is not "missing"
        ({"disk_id": "d-1", "snapshot_name": 5}, [("SnapshotName", "InvalidSnapshotName.Malformed")]),
    ],
)
def test_a_wrong_type_names_the_wire_field(given, broken):
    with pytest.raises(InvalidRequest) as caught:
        CreateSnapshotRequest(**given)
    assert [(v.field, v.code) for v in caught.value.violations] == broken
