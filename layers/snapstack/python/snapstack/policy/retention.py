"""A policy's retention: which of its own snapshots it keeps, and how carefully it deletes the rest.

Keep rules form a union: a snapshot of the policy is deleted only when *no* rule keeps it.

- ``keep_last``: the N newest accomplished snapshots of each disk.
- ``max_age_days``: every accomplished snapshot younger than this (elapsed time, so DST is moot).
- ``hourly`` / ``daily`` / ``weekly`` / ``monthly`` / ``yearly`` (grandfather-father-son): the
  newest snapshot of each of the N most recent hours, local dates, ISO weeks, months or years
  that hold one, counted in the policy's time zone.

Whatever the rules say, some snapshots are never deleted (see ``snapstack.retention.plan``):
another policy's or a foreign tool's, automatic ones, progressing ones, pinned ones (the
``pin_tag`` key on the snapshot, any value), ones a custom image uses, ones a disk was created
from (unless ``force_delete_used_by_disks``), and each disk's newest accomplished snapshot.

Validation refuses a retention that would keep nothing, and (in ``Policy``) one whose horizon is
longer than the ``retention_days`` after which ECS itself releases the snapshots.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from snapstack.ecs.errors import InvalidRequest
from snapstack.ecs.request import CreateSnapshotRequest, SnapshotTag

#: The tier names, finest first; each is a field of ``Retention``.
TIERS = ("hourly", "daily", "weekly", "monthly", "yearly")
#: The longest span one unit of each tier covers (a leap year, a 31-day month).
TIER_SPAN = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "yearly": timedelta(days=366),
}


class OrphanRule(BaseModel):
    """What happens to a policy's snapshots once their disk is released.

    ``keep`` (default): they stay until someone deletes them (they may be the only copy of the
    data). ``prune``: once the newest of them is ``grace_days`` old, the policy's rules apply
    to them as to any disk's (so its newest accomplished snapshot still stays).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["keep", "prune"] = "keep"
    grace_days: int = Field(default=30, ge=0, le=36500)


class Breaker(BaseModel):
    """The mass-deletion breaker: a run that plans to delete more than ``max_fraction`` of the
    policy's accomplished snapshots, or more than ``max_count`` snapshots, deletes nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_fraction: float = Field(default=0.5, gt=0, le=1)
    max_count: int = Field(default=1000, ge=1)


class Retention(BaseModel):
    """Keep rules and deletion safety of one policy (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep_last: int = Field(default=0, ge=0, le=10_000)
    max_age_days: int = Field(default=0, ge=0, le=65_536)
    hourly: int = Field(default=0, ge=0, le=100_000)
    daily: int = Field(default=0, ge=0, le=100_000)
    weekly: int = Field(default=0, ge=0, le=10_000)
    monthly: int = Field(default=0, ge=0, le=10_000)
    yearly: int = Field(default=0, ge=0, le=1_000)
    pin_tag: str = "snapstack:pin"
    force_delete_used_by_disks: bool = False
    orphans: OrphanRule = Field(default_factory=OrphanRule)
    breaker: Breaker = Field(default_factory=Breaker)
    first_run: Literal["dry_run", "apply"] = "dry_run"
    prune_at_quota: bool = True
    quota_threshold: int = Field(default=250, ge=1, le=256)

    @field_validator("pin_tag")
    @classmethod
    def _tag_key(cls, value: str) -> str:
        # A key no snapshot can carry would pin nothing: check it against CreateSnapshot's tag rules.
        try:
            CreateSnapshotRequest(disk_id="d-sample", tags=(SnapshotTag(key=value, value="yes"),))
        except InvalidRequest as exc:
            raise ValueError(f"not a usable tag key: {exc.rule}") from None
        return value

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not (self.keep_last or self.max_age_days or any(self.tier(t) for t in TIERS)):
            raise ValueError(
                "this retention would keep nothing: set keep_last, max_age_days or a tier "
                "(hourly, daily, weekly, monthly, yearly) above 0"
            )
        return self

    def tier(self, name: str) -> int:
        """The count of tier ``name`` (one of ``TIERS``)."""
        count: int = getattr(self, name)
        return count

    def horizon(self, period: timedelta) -> timedelta:
        """How old a snapshot these rules may keep can get, for snapshots taken every ``period``."""
        spans = [self.keep_last * period, timedelta(days=self.max_age_days)]
        spans += [self.tier(t) * TIER_SPAN[t] for t in TIERS]
        return max(spans)
