"""Fault injection, seen through the official SDK."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs
from alibabacloud_tea_openapi.exceptions import ThrottlingException
from darabonba.exceptions import UnretryableException

from devkit.emulator.faults import Faults
from devkit.emulator.testing import EcsEmulator

from .support import REGION, RUNTIME, Clock, HeldLatency, create, error_of, in_thread

DISK = "d-web-02-data"


def describe(client: Any) -> None:
    """A cheap DescribeDisks call."""
    client.describe_disks_with_options(ecs.DescribeDisksRequest(region_id=REGION, max_results=10), RUNTIME)


def outcome(call: Any) -> str:
    """ "OK" or the error code of an SDK call."""
    try:
        call()
    except Exception as exc:  # the SDK's ClientException / ServerException
        return str(getattr(exc, "code", type(exc).__name__))
    return "OK"


def test_fixed_latency_delays_the_answer() -> None:
    with EcsEmulator(faults={"apis": {"DescribeDisks": {"latency_ms": {"fixed": 300}}}}) as emu:
        held = emu.app.sleep = HeldLatency()
        thread, out = in_thread(lambda: describe(emu.sdk_client()))
        assert held.entered.wait(60)  # the DescribeDisks is inside its injected latency
        assert held.asked == [0.3]
        assert create(emu.sdk_client(), disk_id=DISK)  # other APIs are not delayed: answered meanwhile
        assert out == {} and held.asked == [0.3]  # the DescribeDisks is still waiting
        held.release()
        thread.join(60)
        assert out == {"result": None}


@pytest.mark.parametrize("spec", [{"uniform": [100, 200]}, {"normal": [150, 10]}])
def test_random_latency_is_seeded(spec: dict[str, Any]) -> None:
    config = {"seed": 3, "apis": {"*": {"latency_ms": spec}}}
    draws = [
        [faults.latency("DescribeDisks") for _ in range(5)] for faults in (Faults(config), Faults(config))
    ]
    assert draws[0] == draws[1]
    assert all(0.09 <= d <= 0.21 for d in draws[0])
    assert len(set(draws[0])) == 5  # drawn, not fixed
    with EcsEmulator(faults=config) as emu:
        asked: list[float] = []
        emu.app.sleep = asked.append
        client = emu.sdk_client()
        describe(client)
        describe(client)
        assert asked == draws[0][:2]  # the emulator waits for the seeded draws, in order


def test_rate_limit_throttles_per_api() -> None:
    with EcsEmulator(
        faults={"apis": {"DescribeDisks": {"rate_limit": {"per_second": 4, "burst": 3}}}}
    ) as emu:
        clock = emu.faults.clock = Clock()
        client = emu.sdk_client()
        results = [outcome(lambda: describe(client)) for _ in range(5)]
        assert results == ["OK"] * 3 + ["Throttling"] * 2
        assert error_of(lambda: describe(client)) == ("Throttling", 403)
        assert create(client, disk_id=DISK)  # CreateSnapshot has no limit
        clock.now += 0.2  # 0.8 of a token back at 4 per second: still throttled
        assert outcome(lambda: describe(client)) == "Throttling"
        clock.now += 0.05  # a whole token
        assert outcome(lambda: describe(client)) == "OK"
        assert outcome(lambda: describe(client)) == "Throttling"


def test_random_errors_follow_the_seed() -> None:
    config = {
        "seed": 11,
        "apis": {"DescribeDisks": {"throttling": 0.3, "internal_error": 0.2, "service_unavailable": 0.1}},
    }
    rng = random.Random(11)
    expected = []
    for _ in range(40):
        draw = rng.random()
        expected.append(
            "Throttling"
            if draw < 0.3
            else "InternalError"
            if draw < 0.5
            else "ServiceUnavailable"
            if draw < 0.6
            else "OK"
        )
    with EcsEmulator(faults=config) as emu:
        client = emu.sdk_client()
        seen = [outcome(lambda: describe(client)) for _ in range(40)]
        assert seen == expected
        assert {"Throttling", "InternalError", "ServiceUnavailable", "OK"} <= set(seen)
        emu.reset()  # the same seed again: the same sequence
        assert [outcome(lambda: describe(client)) for _ in range(40)] == expected
        assert emu.counters.to_dict()["DescribeDisks"]["outcomes"]["OK"] == expected.count("OK")


@pytest.mark.parametrize(
    ("key", "code", "status"),
    [("internal_error", "InternalError", 500), ("service_unavailable", "ServiceUnavailable", 503)],
)
def test_server_errors_are_server_exceptions(key: str, code: str, status: int) -> None:
    with EcsEmulator(faults={"apis": {"CreateSnapshot": {key: 1.0}}}) as emu:
        assert error_of(lambda: create(emu.sdk_client(), disk_id=DISK)) == (code, status)
        assert emu.state.snapshots(DISK) == []


def test_scripted_errors_n_times_and_matching() -> None:
    faults = {
        "apis": {
            "CreateSnapshot": {
                "errors": [
                    {"code": "IncorrectDiskStatus.Transferring", "times": 2, "match": {"DiskId": DISK}}
                ]
            }
        }
    }
    with EcsEmulator(faults=faults) as emu:
        client = emu.sdk_client()
        assert create(client, disk_id="d-db-01-data")  # does not match
        assert error_of(lambda: create(client, disk_id=DISK))[0] == "IncorrectDiskStatus.Transferring"
        assert error_of(lambda: create(client, disk_id=DISK))[0] == "IncorrectDiskStatus.Transferring"
        assert create(client, disk_id=DISK)
        assert emu.faults.to_dict()["apis"]["CreateSnapshot"]["errors"][0]["times"] == 0
        assert emu.calls("CreateSnapshot") == 4


def test_the_wildcard_applies_to_every_api_without_its_own_entry() -> None:
    faults = {"apis": {"*": {"errors": [{"code": "InternalError"}]}, "DescribeDisks": {}}}
    with EcsEmulator(faults=faults) as emu:
        client = emu.sdk_client()
        describe(client)
        assert error_of(lambda: create(client, disk_id=DISK))[0] == "InternalError"
        request = ecs.DescribeInstancesRequest(region_id=REGION)
        assert (
            error_of(lambda: client.describe_instances_with_options(request, RUNTIME))[0] == "InternalError"
        )


def test_commit_then_drop() -> None:
    with EcsEmulator(faults={"apis": {"CreateSnapshot": {"drop_after_commit": {"times": 1}}}}) as emu:
        client = emu.sdk_client()
        with pytest.raises(UnretryableException) as info:
            create(client, disk_id=DISK, client_token="slot-drop")
        assert "Connection aborted" in str(info.value.inner_exception) or "reset" in str(info.value).lower()
        # The server committed: the snapshot exists although the client never heard of it.
        (snap,) = emu.state.snapshots(DISK)
        assert snap["client_token"] == "slot-drop"
        assert emu.counters.to_dict()["CreateSnapshot"]["outcomes"] == {"Dropped": 1}
        # A naive retry without the token would create a second one; the same token returns the first.
        assert create(client, disk_id=DISK, client_token="slot-drop") == snap["snapshot_id"]
        assert len(emu.state.snapshots(DISK)) == 1


def test_drop_with_a_probability_is_seeded() -> None:
    config = {"seed": 5, "apis": {"DeleteSnapshot": {"drop_after_commit": {"probability": 0.5}}}}
    rng = random.Random(5)
    expected = ["dropped" if rng.random() < 0.5 else "OK" for _ in range(12)]
    with EcsEmulator(faults=config) as emu:
        client = emu.sdk_client()
        seen = []
        for n in range(12):
            request = ecs.DeleteSnapshotRequest(snapshot_id=f"s-none-{n}")
            try:
                client.delete_snapshot_with_options(request, RUNTIME)
                seen.append("OK")
            except UnretryableException:
                seen.append("dropped")
        assert seen == expected


def test_throttling_can_carry_retry_after() -> None:
    faults = {"retry_after_seconds": 2, "apis": {"CreateSnapshot": {"throttling": 1.0}}}
    with EcsEmulator(faults=faults) as emu:
        with pytest.raises(ThrottlingException) as info:
            create(emu.sdk_client(), disk_id=DISK)
        assert (info.value.code, info.value.retry_after) == ("Throttling", 2)


def test_faults_from_json_and_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text(json.dumps({"apis": {"CreateSnapshot": {"throttling": 1.0}}}))
    (tmp_path / "f.yaml").write_text("apis:\n  CreateSnapshot:\n    internal_error: 1.0\n")
    for name, code in (("f.json", "Throttling"), ("f.yaml", "InternalError")):
        with EcsEmulator(faults=tmp_path / name) as emu:
            client = emu.sdk_client()
            assert error_of(lambda: create(client, disk_id=DISK))[0] == code  # noqa: B023 (called at once)


@pytest.mark.parametrize(
    "config",
    [
        {"apis": {"CreateSnapshot": {"throttling": 1.5}}},
        {"apis": {"CreateSnapshot": {"throttling": 0.6, "internal_error": 0.6}}},
        {"apis": {"CreateSnapshot": {"errors": [{"code": "NoSuchCode"}]}}},
        {"apis": {"CreateSnapshot": {"errors": [{"code": "InternalError", "times": 0}]}}},
        {"apis": {"CreateSnapshot": {"latency_ms": {"poisson": 3}}}},
        {"apis": {"CreateSnapshot": {"rate_limit": {"per_second": 0}}}},
        {"apis": {"CreateSnapshot": {"slowness": 1}}},
        {"speed": 1},
    ],
)
def test_bad_fault_configs_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Faults(config)
