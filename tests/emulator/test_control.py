"""The control API, fleets, and the ``snapstack emulator start`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as ecs

from devkit.emulator.fleet import SAMPLE_FLEET, generate_fleet, load_fleet
from devkit.emulator.models import EcsState
from devkit.emulator.testing import EcsEmulator

from .support import REGION, RUNTIME, create, error_of


def total_disks(client: Any) -> int:
    """TotalCount of DescribeDisks."""
    request = ecs.DescribeDisksRequest(region_id=REGION)
    count: int = client.describe_disks_with_options(request, RUNTIME).body.total_count
    return count


def test_health_state_and_counters(emu: EcsEmulator, client: Any) -> None:
    assert emu.control("GET", "health") == (
        200,
        {
            "ok": True,
            "actions": sorted(
                [
                    "CreateSnapshot",
                    "DeleteSnapshot",
                    "DescribeDisks",
                    "DescribeInstances",
                    "DescribeSnapshots",
                ]
            ),
        },
    )
    assert emu.control("GET", "counters") == (200, {})
    snapshot_id = create(client, disk_id="d-web-02-data", client_token="t-1")
    error_of(lambda: create(client, disk_id="d-nope"))
    status, state = emu.control("GET", "state")
    assert status == 200
    assert len(state["disks"]) == 25 and len(state["instances"]) == 7
    snap = next(s for s in state["snapshots"] if s["snapshot_id"] == snapshot_id)
    assert (snap["status"], snap["progress"]) == ("progressing", 0)
    assert state["client_tokens"] == {"t-1": {"snapshot_id": snapshot_id, "processing": False, "error": None}}
    assert state["token_errors"] == "remember"
    assert emu.control("GET", "counters")[1] == {
        "CreateSnapshot": {"total": 2, "outcomes": {"OK": 1, "InvalidDiskId.NotFound": 1}}
    }
    assert emu.control("DELETE", "counters") == (200, {})
    assert emu.calls("CreateSnapshot") == 0


def test_clock(emu: EcsEmulator, client: Any) -> None:
    snapshot_id = create(client, disk_id="d-web-02-data")
    assert emu.control("GET", "clock")[1]["now"] == "2024-06-01T00:00:00Z"
    status, clock = emu.control("POST", "clock", {"advance": 90})
    assert (status, clock["now"]) == (200, "2024-06-01T00:01:30Z")
    assert emu.state.snapshot(snapshot_id)["progress"] == 75  # type: ignore[index]
    assert emu.control("POST", "clock", {"now": "2024-06-02T00:00:00Z"})[1]["epoch"] == 1717286400
    assert emu.control("POST", "clock", {"now": "2024-06-01T00:00:00Z"})[0] == 400  # never backwards
    assert emu.control("POST", "clock", {"advance": -1})[0] == 400
    assert emu.control("POST", "clock", {"tick": 1})[0] == 400


def test_load_a_fleet_and_reset(emu: EcsEmulator, client: Any) -> None:
    create(client, disk_id="d-web-02-data")
    assert emu.control("POST", "fleet", generate_fleet(12)) == (
        200,
        {"instances": 3, "disks": 12, "snapshots": 0},
    )
    assert total_disks(client) == 12
    assert emu.control("POST", "fleet", {"disks": [{"disk_id": "d-1", "colour": "red"}]})[0] == 400
    assert total_disks(client) == 12  # a bad fleet leaves the state alone
    emu.control("POST", "faults", {"apis": {"DescribeDisks": {"throttling": 1.0}}})
    assert error_of(lambda: total_disks(client))[0] == "Throttling"
    assert emu.control("POST", "reset") == (200, {"ok": True})
    assert total_disks(client) == 25  # the starting fleet, no faults, no snapshots made by the test
    assert emu.state.snapshots("d-web-02-data") == []
    assert emu.calls("DescribeDisks") == 1


def test_faults_endpoints(emu: EcsEmulator, client: Any) -> None:
    status, faults = emu.control("POST", "faults", {"seed": 9, "apis": {"CreateSnapshot": {"latency_ms": 5}}})
    assert status == 200
    assert faults["apis"]["CreateSnapshot"]["latency_ms"] == {"fixed": 5.0}
    assert emu.control("GET", "faults")[1] == faults
    assert emu.control("POST", "faults", {"apis": {"CreateSnapshot": {"throttling": 2}}})[0] == 400
    assert emu.control("GET", "faults")[1] == faults  # unchanged
    assert emu.control("DELETE", "faults")[1]["apis"] == {}
    assert create(client, disk_id="d-web-02-data")


def test_control_errors(emu: EcsEmulator) -> None:
    assert emu.control("GET", "nothing")[0] == 404
    assert emu.control("DELETE", "state")[0] == 405
    assert emu.control("POST", "fleet", [1, 2])[0] == 400


def test_zero_call_paths_are_visible(emu: EcsEmulator, client: Any) -> None:
    # What a test of a caller relies on: a refused-before-sending path makes no call at all.
    assert emu.calls("CreateSnapshot") == 0
    create(client, disk_id="d-web-02-data")
    assert emu.calls("CreateSnapshot") == 1
    assert emu.calls("DescribeDisks") == 0


def test_fleet_fixtures(tmp_path: Path) -> None:
    sample = load_fleet()
    assert sample == json.loads(SAMPLE_FLEET.read_text())
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(generate_fleet(8)))
    with EcsEmulator(fleet=path) as emu:
        assert total_disks(emu.sdk_client()) == 8
    big = generate_fleet(5000, disks_per_instance=5, seed=4)
    assert big == generate_fleet(5000, disks_per_instance=5, seed=4)
    assert (len(big["disks"]), len(big["instances"])) == (5000, 1000)
    assert {d["type"] for d in big["disks"][:5]} == {"system", "data"}
    assert all(set(i["tags"]) == {"app", "env", "backup"} for i in big["instances"])
    state = EcsState(big)
    assert state.disk("d-gen-004999")["instance_id"] == "i-gen-00999"


@pytest.mark.parametrize(
    "fleet",
    [
        {"disks": [{"disk_id": "d-1", "status": "Sleeping"}]},
        {"disks": [{"disk_id": "d-1", "category": "floppy"}]},
        {"disks": [{"instance_id": "i-1"}]},
        {"instances": [{"instance_id": "i-1"}, {"instance_id": "i-1"}]},
        {"kms_keys": {"k": "Lost"}},
        {"snapshots": [{"snapshot_id": "s-1", "disk_id": "d-1", "status": "done"}]},
        {"clock": {"now": "2024-01-01T00:00:00Z", "speed": 2}},
        {"regions": []},
    ],
)
def test_bad_fleets_name_the_problem(fleet: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        EcsState(fleet)


def test_the_cli_serves_in_the_foreground() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit.cli", "emulator", "start", "--port", "0", "--clock-rate", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while "control API" not in lines[-1]:  # the last line of the banner
            assert lines[-1], f"the emulator exited: {lines}"
            lines.append(proc.stdout.readline())
        endpoint = lines[0].split("http://", 1)[1].split()[0]
        assert any("LTAI5tEmulatorKey0001" in line for line in lines)
        assert any("emulator-sts-token-0001" in line for line in lines)
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.models import Config

        config = Config(
            access_key_id="LTAI5tEmulatorKey0001",
            access_key_secret="emulator-secret-0001",
            endpoint=endpoint,
            protocol="http",
            region_id=REGION,
        )
        assert total_disks(Client(config)) == 25
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
