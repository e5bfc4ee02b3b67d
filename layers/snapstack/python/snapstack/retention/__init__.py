"""Retention: prune a policy's own snapshots by its rules, safely, and keep the quota from
stopping a backup.

- ``tiers``: which snapshots the keep rules keep (pure; time zones and DST).
- ``inventory``: reading snapshots and disks from ECS.
- ``plan``: the keep-set and delete-set of each disk, with the rule behind every decision, and
  the mass-deletion breaker.
- ``delete``: DeleteSnapshot calls, paced and logged, each reported as it really ended.
- ``run``: one policy's prune run (dry run, first run, apply).
- ``quota``: the guard the executor calls before CreateSnapshot.
- ``config``: the prune function's configuration.
"""
