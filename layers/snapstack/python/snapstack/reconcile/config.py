"""The reconciler's configuration: the policies whose RPO it checks, and how hard it re-drives.

``{"policies": [Policy, ...], "concurrency": 4, "rate_limit": 10}`` in
``functions/reconciler/snapstack.json`` (or ``SNAPSTACK_CONFIG`` / ``SNAPSTACK_CONFIG_JSON``),
loaded with ``snapstack.config.load_config``. The policies are the scheduled ones (the same as
scheduled_backup's): a snapshot is matched to its policy by name (the ``snapstack:policy`` tag)
and the selector says which disks must have one; each may set ``rpo``. No policy at all is
allowed: the reconciler then only re-drives open slots. Re-driving needs no policy: every slot's
record holds its request (``reconcile/meta.py``).
"""

from __future__ import annotations

from pydantic import Field

from snapstack.config import ScheduledConfig
from snapstack.policy.model import Policy


class ReconcilerConfig(ScheduledConfig):
    """reconciler: policies to RPO-check (unique names), and the re-drive's concurrency and pace."""

    policies: tuple[Policy, ...] = ()
    concurrency: int = Field(default=4, ge=1, le=64)
    rate_limit: float = Field(default=10.0, gt=0, le=1000, description="CreateSnapshot calls per second")
