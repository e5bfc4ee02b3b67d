"""DescribeDisks / DescribeSnapshots / DescribeInstances (filters, paging) and DeleteSnapshot."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs

from devkit.emulator.fleet import generate_fleet
from devkit.emulator.testing import EcsEmulator

from .support import REGION, RUNTIME, create, error_of


def disks(client: Any, **kwargs: Any) -> Any:
    """One DescribeDisks page (the response body)."""
    request = ecs.DescribeDisksRequest(**{"region_id": REGION, "max_results": 500, **kwargs})
    return client.describe_disks_with_options(request, RUNTIME).body


def disk_ids(client: Any, **kwargs: Any) -> list[str]:
    """The ids on one DescribeDisks page."""
    return [d.disk_id for d in disks(client, **kwargs).disks.disk]


def snapshots(client: Any, **kwargs: Any) -> Any:
    """One DescribeSnapshots page (the response body)."""
    request = ecs.DescribeSnapshotsRequest(**{"region_id": REGION, "max_results": 100, **kwargs})
    return client.describe_snapshots_with_options(request, RUNTIME).body


def snapshot_ids(client: Any, **kwargs: Any) -> list[str]:
    """The ids on one DescribeSnapshots page."""
    return [s.snapshot_id for s in snapshots(client, **kwargs).snapshots.snapshot]


def instances(client: Any, **kwargs: Any) -> Any:
    """One DescribeInstances page (the response body)."""
    request = ecs.DescribeInstancesRequest(**{"region_id": REGION, "max_results": 100, **kwargs})
    return client.describe_instances_with_options(request, RUNTIME).body


def walk(fetch: Callable[[str | None], Any], items: Callable[[Any], list[Any]]) -> tuple[list[Any], int]:
    """Follow NextToken to the end; returns every item and the number of pages."""
    out: list[Any] = []
    token: str | None = None
    pages = 0
    while True:
        body = fetch(token)
        pages += 1
        out += items(body)
        if not body.next_token:
            return out, pages
        token = body.next_token


# --- DescribeDisks ---------------------------------------------------------------------------------------


def test_disk_fields_as_the_sdk_models_read_them(client: Any) -> None:
    (disk,) = disks(client, disk_ids='["d-web-01-data"]').disks.disk
    assert (disk.disk_id, disk.instance_id, disk.type, disk.category, disk.size) == (
        "d-web-01-data",
        "i-web-01",
        "data",
        "cloud_essd",
        200,
    )
    assert (disk.status, disk.zone_id, disk.region_id, disk.device) == (
        "In_use",
        "cn-hangzhou-h",
        REGION,
        "/dev/xvdb",
    )
    assert (disk.encrypted, disk.kmskey_id, disk.portable) == (True, "key-web-01", True)
    assert {t.tag_key: t.tag_value for t in disk.tags.tag} == {"app": "web", "env": "prod", "backup": "daily"}
    (arrears,) = disks(client, disk_ids='["d-arrears-01"]').disks.disk
    assert [lock.lock_reason for lock in arrears.operation_locks.operation_lock] == ["financial"]
    (spare,) = disks(client, disk_ids='["d-spare-01"]').disks.disk
    assert (spare.instance_id, spare.status) == ("", "Available")


def test_disk_filters(client: Any) -> None:
    assert disk_ids(client, disk_ids='["d-web-01-data", "d-db-01-data", "d-nope"]') == [
        "d-web-01-data",
        "d-db-01-data",
    ]
    assert disk_ids(client, disk_ids="[]") == []
    assert disk_ids(client, instance_id="i-web-01", disk_type="system") == ["d-web-01-system"]
    assert len(disk_ids(client, instance_id="i-web-01", disk_type="all")) == 9
    assert set(disk_ids(client, status="Available")) == {"d-spare-01"}
    assert set(disk_ids(client, status="Expired")) == {"d-expired-01"}
    assert set(disk_ids(client, category="cloud_ssd")) == {"d-web-02-data"}
    assert set(disk_ids(client, category="san_ssd", zone_id="cn-hangzhou-h")) == {
        "d-shared-01",
        "d-shared-busy-01",
    }
    assert len(disk_ids(client, disk_type="system")) == 7
    assert len(disk_ids(client)) == 25
    assert disk_ids(client, region_id="cn-beijing") == []  # the fleet lives in one region


def test_tag_filters_are_anded(client: Any) -> None:
    def tagged(*pairs: tuple[str, str | None]) -> set[str]:
        tags = [ecs.DescribeDisksRequestTag(key=k, value=v) for k, v in pairs]
        return set(disk_ids(client, tag=tags))

    daily = tagged(("backup", "daily"))
    web = tagged(("app", "web"))
    both = tagged(("app", "web"), ("backup", "daily"))
    assert both == daily & web and both and both != web
    assert "d-db-01-data" in daily and "d-db-01-data" not in both
    assert tagged(("backup", None)) == tagged(("backup", "daily")) | tagged(("backup", "weekly"))
    assert tagged(("app", "web"), ("env", "staging")) == set()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"region_id": None},
        {"disk_ids": "d-web-01-data"},
        {"disk_ids": json.dumps([f"d-{n}" for n in range(101)])},
        {"disk_type": "root"},
        {"status": "Broken"},
        {"next_token": "not-a-token"},
        {"tag": [ecs.DescribeDisksRequestTag(value="web")]},
        {"max_results": None, "page_size": 101},
        {"max_results": None, "page_number": 0},
    ],
    ids=[
        "no region",
        "ids not JSON",
        "101 ids",
        "disk type",
        "status",
        "token",
        "tag value only",
        "size",
        "page",
    ],
)
def test_bad_describe_disks_parameters(client: Any, kwargs: dict[str, Any]) -> None:
    code = "MissingParameter" if kwargs == {"region_id": None} else "InvalidParameter"
    assert error_of(lambda: disks(client, **kwargs)) == (code, 400)


def test_describe_disks_paging_with_next_token() -> None:
    with EcsEmulator(fleet=generate_fleet(57)) as emu:
        client = emu.sdk_client()
        seen, pages = walk(
            lambda token: disks(client, max_results=10, next_token=token), lambda b: b.disks.disk
        )
        assert pages == 6
        assert [d.disk_id for d in seen] == [f"d-gen-{n:06d}" for n in range(57)]
        first = disks(client, max_results=10)
        assert (first.total_count, len(first.disks.disk)) == (57, 10) and first.next_token
        # MaxResults is clamped to 10..500, like ECS.
        assert len(disks(client, max_results=3).disks.disk) == 10
        assert len(disks(client, max_results=None).disks.disk) == 10
        assert len(disks(client, max_results=5000).disks.disk) == 57
        # Filters apply before paging.
        data, _ = walk(
            lambda token: disks(client, max_results=10, next_token=token, disk_type="data"),
            lambda b: b.disks.disk,
        )
        assert len(data) == 57 - 15 and all(d.type == "data" for d in data)


def test_listings_follow_fleet_changes() -> None:
    # The emulator keeps a query's matches while the fleet is unchanged: every change to a disk or
    # an instance must show in the next answer, a new snapshot must not change what matches.
    with EcsEmulator(fleet=generate_fleet(30)) as emu:
        client = emu.sdk_client()
        in_use = disk_ids(client, status="In_use")
        assert len(in_use) == 30
        create(client, disk_id="d-gen-000003")
        assert disk_ids(client, status="In_use") == in_use
        emu.state.patch_disk("d-gen-000003", status="Available")
        assert disk_ids(client, status="Available") == ["d-gen-000003"]
        assert disk_ids(client, status="In_use") == [d for d in in_use if d != "d-gen-000003"]
        emu.state.release_disk("d-gen-000004")
        assert "d-gen-000004" not in disk_ids(client)
        assert disks(client).total_count == 29
        running = [i.instance_id for i in instances(client, status="Running").instances.instance]
        emu.state.patch_instance(running[0], status="Stopped")
        now_running = [i.instance_id for i in instances(client, status="Running").instances.instance]
        assert now_running == running[1:]
        ids = json.dumps([running[2], running[1], "i-nope"])
        assert [i.instance_id for i in instances(client, instance_ids=ids).instances.instance] == [
            running[1],
            running[2],
        ]


def test_describe_disks_legacy_paging() -> None:
    with EcsEmulator(fleet=generate_fleet(45)) as emu:
        client = emu.sdk_client()
        pages = [disks(client, max_results=None, page_number=n, page_size=20) for n in (1, 2, 3, 4)]
        assert [len(p.disks.disk) for p in pages] == [20, 20, 5, 0]
        assert [(p.page_number, p.page_size, p.total_count) for p in pages[:2]] == [(1, 20, 45), (2, 20, 45)]
        assert pages[2].disks.disk[-1].disk_id == "d-gen-000044"


# --- DescribeSnapshots ---------------------------------------------------------------------------------


def test_snapshot_filters(emu: EcsEmulator, client: Any) -> None:
    new = create(
        client, disk_id="d-web-02-data", tag=[ecs.CreateSnapshotRequestTag(key="backup", value="daily")]
    )
    assert snapshot_ids(client, disk_id="d-db-01-data") == ["s-db-01-golden", "s-db-01-auto-0531"]
    assert snapshot_ids(client, instance_id="i-web-02") == [new, "s-web-02-failed"]
    assert snapshot_ids(client, status="progressing") == [new]
    assert snapshot_ids(client, status="failed") == ["s-web-02-failed"]
    assert set(snapshot_ids(client, status="accomplished")) == {
        "s-db-01-auto-0531",
        "s-db-01-golden",
        "s-db-01-image",
    }
    assert len(snapshot_ids(client, status="all")) == 5
    assert snapshot_ids(client, snapshot_type="auto") == ["s-db-01-auto-0531"]
    assert len(snapshot_ids(client, snapshot_type="user")) == 4
    assert snapshot_ids(client, source_disk_type="System") == ["s-web-02-failed", "s-db-01-image"]
    assert snapshot_ids(client, snapshot_ids=f'["{new}", "s-db-01-image"]') == [new, "s-db-01-image"]
    tag = [ecs.DescribeSnapshotsRequestTag(key="backup", value="daily")]
    assert snapshot_ids(client, tag=tag) == [new, "s-web-02-failed", "s-db-01-golden"]
    assert snapshot_ids(client, snapshot_name="golden") == ["s-db-01-golden"]
    emu.state.clock.advance(7 * 86400)  # the automatic snapshot's retention ends
    assert snapshot_ids(client, snapshot_type="auto") == []
    assert error_of(lambda: snapshots(client, status="done")) == ("InvalidParameter", 400)
    assert error_of(lambda: snapshots(client, region_id=None)) == ("MissingParameter", 400)


def test_describe_snapshots_paging_newest_first(emu: EcsEmulator, client: Any) -> None:
    emu.state.add_snapshots(
        {"snapshot_id": f"s-page-{n:02d}", "disk_id": "d-db-01-system"} for n in range(23)
    )
    seen, pages = walk(
        lambda token: snapshots(client, disk_id="d-db-01-system", max_results=10, next_token=token),
        lambda b: b.snapshots.snapshot,
    )
    assert pages == 3
    assert [s.snapshot_id for s in seen] == [f"s-page-{n:02d}" for n in reversed(range(23))] + [
        "s-db-01-image"
    ]
    legacy = snapshots(client, disk_id="d-db-01-system", max_results=None, page_number=3, page_size=10)
    assert [s.snapshot_id for s in legacy.snapshots.snapshot] == [
        "s-page-02",
        "s-page-01",
        "s-page-00",
        "s-db-01-image",
    ]
    assert legacy.total_count == 24


# --- DescribeInstances ---------------------------------------------------------------------------------


def test_instances(client: Any) -> None:
    body = instances(client)
    assert body.total_count == 7
    by_id = {i.instance_id: i for i in body.instances.instance}
    locked = by_id["i-locked-01"]
    assert [lock.lock_reason for lock in locked.operation_locks.lock_reason] == ["security"]
    assert (by_id["i-web-01"].status, by_id["i-web-01"].zone_id) == ("Running", "cn-hangzhou-h")
    assert {t.tag_key: t.tag_value for t in by_id["i-db-01"].tags.tag}["app"] == "db"
    assert [i.instance_id for i in instances(client, status="Stopped").instances.instance] == [
        "i-db-01",
        "i-batch-01",
    ]
    ids = instances(client, instance_ids='["i-web-02", "i-api-01"]').instances.instance
    assert [i.instance_id for i in ids] == ["i-web-02", "i-api-01"]
    tag = [ecs.DescribeInstancesRequestTag(key="env", value="staging")]
    assert {i.instance_id for i in instances(client, tag=tag).instances.instance} == {"i-api-01", "i-new-01"}
    assert error_of(lambda: instances(client, status="Sleeping")) == ("InvalidParameter", 400)


def test_describe_instances_paging() -> None:
    with EcsEmulator(fleet=generate_fleet(100, disks_per_instance=4)) as emu:
        client = emu.sdk_client()
        seen, pages = walk(
            lambda token: instances(client, max_results=10, next_token=token), lambda b: b.instances.instance
        )
        assert pages == 3 and len({i.instance_id for i in seen}) == 25
        assert len(instances(client, max_results=1000).instances.instance) == 25  # capped at 100
        legacy = instances(client, max_results=None, page_number=2, page_size=10)
        assert (legacy.page_number, legacy.total_count, len(legacy.instances.instance)) == (2, 25, 10)


# --- DeleteSnapshot ------------------------------------------------------------------------------------


def delete(client: Any, snapshot_id: str | None, force: bool | None = None) -> None:
    """DeleteSnapshot through the SDK."""
    client.delete_snapshot_with_options(
        ecs.DeleteSnapshotRequest(snapshot_id=snapshot_id, force=force), RUNTIME
    )


def test_delete_snapshot(emu: EcsEmulator, client: Any) -> None:
    emu.state.patch_disk("d-web-02-data", snapshot_seconds=0)
    done = create(client, disk_id="d-web-02-data")
    delete(client, done)
    assert emu.state.snapshot(done) is None
    delete(client, "s-never-existed")  # ignored, as ECS does
    assert error_of(lambda: delete(client, None)) == ("MissingParameter", 400)


def test_deleting_a_progressing_snapshot_is_refused_with_the_documented_code(
    emu: EcsEmulator, client: Any
) -> None:
    running = create(client, disk_id="d-web-02-data")
    assert error_of(lambda: delete(client, running)) == ("IncorrectDiskStatus.CreatingSnapshot", 400)
    assert emu.state.snapshot(running) is not None
    emu.state.clock.advance(120)  # accomplished: now it can go
    delete(client, running)
    assert emu.state.snapshot(running) is None


def test_deleting_a_progressing_snapshot_cancels_it_when_the_account_says_so(
    emu: EcsEmulator, client: Any
) -> None:
    emu.state.patch_account(delete_progressing="cancel")
    running = create(client, disk_id="d-web-02-data")
    assert (
        error_of(lambda: create(client, disk_id="d-web-02-data"))[0] == "IncorrectDiskStatus.CreatingSnapshot"
    )
    delete(client, running)
    assert emu.state.snapshot(running) is None
    assert create(client, disk_id="d-web-02-data")


def test_force_semantics(emu: EcsEmulator, client: Any) -> None:
    # s-db-01-golden was used to create disks; s-db-01-image to create an image.
    assert error_of(lambda: delete(client, "s-db-01-golden")) == ("SnapshotCreatedDisk", 403)
    assert error_of(lambda: delete(client, "s-db-01-golden", force=False)) == ("SnapshotCreatedDisk", 403)
    delete(client, "s-db-01-golden", force=True)
    assert emu.state.snapshot("s-db-01-golden") is None
    assert error_of(lambda: delete(client, "s-db-01-image", force=True)) == ("SnapshotCreatedImage", 403)
    assert emu.state.snapshot("s-db-01-image") is not None
