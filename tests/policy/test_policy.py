"""Policies are rejected whole before anything runs; tags keep their documented priority."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from snapstack.policy.model import Policy
from snapstack.policy.naming import PROVENANCE_KEYS, build_tags

BASE = {"name": "daily", "selector": {"disk_tags": {"backup": "daily"}}}
VALUES = {
    "policy": "daily",
    "trigger": "timer",
    "disk_id": "d-1",
    "instance_id": "i-1",
    "slot": "20261127",
    "date": "x",
}
PROV = {"policy": "daily", "trigger": "timer", "slot": "ss1-abc", "stack": "snapstack"}
#: Tags a policy may add: ECS allows 20 on a snapshot (seed), the provenance tags come first.
ROOM = 20 - len(PROVENANCE_KEYS)


def policy(**overrides):
    return Policy(**(BASE | overrides))


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"snapshot_name": "auto-{disk_id}"}, "must not start with 'auto'"),
        ({"snapshot_name": "{slot}-{disk_id}"}, "must start with a letter"),
        ({"snapshot_name": "snap-{unknown}"}, "unknown placeholder {unknown}"),
        ({"snapshot_name": "snap-{}"}, "unknown placeholder {}"),
        ({"snapshot_name": "snap-{0}"}, "unknown placeholder {0}"),
        ({"snapshot_name": "snap-{disk_id[0]}"}, "unknown placeholder {disk_id[0]}"),
        ({"snapshot_name": "snap-{disk_id.real}"}, "unknown placeholder {disk_id.real}"),
        ({"snapshot_name": "snap-{disk_id!r}"}, "no conversion or format spec"),
        ({"snapshot_name": "snap-{disk_id:{policy}}"}, "no conversion or format spec"),
        ({"snapshot_name": "snap-{disk_id:>{width}}"}, "no conversion or format spec"),
        ({"snapshot_name": "snap-{disk_id"}, "literal brace"),
        ({"description": "a } b"}, "literal brace"),
        ({"description": "for {reason!s:{x}}"}, "no conversion or format spec"),
        ({"snapshot_name": "snap {disk_id}"}, "may contain only"),
        ({"description": "https://{disk_id}"}, "http"),
        ({"period": "5h"}, "divide 24 hours"),
        ({"period": "999999w"}, "at most 366 days"),
        ({"period": "9" * 400 + "d"}, "expected a positive number"),
        ({"time_zone": "Asia/Nowhere"}, "IANA"),
        ({"selector": {}}, "all_disks"),
        ({"selector": {"disk_tags": {"a": "b"}, "typo": 1}}, "typo"),
        ({"retention_days": 70000}, "retention_days"),
        ({"instant_access_retention_days": 5}, "InstantAccess"),
        ({"tags": {"snapstack:slot": "x"}}, "set by snapstack"),
        ({"tags": {"acs:owner": "x"}}, "acs:"),
        ({"tags": {f"k{i}": "v" for i in range(ROOM + 1)}}, f"at most {ROOM}"),
        ({"concurrency": 0}, "concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"name": "Daily Backups"}, "name"),
    ],
)
def test_bad_policies_are_rejected_with_the_reason(overrides, needle):
    with pytest.raises(ValidationError) as info:
        policy(**overrides)
    assert needle in str(info.value)


def test_request_carries_rendered_names_and_provenance_first():
    p = policy(tags={"team": "sre"}, copy_disk_tags=True, retention_days=30)
    req = p.request_for(
        VALUES, PROV, client_token="ss1-abc", disk_tags={"app": "web", "acs:sys": "x", "team": "other"}
    )
    assert req.snapshot_name == "snapstack-daily-20261127-d-1"
    assert req.retention_days == 30 and req.client_token == "ss1-abc"
    assert [(t.key, t.value) for t in req.tags] == [
        ("snapstack:policy", "daily"),
        ("snapstack:trigger", "timer"),
        ("snapstack:slot", "ss1-abc"),
        ("snapstack:stack", "snapstack"),
        ("team", "sre"),  # the policy's value wins over the disk's
        ("app", "web"),
    ]


def test_disk_tags_are_not_copied_unless_asked():
    req = policy().request_for(VALUES, PROV, client_token="t", disk_tags={"app": "web"})
    assert "app" not in {t.key for t in req.tags}


def test_copied_tags_stop_at_twenty_and_are_counted():
    disk = {f"d{i:02d}": "v" for i in range(30)}
    tagset = build_tags({"p": "1"}, {"c": "2"}, disk)
    assert len(tagset.tags) == 20 and tagset.dropped == 12
    assert [k for k, _ in tagset.tags[:3]] == ["p", "c", "d00"]


TEMPLATE_PIECES = st.sampled_from([*"{}!:.[]0a-_ ", "{disk_id}", "{slot}", "{x}", "{reason}"])
TEMPLATE_TEXT = st.lists(TEMPLATE_PIECES, max_size=12).map("".join)


@given(TEMPLATE_TEXT)
def test_a_template_that_loads_renders_without_raising(template):
    """Whatever the text, either the policy refuses it when loaded or every rendering works."""
    try:
        loaded = policy(snapshot_name="snap-" + template.replace(" ", "-"), description="d " + template)
    except ValidationError:
        return
    values = VALUES | {"reason": "r"}
    loaded.request_for(values, PROV, client_token="ss1-x")  # no KeyError/IndexError/ValueError


def test_copied_disk_tags_go_in_key_order_whatever_order_the_disk_lists_them():
    disk = {"zone": "z", "app": "web", "acs:owner": "x", "mid": "m", "Backup": "b", "aliyun-app": "x"}
    tagset = build_tags({"snapstack:policy": "daily"}, {"team": "sre"}, disk)
    assert tagset.tags == (
        ("snapstack:policy", "daily"),
        ("team", "sre"),
        ("Backup", "b"),  # key order is code-point order: upper case first
        ("app", "web"),
        ("mid", "m"),
        ("zone", "z"),
    )
    assert tagset.dropped == 0  # system tags are skipped, not dropped


def test_the_copied_tags_that_do_not_fit_are_the_last_in_key_order():
    disk = {f"k{i:02d}": str(i) for i in reversed(range(20))}  # listed from k19 down to k00
    tagset = build_tags(dict.fromkeys(("p1", "p2", "p3"), "v"), {"c1": "v", "c2": "v"}, disk)
    assert [k for k, _ in tagset.tags[5:]] == [f"k{i:02d}" for i in range(15)]
    assert tagset.dropped == 5


def test_the_request_carries_the_copied_tags_in_key_order():
    p = policy(copy_disk_tags=True)
    req = p.request_for(VALUES, PROV, client_token="t", disk_tags={"z": "1", "b": "2", "m": "3"})
    assert [t.key for t in req.tags][len(PROVENANCE_KEYS) :] == ["b", "m", "z"]


@pytest.mark.parametrize(
    ("field", "accepted", "refused", "extra"),
    [
        ("retention_days", (1, 65536), (), {}),  # 0 and 65537: the request rule refuses them too
        ("instant_access_retention_days", (1, 65535), (), {"instant_access": True}),
        ("concurrency", (1, 64), (0, 65), {}),
        ("rate_limit", (0.5, 1000), (0, 1000.5), {}),
    ],
)
def test_numeric_settings_take_their_whole_range_and_no_more(field, accepted, refused, extra):
    for value in accepted:
        assert getattr(policy(**{field: value, **extra}), field) == value
    for value in refused:
        with pytest.raises(ValidationError, match=field):
            policy(**{field: value, **extra})


def test_the_defaults_are_the_documented_ones():
    p = policy()
    assert (p.retention_days, p.concurrency, p.rate_limit, p.period, p.time_zone) == (7, 8, 20.0, "1d", "UTC")
    assert (p.copy_disk_tags, p.instant_access, p.instant_access_retention_days) == (False, None, None)


def test_seventeen_tags_leave_room_for_the_three_provenance_tags():
    tags = {f"k{i}": "v" for i in range(ROOM)}
    assert len(policy(tags=tags).request_for(VALUES, PROV, client_token="t").tags) == 20


def test_a_description_is_optional_and_checked_when_given():
    assert policy(description=None).request_for(VALUES, PROV, client_token="t").description is None
    with pytest.raises(ValidationError, match=r"description: unknown placeholder \{disk\}"):
        policy(description="snapshot of {disk}")


def test_period_and_zone_are_read_as_objects():
    p = policy(period="6h", time_zone="Asia/Shanghai")
    assert p.period_delta == timedelta(hours=6) and p.zone == ZoneInfo("Asia/Shanghai")


def test_policies_and_selectors_are_immutable_and_request_options_named():
    p = policy()
    with pytest.raises(ValidationError, match="frozen"):
        p.concurrency = 2
    with pytest.raises(ValidationError, match="frozen"):
        p.selector.disk_type = "data"
    with pytest.raises(TypeError):
        p.request_for(VALUES, PROV, "token")


def test_no_disk_tag_is_copied_once_the_others_already_fill_twenty():
    configured = {f"c{i:02d}": "v" for i in range(18)}  # 3 + 18: more than 20 already
    tagset = build_tags(dict.fromkeys(("p1", "p2", "p3"), "v"), configured, {"app": "web", "env": "prod"})
    assert len(tagset.tags) == 21 and tagset.dropped == 2
    with pytest.raises(AttributeError):
        tagset.dropped = 0  # type: ignore[misc]
