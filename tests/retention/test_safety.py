"""Whatever the snapshots and the rules, retention only ever deletes what it may (property-based,
against the emulator): never a foreign, automatic, other-policy, pinned, progressing or in-use
snapshot, nor another stack's with the same policy name, never a disk's newest accomplished one,
and each deletion is reported as it ended."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.emulator.fleet import generate_fleet
from devkit.emulator.testing import EcsEmulator
from snapstack.policy.model import Policy
from snapstack.retention.delete import Deletion

from .conftest import FLEET_NOW, STACK, prune

DISKS = ["d-gen-000000", "d-gen-000001", "d-gen-000002"]
HOUR = 3600.0
#: (policy, stack) a snapshot's provenance tags name; None: a foreign snapshot with neither.
OURS = ("daily", STACK)

snapshot = st.fixed_dictionaries(
    {
        "disk": st.sampled_from(DISKS),
        "hours_ago": st.integers(1, 24 * 400),
        "owner": st.sampled_from([OURS, OURS, OURS, ("weekly", STACK), ("daily", "snapstack-staging"), None]),
        "type": st.sampled_from(["user", "user", "user", "auto"]),
        "status": st.sampled_from(["accomplished", "accomplished", "accomplished", "failed", "progressing"]),
        "usage": st.sampled_from(["none", "none", "none", "disk", "image", "image_disk"]),
        "pinned": st.booleans(),
    }
)
rules = st.fixed_dictionaries(
    {
        "keep_last": st.integers(0, 5),
        "max_age_days": st.integers(0, 30),
        "daily": st.integers(0, 7),
        "weekly": st.integers(0, 4),
        "monthly": st.integers(0, 3),
    },
    optional={"force_delete_used_by_disks": st.booleans()},
).filter(lambda r: r["keep_last"] or r["max_age_days"] or r["daily"] or r["weekly"] or r["monthly"])


def fleet_with(snaps: list[dict[str, Any]]) -> dict[str, Any]:
    fleet = generate_fleet(len(DISKS), snapshot_seconds=0, clock_now="2024-06-01T00:00:00Z")
    fleet["snapshots"] = [
        {
            "snapshot_id": f"s-prop-{n:03d}",
            "disk_id": s["disk"],
            "creation_time": FLEET_NOW.timestamp() - s["hours_ago"] * HOUR,
            "snapshot_type": s["type"],
            "status": s["status"],
            "duration": 1e9 if s["status"] == "progressing" else 0.0,
            "usage": s["usage"],
            "tags": {
                **(
                    {
                        "snapstack:policy": s["owner"][0],
                        "snapstack:stack": s["owner"][1],
                        "snapstack:slot": f"ss1-{n}",
                    }
                    if s["owner"]
                    else {}
                ),
                **({"snapstack:pin": "yes"} if s["pinned"] else {}),
            },
        }
        for n, s in enumerate(snaps)
    ]
    return fleet


def deletable(s: dict[str, Any], force: bool) -> bool:
    in_use = s["usage"] in ("image", "image_disk") or (s["usage"] == "disk" and not force)
    return (
        s["owner"] == OURS
        and s["type"] == "user"
        and s["status"] in ("accomplished", "failed")
        and not s["pinned"]
        and not in_use
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snaps=st.lists(snapshot, min_size=1, max_size=40), retention=rules)
def test_only_what_may_go_goes(snaps, retention):
    policy = Policy.model_validate(
        {
            "name": "daily",
            "selector": {"all_disks": True},
            "retention_days": None,
            "time_zone": "Europe/Berlin",
            "retention": {**retention, "breaker": {"max_fraction": 1}},
        }
    )
    force = retention.get("force_delete_used_by_disks", False)
    with EcsEmulator(fleet=fleet_with(snaps)) as emu:
        report = prune(emu, policy)
        left = {s["snapshot_id"] for s in emu.state.snapshots()}
        deleted_calls = emu.calls("DeleteSnapshot")
    by_id = {f"s-prop-{n:03d}": s for n, s in enumerate(snaps)}
    gone = set(by_id) - left
    assert all(deletable(by_id[sid], force) for sid in gone), gone
    for disk in DISKS:  # each disk keeps its newest accomplished snapshot of the policy
        done = [
            (s["hours_ago"], -n)
            for n, s in enumerate(snaps)
            if s["disk"] == disk
            and s["owner"] == OURS
            and s["type"] == "user"
            and s["status"] == "accomplished"
        ]
        if done:
            _, neg = min(done)
            assert f"s-prop-{-neg:03d}" in left
    reported = {r.decision.snapshot.snapshot_id for r in report.results if r.outcome is Deletion.DELETED}
    assert reported == gone and deleted_calls == len(gone)
