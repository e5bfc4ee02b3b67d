"""The prune function's configuration: the policies it prunes, each with its retention.

``{"policies": [Policy, ...]}`` in ``functions/prune/snapstack.json`` (or ``SNAPSTACK_CONFIG`` /
``SNAPSTACK_CONFIG_JSON``), loaded with ``snapstack.config.load_config``. Use the same policies
as the backup functions: snapshots are matched to a policy by its name (the ``snapstack:policy``
tag), and the selector says which disks are read (see ``snapstack.retention.run``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapstack.policy.model import Policy


class PruneConfig(BaseModel):
    """prune: every policy it may run, each with a ``retention``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: tuple[Policy, ...] = Field(min_length=1)

    @field_validator("policies")
    @classmethod
    def _prunable(cls, value: tuple[Policy, ...]) -> tuple[Policy, ...]:
        names = [p.name for p in value]
        if len(names) != len(set(names)):
            raise ValueError(f"policy names must be unique (got {names})")
        bare = [p.name for p in value if p.retention is None]
        if bare:
            raise ValueError(f"policies {bare} have no retention: nothing would say what to keep")
        return value

    def named(self, name: str) -> Policy | None:
        """The policy called ``name``."""
        return next((p for p in self.policies if p.name == name), None)
