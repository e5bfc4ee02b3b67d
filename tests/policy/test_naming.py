"""Untrusted text (reasons, rule ids, object keys, deploy ids) is bounded and cleaned before ECS sees it."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from snapstack.ecs.request import CreateSnapshotRequest
from snapstack.policy.model import Policy
from snapstack.policy.naming import REASON_MAX, SLOT_LABEL_MAX, clean_text, name_part

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HOSTILE = st.text(
    alphabet=st.characters(codec="utf-8")
    | st.sampled_from(list(BIDI + "\n\r\t\x00\x1b\x7f\u2028\u2029\u200b")),
    max_size=400,
)
NAME_CHARS = re.compile(r"[A-Za-z0-9:_-]+")


@settings(max_examples=500, deadline=None)
@given(text=HOSTILE)
def test_clean_text_leaves_no_control_format_or_line_break_and_stays_bounded(text):
    out = clean_text(text)
    assert len(out) <= REASON_MAX
    assert not any(unicodedata.category(c)[0] == "C" for c in out)
    assert "\n" not in out and "\u2028" not in out and "\u2029" not in out
    assert out == out.strip() and "  " not in out
    assert clean_text(out) == out  # idempotent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web 1.4.2 <rollout>", "web 1.4.2 <rollout>"),
        ("line one\nline two\r\n\tthree", "line one line two three"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override hides the real order
        ("a\x00b\x1b[31mc", "ab[31mc"),
        ("发布 1.4 版本", "发布 1.4 版本"),
        ("zero\u200bwidth", "zerowidth"),
        ("x" * 500, "x" * REASON_MAX),
    ],
)
def test_clean_text_examples(text, expected):
    assert clean_text(text) == expected


@settings(max_examples=500, deadline=None)
@given(text=HOSTILE)
def test_name_part_is_a_bounded_snapshot_name_piece(text):
    out = name_part(text)
    assert 1 <= len(out) <= SLOT_LABEL_MAX
    assert NAME_CHARS.fullmatch(out)
    name = f"snapstack-deploy-{out}-d-web-01-data"
    CreateSnapshotRequest(disk_id="d-web-01-data", snapshot_name=name, client_token="t")  # raises if not


@given(
    prefix=st.text(alphabet="abc19", min_size=SLOT_LABEL_MAX + 1, max_size=60),
    a=st.text(min_size=1),
    b=st.text(min_size=1),
)
def test_long_values_sharing_a_beginning_get_different_labels(prefix, a, b):
    if a != b:
        assert name_part(prefix + a) != name_part(prefix + b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web-1.4.2", "web-1-4-2"),
        ("20261127T0000", "20261127T0000"),
        ("releases/web/1.4.2/", "releases-web-1-4-2"),
    ],
)
def test_name_part_examples(text, expected):
    assert name_part(text) == expected


BASE = {"name": "deploy", "selector": {"disk_tags": {"env": "prod"}}}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"description": "{reason} for {disk_id}"}, "may not start with {reason}"),
        ({"description": "{reason}"}, "may not start with {reason}"),
        ({"description": "x" * 200 + " {reason}"}, "a reason of 100 characters"),
        ({"description": "x{reason}"}, "a reason of 0 characters"),
    ],
)
def test_a_policy_must_hold_for_any_reason_an_event_may_send(overrides, needle):
    with pytest.raises(ValidationError) as info:
        Policy(**(BASE | overrides))
    assert needle in str(info.value)
