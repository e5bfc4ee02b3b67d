"""Policies: which disks to snapshot, how to name and keep the snapshots, and the schedule slot.

A policy is validated completely when it is loaded — selectors, templates rendered against
the CreateSnapshot rules, tags, period, time zone, concurrency — so a bad policy is rejected
before anything is created.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from snapstack.ecs.errors import InvalidRequest
from snapstack.ecs.request import MAX_TAGS, CreateSnapshotRequest, SnapshotTag
from snapstack.policy import naming
from snapstack.policy.retention import Retention
from snapstack.policy.rpo import parse_duration, rpo_of
from snapstack.policy.schedule import parse_period, parse_zone

_POLICY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class Selector(BaseModel):
    """Which disks a policy covers. Criteria are AND-ed; exclusions win.

    At least one positive criterion is required, or ``all_disks: true`` — a policy never
    covers the whole region by omission.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    disk_ids: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    disk_tags: dict[str, str] = Field(default_factory=dict)
    instance_tags: dict[str, str] = Field(default_factory=dict)
    disk_type: Literal["all", "system", "data"] = "all"
    exclude_disk_ids: tuple[str, ...] = ()
    exclude_disk_tags: dict[str, str] = Field(default_factory=dict)
    all_disks: bool = False

    @model_validator(mode="after")
    def _needs_a_criterion(self) -> Selector:
        positive = self.disk_ids or self.instance_ids or self.disk_tags or self.instance_tags
        if not positive and not self.all_disks:
            raise ValueError(
                "selector: give disk_ids, instance_ids, disk_tags or instance_tags (or all_disks: true)"
            )
        return self


class Policy(BaseModel):
    """One snapshot policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    selector: Selector
    snapshot_name: str = "snapstack-{policy}-{slot}-{disk_id}"
    description: str | None = "snapstack {policy} ({trigger}) for {disk_id}"
    retention_days: int | None = Field(default=7, ge=1, le=65536)
    instant_access: bool | None = None
    instant_access_retention_days: int | None = Field(default=None, ge=1, le=65535)
    tags: dict[str, str] = Field(default_factory=dict)
    copy_disk_tags: bool = False
    period: str = "1d"
    time_zone: str = "UTC"
    concurrency: int = Field(default=8, ge=1, le=64)
    rate_limit: float = Field(default=20.0, gt=0, le=1000, description="CreateSnapshot calls per second")
    rpo: str | None = None  # how old the newest snapshot may get (policy/rpo.py); default period + grace
    retention: Retention | None = None  # pruning of the policy's own snapshots (policy/retention.py)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _POLICY_NAME.match(value):
            raise ValueError("must be 1-40 of a-z, 0-9, '_' and '-', starting with a letter")
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        parse_period(value)
        return value

    @field_validator("rpo")
    @classmethod
    def _rpo(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        parse_zone(value)
        return value

    @field_validator("tags")
    @classmethod
    def _room_for_provenance(cls, value: dict[str, str]) -> dict[str, str]:
        room = MAX_TAGS - len(naming.PROVENANCE_KEYS)
        if len(value) > room:
            raise ValueError(f"at most {room} tags: {len(naming.PROVENANCE_KEYS)} of 20 are provenance tags")
        clash = set(value) & set(naming.PROVENANCE_KEYS)
        if clash:
            raise ValueError(f"{sorted(clash)} are set by snapstack itself")
        return value

    @model_validator(mode="after")
    def _renders_a_valid_request(self) -> Policy:
        naming.check_template(self.snapshot_name, "snapshot_name")
        naming.check_untrusted_fields(self.snapshot_name, "snapshot_name")
        if self.description is not None:
            naming.check_template(self.description, "description")
            naming.check_untrusted_fields(self.description, "description")
        # The reason comes from events: the request must hold with none and with the longest one.
        for reason in ("sample reason", "", "x" * naming.REASON_MAX):
            values = {**naming.SAMPLE_VALUES, "reason": reason}
            try:
                self.request_for(values, naming.SAMPLE_PROVENANCE, client_token="sample")
            except InvalidRequest as exc:
                raise ValueError(
                    f"with sample values (a reason of {len(reason)} characters) the snapshot request "
                    f"would be refused: {exc}"
                ) from None
        return self

    @model_validator(mode="after")
    def _ecs_keeps_them_long_enough(self) -> Policy:
        if self.retention is None or self.retention_days is None:
            return self
        horizon = self.retention.horizon(self.period_delta)
        if timedelta(days=self.retention_days) < horizon:
            days = -(-horizon // timedelta(days=1))
            raise ValueError(
                f"retention keeps snapshots up to {days} day(s) old, but retention_days="
                f"{self.retention_days} makes ECS release them sooner: set retention_days to null "
                f"(retention decides) or to at least {days}"
            )
        return self

    @property
    def period_delta(self) -> timedelta:
        """The schedule period."""
        return parse_period(self.period)

    @property
    def rpo_delta(self) -> timedelta:
        """The RPO: ``rpo`` when set, else the period plus a grace (``policy/rpo.py``)."""
        return rpo_of(self.rpo, self.period_delta)

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return parse_zone(self.time_zone)

    def request_for(
        self,
        values: dict[str, str],
        provenance: dict[str, str],
        *,
        client_token: str,
        disk_tags: dict[str, str] | None = None,
    ) -> CreateSnapshotRequest:
        """The CreateSnapshot request for one disk; ``values`` fill the templates."""
        tagset = naming.build_tags(
            {k: provenance[k.split(":", 1)[1]] for k in naming.PROVENANCE_KEYS},
            self.tags,
            disk_tags if self.copy_disk_tags and disk_tags else {},
        )
        return CreateSnapshotRequest(
            disk_id=values["disk_id"],
            snapshot_name=naming.render(self.snapshot_name, values),
            description=None if self.description is None else naming.render(self.description, values),
            retention_days=self.retention_days,
            instant_access=self.instant_access,
            instant_access_retention_days=self.instant_access_retention_days,
            client_token=client_token,
            tags=tuple(SnapshotTag(key=k, value=v) for k, v in tagset.tags),
        )
