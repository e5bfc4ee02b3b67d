"""The hook's request: the D4 payload, the derived invocation id (FC's rule, stable, distinct), verdicts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit import exitcodes
from devkit.fc.models import INVOCATION_ID
from devkit.hook.request import UsageError, build_request
from devkit.hook.wait import judge

deploy_ids = st.text(min_size=1, max_size=300).filter(lambda s: s.strip())
targets = st.fixed_dictionaries(
    {
        "instances": st.lists(st.from_regex(r"i-[a-z0-9]{1,12}", fullmatch=True), max_size=4),
        "disks": st.lists(st.from_regex(r"d-[a-z0-9]{1,12}", fullmatch=True), min_size=1, max_size=4),
        "tags": st.lists(
            st.from_regex(r"[a-z]{1,5}=[a-z0-9]{0,5}", fullmatch=True),
            max_size=3,
            unique_by=lambda t: t.split("=")[0],
        ),
    }
)


@given(deploy_ids, targets)
def test_invocation_id_follows_fc_rule_and_is_stable(deploy_id: str, target: dict[str, Any]) -> None:
    first = build_request(deploy_id, "reason one", **target).invocation_id()
    again = build_request(deploy_id, "another reason", **target).invocation_id()
    assert INVOCATION_ID.match(first), first
    assert first == again  # the reason is free text: a re-run may change it


@given(deploy_ids, deploy_ids, targets)
def test_different_deploy_ids_never_share_an_invocation_id(a: str, b: str, target: dict[str, Any]) -> None:
    if a.strip() == b.strip():
        return
    assert build_request(a, "r", **target).invocation_id() != build_request(b, "r", **target).invocation_id()


def test_ids_that_read_the_same_once_reduced_still_differ() -> None:
    one = build_request("release/1.2", "r", disks=["d-1"]).invocation_id()
    two = build_request("release 1.2", "r", disks=["d-1"]).invocation_id()
    assert one.startswith("snapstack-release-1-2-")
    assert two.startswith("snapstack-release-1-2-")
    assert one != two


def test_target_order_and_repeats_do_not_change_the_id() -> None:
    a = build_request("r1", "x", disks=["d-2", "d-1", "d-2"], tags=["b=2", "a=1"]).invocation_id()
    b = build_request("r1", "x", disks=["d-1", "d-2"], tags=["a=1", "b=2"]).invocation_id()
    assert a == b
    assert build_request("r1", "x", disks=["d-1"]).invocation_id() != a  # other targets, other task


def test_payload_names_only_the_target_kinds_given() -> None:
    request = build_request(" rel-9 ", "why", disks=["d-1", "d-1"], tags=["env=prod"])
    assert json.loads(request.body()) == {
        "deploy_id": "rel-9",
        "reason": "why",
        "disk_ids": ["d-1"],
        "disk_tags": {"env": "prod"},
    }


def test_a_deploy_id_without_fc_characters_still_gets_an_id() -> None:
    value = build_request("版本/七", "r", disks=["d-1"]).invocation_id()
    assert INVOCATION_ID.match(value)
    assert len(value) == len("snapstack-") + 16


def test_empty_target_is_refused() -> None:
    with pytest.raises(UsageError, match="--disk: an empty id"):
        build_request("r", "x", disks=[" "])


# --- verdicts of --wait ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"status": "Succeeded", "returnPayload": json.dumps({"ok": True, "created": 2})}, exitcodes.OK),
        ({"status": "Succeeded", "returnPayload": json.dumps({"ok": True, "skipped": 1})}, exitcodes.OK),
        ({"status": "Succeeded"}, exitcodes.OK),
        ({"status": "Succeeded", "returnPayload": "not json"}, exitcodes.OK),
        (
            {"status": "Succeeded", "returnPayload": json.dumps({"ok": True, "failed": 1, "denied": 1})},
            exitcodes.FAILED,
        ),
        (
            {"status": "Succeeded", "returnPayload": json.dumps({"ok": True, "in_progress": 1})},
            exitcodes.INCOMPLETE,
        ),
        ({"status": "Failed", "invocationErrorMessage": "UnhandledInvocationError"}, exitcodes.FAILED),
        ({"status": "Expired"}, exitcodes.FAILED),
        ({"status": "Invalid"}, exitcodes.FAILED),
    ],
)
def test_judge(record: dict[str, Any], code: int) -> None:
    assert judge(record).exit_code == code
