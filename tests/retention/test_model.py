"""Retention settings are validated when the policy is loaded: a bad one is refused with the rule."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from snapstack.config import ConfigError, ScheduledConfig, load_config
from snapstack.policy.model import Policy
from snapstack.policy.retention import Retention
from snapstack.retention.config import PruneConfig

from .conftest import ROOT


def policy(**fields):
    return Policy.model_validate({"name": "p", "selector": {"all_disks": True}, **fields})


@pytest.mark.parametrize(
    "rules",
    [{}, {"keep_last": 0}, {"daily": 0, "weekly": 0, "max_age_days": 0}],
    ids=["empty", "keep_last-0", "all-zero"],
)
def test_a_retention_that_keeps_nothing_is_refused(rules):
    with pytest.raises(ValidationError, match="would keep nothing"):
        Retention.model_validate(rules)


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"daily": -1}, "daily"),
        ({"keep_last": 1, "pin_tag": "acs:pin"}, "pin_tag"),
        ({"keep_last": 1, "pin_tag": ""}, "pin_tag"),
        ({"keep_last": 1, "breaker": {"max_fraction": 0}}, "breaker.max_fraction"),
        ({"keep_last": 1, "quota_threshold": 257}, "quota_threshold"),
        ({"keep_last": 1, "orphans": {"action": "delete"}}, "orphans.action"),
        ({"keep_last": 1, "hourly_count": 3}, "hourly_count"),
    ],
)
def test_each_bad_setting_is_named(rules, field):
    with pytest.raises(ValidationError) as info:
        Retention.model_validate(rules)
    assert ".".join(str(p) for p in info.value.errors()[0]["loc"]) == field


def test_retention_days_shorter_than_what_retention_keeps_is_refused():
    with pytest.raises(ValidationError, match=r"up to 186 day\(s\).*retention_days=7.*at least 186"):
        policy(retention={"monthly": 6}, retention_days=7)
    with pytest.raises(ValidationError, match="at least 10"):
        policy(period="1d", retention={"keep_last": 10}, retention_days=7)
    assert policy(retention={"monthly": 6}, retention_days=None).retention.monthly == 6
    assert policy(retention={"daily": 7}, retention_days=7).retention.daily == 7
    assert policy(period="6h", retention={"keep_last": 28}, retention_days=7).retention.keep_last == 28


def test_the_horizon_is_the_longest_rule():
    rules = Retention(keep_last=40, daily=7, weekly=2, max_age_days=3)
    assert rules.horizon(timedelta(hours=1)) == timedelta(days=14)
    assert rules.horizon(timedelta(days=1)) == timedelta(days=40)


def test_the_prune_configuration_needs_a_retention_for_every_policy(monkeypatch):
    bare = {"name": "bare", "selector": {"all_disks": True}}
    monkeypatch.setenv("SNAPSTACK_CONFIG_JSON", json.dumps({"policies": [bare]}))
    with pytest.raises(ConfigError) as info:
        load_config(PruneConfig, None)
    assert info.value.field == "policies" and "have no retention" in info.value.rule


def test_the_shipped_prune_policies_are_the_backup_policies_of_the_same_name():
    """Snapshots are matched to a policy by name: prune and scheduled_backup must agree on it."""
    config = load_config(PruneConfig, ROOT / "functions" / "prune", env={})
    backups = load_config(ScheduledConfig, ROOT / "functions" / "scheduled_backup", env={})
    for pruned in config.policies:
        backup = backups.named(pruned.name)
        assert backup is not None and backup.retention is not None
        same = pruned.model_copy(update={"retention": backup.retention})
        assert same == backup  # everything but the prune-only settings (breaker, orphans) agrees
        assert pruned.retention.first_run == "dry_run"
