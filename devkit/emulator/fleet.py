"""Fleet fixtures for the ECS emulator: the sample fleet, loading from files, generated fleets."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: A small region with one disk for every CreateSnapshot state rule.
SAMPLE_FLEET = Path(__file__).parent / "fixtures" / "sample_fleet.json"

FleetSource = Mapping[str, Any] | str | os.PathLike[str] | None


def load_fleet(source: FleetSource = None) -> dict[str, Any]:
    """A fleet as data: a mapping is copied, a path is read as JSON, None is the sample fleet."""
    if isinstance(source, Mapping):
        data = json.loads(json.dumps(source))  # a deep copy that also proves it is JSON-able
    else:
        path = Path(source) if source is not None else SAMPLE_FLEET
        data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("a fleet is one JSON object")
    return data


_APPS = ("web", "api", "db", "batch", "cache")
_ENVS = ("prod", "staging", "dev")
_BACKUPS = ("daily", "weekly")
_DATA_CATEGORIES = ("cloud_essd", "cloud_essd", "cloud_auto", "cloud_ssd", "cloud_efficiency")


def generate_fleet(
    n_disks: int,
    *,
    disks_per_instance: int = 4,
    seed: int = 0,
    region_id: str = "cn-hangzhou",
    zones: Sequence[str] = ("cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"),
    snapshot_seconds: float = 120.0,
    clock_now: str = "2024-06-01T00:00:00Z",
) -> dict[str, Any]:
    """A healthy fleet of ``n_disks`` disks for benchmarks and paging tests.

    Every instance is Running, has one system disk and ``disks_per_instance - 1`` data disks,
    and carries ``app``/``env``/``backup`` tags drawn from a seeded RNG (the same seed, the
    same fleet). Disk ids are ``d-gen-NNNNNN``, instance ids ``i-gen-NNNNN``.
    """
    if n_disks < 1 or disks_per_instance < 1:
        raise ValueError("n_disks and disks_per_instance must be >= 1")
    rng = random.Random(seed)
    instances: list[dict[str, Any]] = []
    disks: list[dict[str, Any]] = []
    for n in range(n_disks):
        slot = n % disks_per_instance
        if slot == 0:
            zone = zones[len(instances) % len(zones)]
            tags = {"app": rng.choice(_APPS), "env": rng.choice(_ENVS), "backup": rng.choice(_BACKUPS)}
            instances.append(
                {
                    "instance_id": f"i-gen-{len(instances):05d}",
                    "name": f"gen-{len(instances):05d}",
                    "status": "Running",
                    "zone_id": zone,
                    "tags": tags,
                }
            )
        owner = instances[-1]
        disks.append(
            {
                "disk_id": f"d-gen-{n:06d}",
                "instance_id": owner["instance_id"],
                "type": "system" if slot == 0 else "data",
                "category": "cloud_essd" if slot == 0 else rng.choice(_DATA_CATEGORIES),
                "size": 40 if slot == 0 else rng.choice((100, 200, 500, 1000)),
                "device": f"/dev/xvd{chr(ord('a') + slot % 26)}",
                "zone_id": owner["zone_id"],
                "portable": slot != 0,
                "tags": dict(owner["tags"]),
            }
        )
    return {
        "region_id": region_id,
        "id_seed": seed,
        "clock": {"now": clock_now, "rate": 0},
        "account": {"snapshot_seconds": snapshot_seconds},
        "instances": instances,
        "disks": disks,
    }


def snapshot_history(
    disk_ids: Sequence[str],
    *,
    policy: str,
    count: int,
    every_seconds: float,
    last: str | float,
    trigger: str = "timer",
    stack: str = "snapstack",
    id_prefix: str = "s-hist",
) -> list[dict[str, Any]]:
    """Fixture snapshots as a snapstack policy would have left them: ``count`` per disk, one every
    ``every_seconds``, the newest at ``last`` (ISO or epoch), accomplished, with the provenance tags.

    Ids are ``<id_prefix>-<disk n>-<k>`` (k = 0 for the oldest); creation times are epoch numbers,
    so large histories load fast.
    """
    from devkit.emulator.models import parse_time

    newest = parse_time(last)
    out: list[dict[str, Any]] = []
    for n, disk_id in enumerate(disk_ids):
        for k in range(count):
            out.append(
                {
                    "snapshot_id": f"{id_prefix}-{n:06d}-{k:04d}",
                    "disk_id": disk_id,
                    "creation_time": newest - (count - 1 - k) * every_seconds,
                    "tags": {
                        "snapstack:policy": policy,
                        "snapstack:trigger": trigger,
                        "snapstack:slot": f"hist-{n}-{k}",
                        "snapstack:stack": stack,
                    },
                }
            )
    return out
