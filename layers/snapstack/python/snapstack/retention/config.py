"""The prune function's configuration: the policies it prunes, each with its retention.

``{"policies": [Policy, ...]}`` in ``functions/prune/snapstack.json`` (or ``SNAPSTACK_CONFIG`` /
``SNAPSTACK_CONFIG_JSON``), loaded with ``snapstack.config.load_config``. Use the same policies
as the backup functions: snapshots are matched to a policy by its name (the ``snapstack:policy``
tag), and the selector says which disks are read (see ``snapstack.retention.run``).
"""

from __future__ import annotations

from pydantic import field_validator

from snapstack.config import ScheduledConfig
from snapstack.policy.model import Policy


class PruneConfig(ScheduledConfig):
    """prune: the policies it may run (unique names, as for scheduled_backup), each with a ``retention``."""

    @field_validator("policies")
    @classmethod
    def _prunable(cls, value: tuple[Policy, ...]) -> tuple[Policy, ...]:
        bare = [p.name for p in value if p.retention is None]
        if bare:
            raise ValueError(f"policies {bare} have no retention: nothing would say what to keep")
        return value
