"""scheduled_backup's timer payload: which policy it asks for, and which policy that picks."""

from __future__ import annotations

from typing import Any

import pytest

from snapstack.config import ScheduledConfig
from snapstack.handlers.runtime import BadInput
from snapstack.handlers.scheduled import choose_policy, requested_policy

DAILY = {"name": "daily", "selector": {"all_disks": True}}
WEEKLY = {"name": "weekly", "selector": {"disk_tags": {"backup": "weekly"}}, "period": "1w"}
INLINE = {"allow": {"disk_tags": {"team": "web"}}, "max_retention_days": 30, "allowed_tag_keys": ["owner"]}


def config(*policies: dict[str, Any], inline: dict[str, Any] | None = None) -> ScheduledConfig:
    return ScheduledConfig.model_validate({"policies": policies, "inline_policies": inline})


def refused(call: Any) -> tuple[str, str]:
    with pytest.raises(BadInput) as caught:
        call()
    return caught.value.field, caught.value.rule


@pytest.mark.parametrize(
    ("payload", "asked"),
    [
        (None, None),
        ("", None),
        ("  \n", None),
        ("daily", "daily"),  # a bare name, not JSON
        (" daily ", "daily"),
        ('"weekly"', "weekly"),  # a JSON string
        ('{"policy": "weekly"}', "weekly"),
        ('{"policy": {"name": "adhoc"}}', {"name": "adhoc"}),
    ],
)
def test_the_payload_names_a_policy_holds_one_or_is_empty(payload, asked):
    assert requested_policy(payload) == asked


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        (
            '{"policy": "daily", "extra": 1, "also": 2}',
            "also",
            'unknown key: a timer payload takes only "policy"',
        ),
        ('{"policy": ""}', "policy", "must name a policy"),
        ('{"policy": 7}', "policy", "must name a policy"),
        ("{}", "policy", "must name a policy"),
        ("[1, 2]", "policy", "must name a policy"),
        ("1" * 5000, "policy", "not usable JSON"),  # an integer too long for int()
        ("[" * 100_000 + "]" * 100_000, "policy", "not usable JSON"),  # nested too deep
    ],
)
def test_a_payload_that_asks_for_nothing_usable_names_the_field_and_the_rule(payload, field, rule):
    got = refused(lambda: requested_policy(payload))
    assert got[0] == field and got[1].startswith(rule), got


def test_no_policy_asked_runs_the_only_one_configured():
    assert choose_policy(None, config(DAILY)).name == "daily"
    field, rule = refused(lambda: choose_policy(None, config(DAILY, WEEKLY)))
    assert (field, rule) == ("policy", "empty, and the configuration does not hold exactly one policy")
    assert refused(lambda: choose_policy(None, config(inline=INLINE)))[0] == "policy"


def test_a_name_picks_that_policy_or_lists_the_configured_ones():
    both = config(DAILY, WEEKLY)
    assert choose_policy("weekly", both).name == "weekly"
    assert choose_policy("daily", both).name == "daily"
    assert refused(lambda: choose_policy("hourly", both)) == (
        "policy",
        "no policy named 'hourly' (configured: daily, weekly)",
    )
    assert refused(lambda: choose_policy("hourly", config(inline=INLINE))) == (
        "policy",
        "no policy named 'hourly' (configured: none)",
    )


def test_an_inline_policy_runs_only_when_enabled_and_within_the_limits():
    enabled = config(DAILY, inline=INLINE)
    adhoc = {"name": "adhoc", "selector": {"all_disks": True}, "retention_days": 7, "tags": {"owner": "ci"}}
    assert choose_policy(adhoc, enabled).name == "adhoc"
    assert refused(lambda: choose_policy(adhoc, config(DAILY)))[0] == "policy"
    assert refused(lambda: choose_policy({**adhoc, "name": "daily"}, enabled)) == (
        "policy.name",
        "'daily' is a configured policy's name; an inline one needs its own",
    )
    assert (
        refused(lambda: choose_policy({**adhoc, "retention_days": 31}, enabled))[0] == "policy.retention_days"
    )
    assert refused(lambda: choose_policy({**adhoc, "tags": {"cost": "x"}}, enabled))[0] == "policy.tags"
    assert refused(lambda: choose_policy({**adhoc, "rate_limit": 5, "concurrency": 64}, enabled))[0] == (
        "policy.concurrency"  # the first, in name order, of the keys only the configuration sets
    )


def test_an_invalid_inline_policy_names_the_first_field_pydantic_refused():
    enabled = config(DAILY, inline=INLINE)
    two_errors = {"name": "adhoc", "selector": {"disk_ids": [1]}, "retention_days": "x"}
    field, _ = refused(lambda: choose_policy(two_errors, enabled))
    assert field == "policy.selector.disk_ids.0"
