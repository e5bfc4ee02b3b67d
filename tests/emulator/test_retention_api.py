"""What retention relies on: DescribeSnapshots' Usage filter and paging at MaxResults 100, and
a query's answers following the state as snapshots come and go."""

from __future__ import annotations

from typing import Any

from devkit.emulator.fleet import generate_fleet, snapshot_history
from devkit.emulator.testing import EcsEmulator

from .support import error_of
from .test_describe import delete, snapshot_ids, snapshots, walk


def test_usage_filter(emu: EcsEmulator, client: Any) -> None:
    # Sample fleet: s-db-01-golden was used to create disks, s-db-01-image an image.
    assert snapshot_ids(client, usage="disk") == ["s-db-01-golden"]
    assert snapshot_ids(client, usage="image") == ["s-db-01-image"]
    assert "s-db-01-golden" not in snapshot_ids(client, usage="none")
    emu.state.patch_snapshot("s-db-01-golden", usage="image_disk")
    assert snapshot_ids(client, usage="image_disk") == ["s-db-01-golden"]
    assert snapshot_ids(client, usage="disk") == []
    assert error_of(lambda: snapshots(client, usage="all")) == ("InvalidParameter", 400)


def history_on_one_disk(disks: int, count: int) -> dict[str, Any]:
    """A generated fleet whose first disk holds ``count`` hourly snapshots."""
    fleet = generate_fleet(disks, snapshot_seconds=0)
    fleet["snapshots"] = snapshot_history(
        ["d-gen-000000"], policy="p", count=count, every_seconds=3600, last="2024-05-31T00:00:00Z"
    )
    return fleet


def test_paging_a_full_disk_at_the_documented_maximum() -> None:
    with EcsEmulator(fleet=history_on_one_disk(2, 256)) as emu:
        client = emu.sdk_client()
        seen, pages = walk(
            lambda token: snapshots(client, disk_id="d-gen-000000", max_results=500, next_token=token),
            lambda body: body.snapshots.snapshot,
        )
        assert pages == 3  # MaxResults is capped at 100
        assert [s.snapshot_id for s in seen] == [f"s-hist-000000-{k:04d}" for k in reversed(range(256))]
        assert snapshots(client, disk_id="d-gen-000000").total_count == 256
        assert snapshots(client, disk_id="d-gen-000001").total_count == 0


def test_answers_follow_deletions_between_pages() -> None:
    with EcsEmulator(fleet=history_on_one_disk(1, 30)) as emu:
        client = emu.sdk_client()
        first = snapshots(client, max_results=10)
        assert first.total_count == 30
        delete(client, first.snapshots.snapshot[0].snapshot_id)  # the newest, already read
        delete(client, "s-hist-000000-0005")  # an old one, not read yet
        rest, _ = walk(
            lambda token: snapshots(client, max_results=10, next_token=token or first.next_token),
            lambda body: body.snapshots.snapshot,
        )
        assert [s.snapshot_id for s in rest] == [
            f"s-hist-000000-{k:04d}" for k in reversed(range(20)) if k != 5
        ]
        assert snapshots(client).total_count == 28
