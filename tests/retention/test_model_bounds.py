"""Every default and limit of a policy's ``retention`` block: the last value in, the next out.

The defaults are the ones README's Retention section documents (its JSON block shows them, with
``keep_last`` and the tiers set); a changed default or bound changes what a user's policy means.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from snapstack.policy.retention import Breaker, OrphanRule, Retention

KEEPS = {"keep_last": 1}  # a retention must keep something


def test_the_documented_defaults() -> None:
    rules = Retention.model_validate(KEEPS)
    assert rules.model_dump() == {
        "keep_last": 1,
        "max_age_days": 0,
        "hourly": 0,
        "daily": 0,
        "weekly": 0,
        "monthly": 0,
        "yearly": 0,
        "pin_tag": "snapstack:pin",
        "force_delete_used_by_disks": False,
        "orphans": {"action": "keep", "grace_days": 30},
        "breaker": {"max_fraction": 0.5, "max_count": 1000},
        "first_run": "dry_run",
        "prune_at_quota": True,
        "quota_threshold": 250,
    }


# (field, last value in at the bottom, last value in at the top); one past each is refused.
BOUNDS = [
    ("keep_last", 0, 10_000),
    ("max_age_days", 0, 65_536),
    ("hourly", 0, 100_000),
    ("daily", 0, 100_000),
    ("weekly", 0, 10_000),
    ("monthly", 0, 10_000),
    ("yearly", 0, 1_000),
    ("quota_threshold", 1, 256),
]


@pytest.mark.parametrize(("field", "low", "high"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_each_count_takes_its_range_and_nothing_past_it(field: str, low: int, high: int) -> None:
    base = {"max_age_days": 1} if field == "keep_last" else {"keep_last": 1}
    for value in (low, high):
        assert getattr(Retention.model_validate({**base, field: value}), field) == value
    for value in (low - 1, high + 1):
        with pytest.raises(ValidationError, match=field):
            Retention.model_validate({**base, field: value})


def test_orphan_grace_and_breaker_limits() -> None:
    for days in (0, 36_500):
        assert OrphanRule(action="prune", grace_days=days).grace_days == days
    for days in (-1, 36_501):
        with pytest.raises(ValidationError, match="grace_days"):
            OrphanRule(grace_days=days)
    assert Breaker(max_fraction=1).max_fraction == 1
    assert Breaker(max_fraction=1e-9).max_fraction == 1e-9
    for fraction in (0, -0.5, 1.0000001, 2):
        with pytest.raises(ValidationError, match="max_fraction"):
            Breaker(max_fraction=fraction)
    assert Breaker(max_count=1).max_count == 1
    with pytest.raises(ValidationError, match="max_count"):
        Breaker(max_count=0)


@pytest.mark.parametrize("model", [Retention.model_validate(KEEPS), OrphanRule(), Breaker()])
def test_the_models_are_frozen(model: object) -> None:
    name = next(iter(type(model).model_fields))  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="frozen"):
        setattr(model, name, getattr(model, name))


@pytest.mark.parametrize(
    ("rules", "horizon"),
    [
        ({"hourly": 1}, timedelta(hours=1)),
        ({"daily": 1}, timedelta(days=1)),
        ({"weekly": 2}, timedelta(days=14)),
        ({"monthly": 1}, timedelta(days=31)),  # the longest month
        ({"yearly": 1}, timedelta(days=366)),  # a leap year
        ({"keep_last": 3}, timedelta(minutes=3)),  # three periods
        ({"max_age_days": 5, "hourly": 2}, timedelta(days=5)),  # the longest rule wins
    ],
)
def test_the_horizon_is_the_longest_span_a_rule_keeps(rules: dict[str, int], horizon: timedelta) -> None:
    assert Retention.model_validate(rules).horizon(timedelta(minutes=1)) == horizon
