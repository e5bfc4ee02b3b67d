"""Selectors: every field alone and combined, in ``matches``, ``resolve`` (against the emulator's
sample fleet, through every query path) and the allow-list check of ``split_allowed``.

Criteria are AND-ed and exclusions win (policy/model.py ``Selector``); the allow-list can only
narrow what an event names, so a union where an intersection belongs is a widening.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from devkit.emulator.testing import EcsEmulator
from snapstack.ecs.client import EcsClient, EcsConfig
from snapstack.ecs.credentials import Credentials
from snapstack.ecs.retry import RetryPolicy
from snapstack.handlers.planning import split_allowed
from snapstack.policy.model import Selector
from snapstack.targets import Disk, matches, resolve

REGION = "cn-hangzhou"

# A small hand-made universe for ``matches``.
A = Disk(disk_id="d-a", instance_id="i-1", type="system", tags={"app": "web", "env": "prod"})
B = Disk(disk_id="d-b", instance_id="i-1", type="data", tags={"app": "web", "env": "dev"})
C = Disk(disk_id="d-c", instance_id="i-2", type="data", tags={"app": "db", "env": "prod", "pii": "yes"})
D = Disk(disk_id="d-d", instance_id=None, type="data", tags={})
UNIVERSE = (A, B, C, D)


def picked(selector: dict[str, Any], instances: set[str] | None = None) -> set[str]:
    rule = Selector(**selector)
    return {d.disk_id for d in UNIVERSE if matches(d, rule, instances)}


@pytest.mark.parametrize(
    ("selector", "instances", "expected"),
    [
        ({"disk_ids": ["d-a", "d-c", "d-x"]}, None, {"d-a", "d-c"}),
        ({"all_disks": True}, {"i-1"}, {"d-a", "d-b"}),  # instances: resolved ids of instance criteria
        ({"all_disks": True}, set(), set()),  # instance criteria that matched no instance: nothing
        ({"disk_tags": {"app": "web"}}, None, {"d-a", "d-b"}),
        ({"disk_tags": {"app": "web", "env": "prod"}}, None, {"d-a"}),  # every tag must match
        ({"disk_tags": {"env": ""}}, None, set()),  # an empty value is a value, not a wildcard
        ({"all_disks": True, "disk_type": "system"}, None, {"d-a"}),
        ({"all_disks": True, "disk_type": "data"}, None, {"d-b", "d-c", "d-d"}),
        ({"all_disks": True, "disk_type": "all"}, None, {"d-a", "d-b", "d-c", "d-d"}),
        ({"all_disks": True, "exclude_disk_ids": ["d-b", "d-x"]}, None, {"d-a", "d-c", "d-d"}),
        ({"all_disks": True, "exclude_disk_tags": {"env": "prod"}}, None, {"d-b", "d-d"}),
        ({"all_disks": True, "exclude_disk_tags": {"env": "dev", "pii": "yes"}}, None, {"d-a", "d-d"}),
    ],
    ids=[
        "disk_ids",
        "instances",
        "no-instance",
        "disk_tags",
        "disk_tags-all",
        "disk_tags-empty",
        "system",
        "data",
        "all-types",
        "exclude_disk_ids",
        "exclude_disk_tags",
        "exclude_disk_tags-any",
    ],
)
def test_each_selector_field_alone(selector, instances, expected):
    assert picked(selector, instances) == expected


def test_every_criterion_must_hold_and_exclusions_win():
    selector = {
        "disk_ids": ["d-a", "d-b", "d-c"],
        "disk_tags": {"app": "web"},
        "disk_type": "data",
    }
    assert picked(selector, {"i-1", "i-2"}) == {"d-b"}  # only d-b is all of: listed, web, data, on them
    assert picked(selector, {"i-2"}) == set()  # d-b is not on i-2
    assert picked({**selector, "exclude_disk_ids": ["d-b"]}, {"i-1"}) == set()
    assert picked({**selector, "exclude_disk_tags": {"env": "dev"}}, {"i-1"}) == set()
    assert picked({**selector, "disk_type": "system"}, {"i-1"}) == {"d-a"}
    assert picked({**selector, "disk_type": "system", "exclude_disk_tags": {"env": "prod"}}, {"i-1"}) == set()


# --- resolve and split_allowed against the emulator ------------------------------------------------


@pytest.fixture(scope="module")
def ecs() -> Iterator[EcsClient]:
    with EcsEmulator() as emu:
        creds = emu.credentials
        config = EcsConfig(REGION, endpoint=emu.endpoint, protocol="http", retry=RetryPolicy(max_attempts=1))
        yield EcsClient(config, Credentials(creds.access_key_id, creds.access_key_secret))


WEB01 = {
    "d-web-01-system",
    "d-web-01-data",
    "d-local-01",
    "d-ephemeral-01",
    "d-kms-gone-01",
    "d-kms-off-01",
    "d-shared-01",
    "d-shared-busy-01",
    "d-shared-gone-01",
}
WEB02 = {
    "d-web-02-system",
    "d-web-02-data",
    "d-fresh-01",
    "d-arrears-01",
    "d-expired-01",
    "d-transfer-01",
    "d-attaching-01",
    "d-invalid-01",
}
DB01 = {"d-db-01-system", "d-db-01-data"}
LOCKED = {"d-locked-01-system"}
SYSTEM = {
    "d-web-01-system",
    "d-web-02-system",
    "d-db-01-system",
    "d-batch-01-system",
    "d-locked-01-system",
    "d-api-01-system",
    "d-new-01-system",
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"instance_ids": ["i-web-01"]}, WEB01),
        ({"instance_tags": {"app": "web"}}, WEB01 | WEB02 | LOCKED),  # tags of the instance, not the disk
        (
            {"instance_tags": {"app": "web", "env": "prod"}, "disk_type": "system"},
            SYSTEM & (WEB01 | WEB02 | LOCKED),
        ),
        ({"instance_ids": ["i-web-01", "i-db-01"], "instance_tags": {"app": "web"}}, WEB01),  # both
        ({"instance_ids": ["i-db-01"], "instance_tags": {"app": "web"}}, set()),
        (
            {
                "disk_ids": ["d-web-01-data", "d-db-01-data", "d-spare-01"],
                "instance_tags": {"backup": "daily"},
            },
            {"d-web-01-data", "d-db-01-data"},
        ),
        (
            {"disk_tags": {"backup": "daily"}, "exclude_disk_ids": ["d-shared-01"], "disk_type": "data"},
            {"d-web-01-data", "d-web-02-data", "d-db-01-data"},
        ),
        (
            {"instance_tags": {"env": "prod"}, "exclude_disk_tags": {"backup": "daily"}},
            (WEB01 | WEB02)
            - {"d-web-01-system", "d-web-01-data", "d-web-02-system", "d-web-02-data", "d-shared-01"},
        ),
        ({"all_disks": True, "disk_type": "system"}, SYSTEM),
    ],
)
def test_resolve_applies_every_criterion_whatever_query_ran(ecs, selector, expected):
    disks = resolve(ecs, REGION, Selector(**selector))
    assert [d.disk_id for d in disks] == sorted(expected)


WEB_DATA = {"d-web-01-data", "d-web-02-data"}


@pytest.mark.parametrize(
    ("allow", "kept"),
    [
        ({"instance_tags": {"app": "web"}}, WEB_DATA),
        ({"instance_ids": ["i-web-01", "i-db-01"], "instance_tags": {"app": "web"}}, {"d-web-01-data"}),
        ({"instance_ids": ["i-web-02"], "instance_tags": {"app": "db"}}, set()),  # no instance is both
        ({"disk_tags": {"env": "prod"}, "exclude_disk_ids": ["d-db-01-data"]}, WEB_DATA),
        ({"disk_tags": {"env": "prod"}, "exclude_disk_tags": {"app": "web"}}, {"d-db-01-data"}),
        ({"all_disks": True, "disk_type": "system"}, set()),
    ],
)
def test_the_allow_list_only_narrows(ecs, allow, kept):
    requested = resolve(ecs, REGION, Selector(disk_ids=["d-web-01-data", "d-web-02-data", "d-db-01-data"]))
    runtime: Any = SimpleNamespace(ecs=ecs, region=REGION)  # split_allowed reads only these two
    allowed, refused = split_allowed(runtime, requested, Selector(**allow))
    assert {d.disk_id for d in allowed} == kept
    assert {r.disk_id for r in refused} == {d.disk_id for d in requested} - kept
    assert all(r.outcome.value in {"skipped", "denied"} and r.error_code == "NotAllowed" for r in refused)


# --- what each query costs: the paging and batching constants, seen as DescribeDisks calls ---------


@pytest.fixture(scope="module")
def large() -> Iterator[tuple[EcsEmulator, EcsClient]]:
    from devkit.emulator.fleet import generate_fleet

    with EcsEmulator(fleet=generate_fleet(600, snapshot_seconds=0)) as emu:
        creds = emu.credentials
        config = EcsConfig(REGION, endpoint=emu.endpoint, protocol="http", retry=RetryPolicy(max_attempts=1))
        yield emu, EcsClient(config, Credentials(creds.access_key_id, creds.access_key_secret))


def describe_calls(large: tuple[EcsEmulator, EcsClient], selector: dict[str, Any]) -> tuple[int, int]:
    """(DescribeDisks calls, disks found) for one resolve."""
    emu, ecs = large
    before = emu.calls("DescribeDisks")
    found = resolve(ecs, REGION, Selector(**selector))
    return emu.calls("DescribeDisks") - before, len(found)


@pytest.mark.parametrize(
    ("selector", "calls", "disks"),
    [
        ({"all_disks": True}, 2, 600),  # 500 a page (DescribeDisks MaxResults)
        ({"disk_ids": [f"d-gen-{n:06d}" for n in range(199)]}, 2, 199),  # 100 ids a call
        ({"disk_ids": [f"d-gen-{n:06d}" for n in range(599, 800)]}, 3, 1),  # only d-gen-000599 exists
        ({"instance_ids": [f"i-gen-{n:05d}" for n in range(20)]}, 20, 80),  # up to 20: a call each
        ({"instance_ids": [f"i-gen-{n:05d}" for n in range(5)]}, 5, 20),
        ({"instance_ids": [f"i-gen-{n:05d}" for n in range(21)]}, 2, 84),  # more: one region scan, 2 pages
    ],
    ids=["scan", "ids-199", "ids-201", "instances-20", "instances-5", "instances-21"],
)
def test_each_query_costs_what_its_limits_say(large, selector, calls, disks):
    assert describe_calls(large, selector) == (calls, disks)


def test_a_resolved_disk_carries_what_describe_disks_said(large):
    _, ecs = large
    (disk,) = resolve(ecs, REGION, Selector(disk_ids=["d-gen-000000"]))
    assert (disk.instance_id, disk.type, disk.category) == ("i-gen-00000", "system", "cloud_essd")
    assert disk.tags == {"app": "batch", "env": "staging", "backup": "daily"}
    with pytest.raises(ValidationError, match="frozen"):
        disk.type = "data"
