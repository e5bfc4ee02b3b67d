"""CreateSnapshot through the official SDK: every parameter rule and every seed error code."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs

from devkit.emulator.testing import EcsEmulator
from snapstack.ecs.errors import ERRORS, SEED_CODES
from snapstack.ecs.request import CreateSnapshotRequest

from .support import RUNTIME, HeldLatency, create, error_of, in_thread, raw, tags, v2_query

OK_DISK = "d-web-02-data"  # cloud_ssd on a Running instance: every state rule passes
ESSD_DISK = "d-web-01-data"  # cloud_essd, KMS-encrypted with an enabled key


# --- parameter rules -----------------------------------------------------------------------------------

PARAMETER_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("no DiskId", {}, "MissingParameter"),
    ("name too short", {"snapshot_name": "a"}, "InvalidSnapshotName.Malformed"),
    ("name too long", {"snapshot_name": "a" * 129}, "InvalidSnapshotName.Malformed"),
    ("name starts with a digit", {"snapshot_name": "1backup"}, "InvalidSnapshotName.Malformed"),
    ("name is a URL", {"snapshot_name": "http://backup"}, "InvalidSnapshotName.Malformed"),
    ("name starts with auto", {"snapshot_name": "autoBackup"}, "InvalidSnapshotName.Malformed"),
    ("name with a period", {"snapshot_name": "nightly.1"}, "InvalidSnapshotName.Malformed"),
    ("name with a space", {"snapshot_name": "nightly 1"}, "InvalidSnapshotName.Malformed"),
    ("description too short", {"description": "x"}, "InvalidDescription.Malformed"),
    ("description too long", {"description": "x" * 257}, "InvalidDescription.Malformed"),
    ("description is a URL", {"description": "https://example.com"}, "InvalidDescription.Malformed"),
    ("retention 0 days", {"retention_days": 0}, "InvalidRetentionDays.Malformed"),
    ("retention 65537 days", {"retention_days": 65537}, "InvalidRetentionDays.Malformed"),
    ("category not Standard/Flash", {"category": "Archive"}, "InvalidSnapshotCategory.Malformed"),
    ("Category with InstantAccess", {"category": "Flash", "instant_access": False}, "InvalidParameter"),
    ("token over 64 chars", {"client_token": "t" * 65}, "InvalidParameter"),
    ("token not ASCII", {"client_token": "tök"}, "InvalidParameter"),
    ("IA days without IA", {"instant_access_retention_days": 3}, "InvalidParameter"),
    ("IA days 0", {"instant_access": True, "instant_access_retention_days": 0}, "InvalidParameter"),
    ("StorageLocationArn", {"storage_location_arn": "acs:oss:x"}, "InvalidParameter"),
    ("21 tags", {"tag": tags(*((f"k{n}", "v") for n in range(21)))}, "QuotaExceed.Tags"),
    ("duplicate tag keys", {"tag": tags(("app", "a"), ("app", "b"))}, "Duplicate.TagKey"),
    ("empty tag key", {"tag": tags(("", "v"))}, "InvalidTagKey.Malformed"),
    ("tag key acs:", {"tag": tags(("acs:app", "v"))}, "InvalidTagKey.Malformed"),
    ("tag key aliyun", {"tag": tags(("aliyunapp", "v"))}, "InvalidTagKey.Malformed"),
    ("tag key with a URL", {"tag": tags(("see http://x", "v"))}, "InvalidTagKey.Malformed"),
    ("tag key too long", {"tag": tags(("k" * 129, "v"))}, "InvalidTagKey.Malformed"),
    ("tag value acs:", {"tag": tags(("app", "acs:web"))}, "InvalidTagValue.Malformed"),
    ("tag value with a URL", {"tag": tags(("app", "https://x"))}, "InvalidTagValue.Malformed"),
    ("tag value too long", {"tag": tags(("app", "v" * 129))}, "InvalidTagValue.Malformed"),
]


@pytest.mark.parametrize(
    ("kwargs", "code"), [r[1:] for r in PARAMETER_RULES], ids=[r[0] for r in PARAMETER_RULES]
)
@pytest.mark.parametrize("signing", [None, "v2"])
def test_a_broken_parameter_rule_answers_its_code(
    emu: EcsEmulator, signing: str | None, kwargs: dict[str, Any], code: str
) -> None:
    # An account allowed to use Category, so only the parameter rule can refuse it.
    emu.state.patch_account(used_local_snapshot_before_2020_12_14=True)
    request = {"disk_id": OK_DISK, **kwargs} if kwargs else {}
    client = emu.sdk_client(signing)
    assert error_of(lambda: create(client, **request)) == (code, ERRORS[code].status)
    assert emu.state.snapshots(OK_DISK) == []


VALID_EDGES: list[tuple[str, dict[str, Any]]] = [
    ("name 2 chars", {"snapshot_name": "ab"}),
    ("name 128 chars with : _ -", {"snapshot_name": "a:b_c-" + "d" * 122}),
    ("unicode letters", {"snapshot_name": "备份每日"}),
    ("description 2 and 256", {"description": "ok"}),
    ("description 256", {"description": "d" * 256}),
    ("retention 1", {"retention_days": 1}),
    ("retention 65536", {"retention_days": 65536}),
    ("empty tag value", {"tag": tags(("app", ""))}),
    ("20 tags", {"tag": tags(*((f"k{n}", "v") for n in range(20)))}),
    ("token 64 chars", {"client_token": "t" * 64}),
    ("description with spaces and symbols", {"description": "a b+c/é~*&="}),
]


@pytest.mark.parametrize("kwargs", [v[1] for v in VALID_EDGES], ids=[v[0] for v in VALID_EDGES])
def test_valid_edge_values_create_a_snapshot(emu: EcsEmulator, client: Any, kwargs: dict[str, Any]) -> None:
    snapshot_id = create(client, disk_id=OK_DISK, **kwargs)
    snap = emu.state.snapshot(snapshot_id)
    assert snap is not None and snap["disk_id"] == OK_DISK
    if "description" in kwargs:
        assert snap["description"] == kwargs["description"]
    if "tag" in kwargs:
        assert snap["tags"] == {t.key: t.value for t in kwargs["tag"]}


def test_the_wire_forms_the_sdk_cannot_send(emu: EcsEmulator) -> None:
    cred = emu.credentials
    # The deprecated lower-case tag spelling is accepted.
    status, body = raw(
        emu.endpoint, v2_query(cred, "CreateSnapshot", {"DiskId": OK_DISK, "Tag.1.key": "app"})
    )
    assert status == 200
    assert emu.state.snapshot(body["SnapshotId"])["tags"] == {"app": ""}  # type: ignore[index]
    for params, code in (
        ({"RetentionDays": "ten"}, "InvalidRetentionDays.Malformed"),
        ({"InstantAccess": "yes"}, "InvalidParameter"),
        ({"Tag.0.Key": "app"}, "InvalidParameter"),
        ({"Tag.21.Key": "app"}, "QuotaExceed.Tags"),
    ):
        status, body = raw(
            emu.endpoint, v2_query(cred, "CreateSnapshot", {"DiskId": "d-db-01-data", **params})
        )
        assert (status, body["Code"]) == (ERRORS[code].status, code), params


# --- every seed code -----------------------------------------------------------------------------------


@dataclass
class Case:
    """How to produce one seed code: prepare the emulator, then send ``request``."""

    code: str
    request: dict[str, Any]
    setup: Callable[[EcsEmulator], None] = field(default=lambda emu: None)


def _fill_quota(emu: EcsEmulator) -> None:
    emu.state.add_snapshots(
        {"snapshot_id": f"s-fill-{n:03d}", "disk_id": OK_DISK, "status": "accomplished"} for n in range(256)
    )


def _hold_token(emu: EcsEmulator) -> None:
    # The first request with this token is between its claim and its commit (in flight).
    emu.state.begin_create(CreateSnapshotRequest(disk_id=OK_DISK, client_token="tok-inflight"))


def _snapshot_in_progress(emu: EcsEmulator) -> None:
    emu.state.create_snapshot(CreateSnapshotRequest(disk_id=OK_DISK))


def _token_used(emu: EcsEmulator) -> None:
    emu.state.create_snapshot(CreateSnapshotRequest(disk_id=OK_DISK, client_token="tok-used"))


def _faults(config: dict[str, Any]) -> Callable[[EcsEmulator], None]:
    return lambda emu: emu.faults.configure({"apis": {"CreateSnapshot": config}})


SEED_CASES: list[Case] = [
    Case("InvalidParameter.KMSKeyId.NotFound", {"disk_id": "d-kms-gone-01"}),
    Case("InvalidSnapshotName.Malformed", {"disk_id": OK_DISK, "snapshot_name": "9lives"}),
    Case("IncorrectInstanceStatus", {"disk_id": "d-api-01-system"}),
    Case("DiskCategory.OperationNotSupported", {"disk_id": OK_DISK, "instant_access": True}),
    Case("Duplicate.TagKey", {"disk_id": OK_DISK, "tag": tags(("a", "1"), ("a", "2"))}),
    Case("InvalidTagKey.Malformed", {"disk_id": OK_DISK, "tag": tags(("acs:x", "1"))}),
    Case("InvalidTagValue.Malformed", {"disk_id": OK_DISK, "tag": tags(("a", "acs:1"))}),
    Case("InvalidRetentionDays.Malformed", {"disk_id": OK_DISK, "retention_days": 70000}),
    Case("Throttling", {"disk_id": OK_DISK}, _faults({"throttling": 1.0})),
    Case("IncorrectDiskStatus.CreatingSnapshot", {"disk_id": OK_DISK}, _snapshot_in_progress),
    Case("InstanceLockedForSecurity", {"disk_id": "d-locked-01-system"}),
    Case("IncorrectDiskStatus.NeverAttached", {"disk_id": "d-spare-01"}),
    Case("QuotaExceed.Snapshot", {"disk_id": OK_DISK}, _fill_quota),
    Case("IncorrectDiskStatus.NeverUsed", {"disk_id": "d-fresh-01"}),
    Case(
        "CreateSnapshot.Failed",
        {"disk_id": OK_DISK},
        _faults({"errors": [{"code": "CreateSnapshot.Failed", "times": 1}]}),
    ),
    Case("DiskInArrears", {"disk_id": "d-arrears-01"}),
    Case("DiskId.ValueNotSupported", {"disk_id": "d-ephemeral-01"}),
    Case("IncorrectDiskStatus", {"disk_id": "d-attaching-01"}),
    Case(
        "InvalidAccountStatus.NotEnoughBalance",
        {"disk_id": OK_DISK},
        lambda emu: emu.state.patch_account(balance_ok=False),
    ),
    Case(
        "InvalidAccountStatus.SnapshotServiceUnavailable",
        {"disk_id": OK_DISK},
        lambda emu: emu.state.patch_account(snapshot_service_activated=False),
    ),
    Case("IncorrectVolumeStatus", {"disk_id": "d-shared-busy-01"}),
    Case("IdempotentParameterMismatch", {"disk_id": "d-db-01-data", "client_token": "tok-used"}, _token_used),
    Case("IncorrectDiskType.NotSupport", {"disk_id": "d-local-01"}),
    Case("IncorrectDiskStatus.Transferring", {"disk_id": "d-transfer-01"}),
    Case("InvalidParameter.KMSKeyId.CMKNotEnabled", {"disk_id": "d-kms-off-01"}),
    Case(
        "InvalidParameter.KMSKeyId.KMSUnauthorized",
        {"disk_id": ESSD_DISK},
        lambda emu: emu.state.patch_account(kms_authorized=False),
    ),
    Case("IdempotentProcessing", {"disk_id": OK_DISK, "client_token": "tok-inflight"}, _hold_token),
    Case("QuotaExceed.Tags", {"disk_id": OK_DISK, "tag": tags(*((f"k{n}", "v") for n in range(21)))}),
    Case("InvalidSnapshotCategory.Malformed", {"disk_id": OK_DISK, "category": "Flash"}),
    Case("IncorrectDiskStatus.Invalid", {"disk_id": "d-invalid-01"}),
    Case("InvalidDiskId.NotFound", {"disk_id": "d-does-not-exist"}),
    Case("InvalidDescription.Malformed", {"disk_id": OK_DISK, "description": "http://x"}),
    Case("InvalidInstanceId.NotFound", {"disk_id": "d-orphan-01"}),
    Case("InvalidVolumeId.NotFound", {"disk_id": "d-shared-gone-01"}),
    Case("InternalError", {"disk_id": OK_DISK}, _faults({"internal_error": 1.0})),
]


def test_the_seed_table_covers_every_seed_code() -> None:
    codes = [c.code for c in SEED_CASES]
    assert sorted(codes) == sorted(SEED_CODES)
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("case", SEED_CASES, ids=[c.code for c in SEED_CASES])
@pytest.mark.parametrize("signing", [None, "v2"])
def test_every_seed_code_is_produced(emu: EcsEmulator, signing: str | None, case: Case) -> None:
    case.setup(emu)
    before = {s["snapshot_id"] for s in emu.state.snapshots()}
    client = emu.sdk_client(signing)
    assert error_of(lambda: create(client, **case.request)) == (case.code, ERRORS[case.code].status)
    assert {s["snapshot_id"] for s in emu.state.snapshots()} == before, "a refused request created nothing"


def test_the_error_body_has_the_ecs_fields(emu: EcsEmulator) -> None:
    status, body = raw(emu.endpoint, v2_query(emu.credentials, "CreateSnapshot", {"DiskId": "d-nope"}))
    assert status == 404
    assert set(body) == {"RequestId", "HostId", "Code", "Message"}
    assert body["Code"] == "InvalidDiskId.NotFound"
    assert body["Message"].startswith(ERRORS["InvalidDiskId.NotFound"].message)
    assert body["HostId"] == emu.endpoint


def test_states_that_allow_a_snapshot(emu: EcsEmulator, client: Any) -> None:
    # Running and Stopped instances, an Expired disk, an unattached (but used) disk, an ESSD with
    # instant access, a healthy shared volume, and Category on an account with local-snapshot history.
    for disk in ("d-web-01-system", "d-db-01-data", "d-expired-01", "d-shared-01"):
        assert create(client, disk_id=disk).startswith("s-")
    emu.state.patch_disk("d-spare-01", ever_attached=True, ever_used=True)
    assert create(client, disk_id="d-spare-01")
    assert create(client, disk_id="d-db-01-system", instant_access=False)
    assert emu.state.snapshot(create(client, disk_id=ESSD_DISK, instant_access=True))["instant_access"]  # type: ignore[index]
    emu.state.patch_account(used_local_snapshot_before_2020_12_14=True)
    snapshot_id = create(client, disk_id=OK_DISK, category="Flash")
    assert emu.state.snapshot(snapshot_id)["category"] == "flash"  # type: ignore[index]


def test_instance_status_rules(emu: EcsEmulator, client: Any) -> None:
    for status in ("Pending", "Starting", "Stopping"):
        emu.state.patch_instance("i-web-02", status=status)
        assert error_of(lambda: create(client, disk_id=OK_DISK))[0] == "IncorrectInstanceStatus"
    # Stopped but never started: still refused.
    emu.state.patch_instance("i-web-02", status="Stopped", ever_started=False)
    assert error_of(lambda: create(client, disk_id=OK_DISK))[0] == "IncorrectInstanceStatus"
    emu.state.patch_instance("i-web-02", ever_started=True)
    assert create(client, disk_id=OK_DISK)


# --- idempotence ---------------------------------------------------------------------------------------


def test_same_token_same_parameters_returns_the_same_snapshot(emu: EcsEmulator, client: Any) -> None:
    request = {
        "disk_id": OK_DISK,
        "client_token": "slot-1",
        "snapshot_name": "nightly",
        "tag": tags(("a", "1"), ("b", "2"), ("c", "3")),
    }
    first = create(client, **request)
    assert create(client, **request) == first
    emu.state.clock.advance(3600)  # long after the snapshot completed
    assert emu.state.snapshot(first)["status"] == "accomplished"  # type: ignore[index]
    assert create(emu.sdk_client("v2"), **request) == first
    # Tag order does not change the request.
    assert create(client, **{**request, "tag": tags(("c", "3"), ("a", "1"), ("b", "2"))}) == first
    assert len(emu.state.snapshots(OK_DISK)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"disk_id": "d-db-01-data"},
        {"snapshot_name": "other"},
        {"retention_days": 3},
        {"tag": tags(("a", "2"))},
        {"description": "different"},
    ],
)
def test_same_token_other_parameters_is_a_mismatch(client: Any, change: dict[str, Any]) -> None:
    request = {
        "disk_id": OK_DISK,
        "client_token": "slot-2",
        "snapshot_name": "nightly",
        "tag": tags(("a", "1")),
    }
    create(client, **request)
    assert error_of(lambda: create(client, **{**request, **change}))[0] == "IdempotentParameterMismatch"


def test_release_mode_a_refused_request_does_not_use_up_its_token(emu: EcsEmulator, client: Any) -> None:
    emu.state.set_token_errors("release")
    emu.state.patch_disk(OK_DISK, transferring=True)
    assert error_of(lambda: create(client, disk_id=OK_DISK, client_token="slot-3"))[0] == (
        "IncorrectDiskStatus.Transferring"
    )
    emu.state.patch_disk(OK_DISK, transferring=False)
    assert create(client, disk_id=OK_DISK, client_token="slot-3")


def test_remember_mode_a_refused_token_answers_its_first_error(emu: EcsEmulator, client: Any) -> None:
    assert emu.state.token_errors == "remember"  # the default: what ECS's idempotence guide says
    emu.state.patch_disk(OK_DISK, transferring=True)
    first = error_of(lambda: create(client, disk_id=OK_DISK, client_token="slot-5"))
    emu.state.patch_disk(OK_DISK, transferring=False)  # the cause is gone...

    assert (
        error_of(lambda: create(client, disk_id=OK_DISK, client_token="slot-5")) == first
    )  # ...the token still fails
    assert error_of(lambda: create(client, disk_id=OK_DISK, client_token="slot-5", snapshot_name="other"))[
        0
    ] == ("IdempotentParameterMismatch")
    assert create(client, disk_id=OK_DISK, client_token="slot-5-g1")  # a new token is evaluated afresh
    assert emu.state.dump()["client_tokens"]["slot-5"]["error"] == "IncorrectDiskStatus.Transferring"


def test_forgotten_tokens_are_evaluated_afresh(emu: EcsEmulator, client: Any) -> None:
    sid = create(client, disk_id=OK_DISK, client_token="slot-6")
    emu.state.clock.advance(3600)  # the first snapshot completes
    assert emu.control("DELETE", "client_tokens") == (200, {"forgotten": 1})

    assert create(client, disk_id=OK_DISK, client_token="slot-6") != sid  # ECS no longer knows it
    assert emu.control("POST", "client_tokens", {"token_errors": "release"}) == (
        200,
        {"token_errors": "release"},
    )
    assert emu.control("POST", "client_tokens", {"token_errors": "forget"})[0] == 400


def test_a_repeat_while_the_first_is_in_flight_is_idempotent_processing() -> None:
    with EcsEmulator(faults={"apis": {"CreateSnapshot": {"latency_ms": 600}}}) as emu:
        held = emu.app.sleep = HeldLatency()
        thread, first = in_thread(lambda: create(emu.sdk_client(), disk_id=OK_DISK, client_token="slot-4"))
        assert held.entered.wait(60)  # the first request holds its claim, inside the injected latency
        second = error_of(lambda: create(emu.sdk_client(), disk_id=OK_DISK, client_token="slot-4"))
        assert second == ("IdempotentProcessing", 403)
        assert "result" not in first  # refused while the first was still being processed
        held.release()
        thread.join(60)
        assert first["result"].startswith("s-") and held.asked == [0.6, 0.6]  # both waited their latency
        assert create(emu.sdk_client(), disk_id=OK_DISK, client_token="slot-4") == first["result"]
        assert len(emu.state.snapshots(OK_DISK)) == 1
        assert emu.calls("CreateSnapshot") == 3


# --- quota and lifecycle --------------------------------------------------------------------------------


def test_256_manual_snapshots_per_disk(emu: EcsEmulator, client: Any) -> None:
    emu.state.patch_disk(OK_DISK, snapshot_seconds=0)  # each completes at once: no CreatingSnapshot
    emu.state.add_snapshots(
        {"snapshot_id": f"s-auto-{n}", "disk_id": OK_DISK, "snapshot_type": "auto"} for n in range(5)
    )  # automatic snapshots do not count
    ids = [create(client, disk_id=OK_DISK) for _ in range(256)]
    assert len(set(ids)) == 256
    assert error_of(lambda: create(client, disk_id=OK_DISK)) == ("QuotaExceed.Snapshot", 403)
    client.delete_snapshot_with_options(ecs.DeleteSnapshotRequest(snapshot_id=ids[0]), RUNTIME)
    assert create(client, disk_id=OK_DISK)
    assert error_of(lambda: create(client, disk_id=OK_DISK))[0] == "QuotaExceed.Snapshot"


def _describe_one(client: Any, snapshot_id: str) -> Any:
    request = ecs.DescribeSnapshotsRequest(region_id="cn-hangzhou", snapshot_ids=f'["{snapshot_id}"]')
    found = client.describe_snapshots_with_options(request, RUNTIME).body.snapshots.snapshot
    return found[0] if found else None


def test_progressing_to_accomplished_on_the_virtual_clock(emu: EcsEmulator, client: Any) -> None:
    snapshot_id = create(client, disk_id=OK_DISK, snapshot_name="nightly", description="before deploy")
    snap = _describe_one(client, snapshot_id)
    assert (snap.status, snap.progress, snap.available) == ("progressing", "0%", False)
    assert (snap.snapshot_name, snap.description, snap.snapshot_type) == ("nightly", "before deploy", "user")
    assert (snap.source_disk_id, snap.source_disk_type, snap.source_disk_size) == (OK_DISK, "data", "100")
    assert snap.creation_time == "2024-06-01T00:00:00Z"
    assert error_of(lambda: create(client, disk_id=OK_DISK))[0] == "IncorrectDiskStatus.CreatingSnapshot"
    emu.state.clock.advance(60)  # the sample fleet's snapshots take 120 virtual seconds
    assert _describe_one(client, snapshot_id).progress == "50%"
    emu.state.clock.advance(60)
    snap = _describe_one(client, snapshot_id)
    assert (snap.status, snap.progress, snap.available) == ("accomplished", "100%", True)
    assert create(client, disk_id=OK_DISK) != snapshot_id


def test_retention_days_release_the_snapshot(emu: EcsEmulator, client: Any) -> None:
    snapshot_id = create(client, disk_id=OK_DISK, retention_days=1)
    assert _describe_one(client, snapshot_id).retention_days == 1
    emu.state.clock.advance(86399)
    assert _describe_one(client, snapshot_id) is not None
    emu.state.clock.advance(1)
    assert _describe_one(client, snapshot_id) is None
    assert emu.state.disk(OK_DISK)["manual_count"] == 0


def test_instant_access_snapshots(emu: EcsEmulator, client: Any) -> None:
    snapshot_id = create(client, disk_id=ESSD_DISK, instant_access=True, instant_access_retention_days=1)
    snap = _describe_one(client, snapshot_id)
    # Usable while still being created; the feature ends after its own retention period.
    assert (snap.status, snap.instant_access, snap.available) == ("progressing", True, True)
    assert snap.instant_access_retention_days == 1
    emu.state.clock.advance(86400)
    snap = _describe_one(client, snapshot_id)
    assert (snap.status, snap.instant_access) == ("accomplished", False)


def test_the_clock_can_run_in_real_time(emu: EcsEmulator, client: Any) -> None:
    snapshot_id = create(client, disk_id=OK_DISK)
    assert emu.control("POST", "clock", {"rate": 2000})[0] == 200  # 120 virtual s in 0.06 real s
    deadline = time.monotonic() + 5
    while _describe_one(client, snapshot_id).status != "accomplished":
        assert time.monotonic() < deadline
        time.sleep(0.02)
