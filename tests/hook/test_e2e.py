"""End to end: ``snapstack hook`` (a process) -> the local FC endpoint -> template.yml's deploy_hook
-> the ECS emulator, through the real aliyun-fc2 and ECS SDKs over sockets.

deploy_hook's side is TEAM.md's D4: the direct-invoke payload, narrowed by the policy's allow-list
(``functions/deploy_hook/snapstack.json``: disks tagged env=prod), one slot per deploy id + disk.
"""

from __future__ import annotations

import subprocess
import uuid
from collections import Counter
from dataclasses import replace

from devkit import exitcodes
from devkit.emulator.testing import EcsEmulator
from devkit.fc.testing import LocalFc
from tests.e2e.conftest import all_calls, ours
from tests.hook.conftest import SNAPSTACK, Hook, caller_env, run_snapstack

PROD_DISKS = ("d-web-01-data", "d-web-02-data")
WAIT = ("--wait", "--poll-interval", "0.05")


def release() -> str:
    return f"release-{uuid.uuid4().hex[:8]}"


def snapshot_hook(fc: LocalFc, deploy_id: str, *extra: str, disks: tuple[str, ...] = PROD_DISKS) -> list[str]:
    args = ["hook", "--endpoint", fc.url, "--service", fc.service, "--function", "deploy_hook"]
    for disk in disks:
        args += ["--disk", disk]
    return [*args, "--reason", "pre-deploy", "--deploy-id", deploy_id, *extra]


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A ``snapstack`` process running in the background (pipes for its output)."""
    return subprocess.Popen(
        [str(SNAPSTACK), *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def per_disk(emulator: EcsEmulator) -> Counter[str]:
    return Counter(s["disk_id"] for s in ours(emulator))


def test_one_snapshot_per_disk(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    ran = run_snapstack(snapshot_hook(stack_fc, release(), *WAIT, "--json"), Hook(stack_fc).env)
    assert ran.code == exitcodes.OK, ran.stderr
    summary = ran.json()["summary"]
    assert summary["created"] == 2
    assert {d["disk_id"]: d["outcome"] for d in summary["disks"]} == dict.fromkeys(PROD_DISKS, "created")
    assert per_disk(emulator) == Counter(PROD_DISKS)


def test_same_deploy_id_twice_in_a_row_is_still_one(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    deploy_id, env = release(), Hook(stack_fc).env
    first = run_snapstack(snapshot_hook(stack_fc, deploy_id, *WAIT), env)
    second = run_snapstack(snapshot_hook(stack_fc, deploy_id, *WAIT), env)
    assert (first.code, second.code) == (exitcodes.OK, exitcodes.OK), second.stderr
    assert "already submitted" in second.stdout
    assert per_disk(emulator) == Counter(PROD_DISKS)
    assert emulator.calls("CreateSnapshot") == 2


def test_same_deploy_id_twice_at_once_is_still_one(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    deploy_id, env = release(), Hook(stack_fc).env
    procs = [start(snapshot_hook(stack_fc, deploy_id, *WAIT), env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [exitcodes.OK, exitcodes.OK], outs
    assert sum("already submitted" in out for out, _ in outs) == 1
    assert len(stack_fc.state.invocations()) == 1
    assert per_disk(emulator) == Counter(PROD_DISKS)


def test_same_deploy_id_under_two_invocation_ids_at_once_is_still_one(
    stack_fc: LocalFc, emulator: EcsEmulator
) -> None:
    # Two invocations FC does not dedupe (e.g. a manifest and the hook): deploy_hook's slots do.
    deploy_id, env = release(), Hook(stack_fc).env
    # in_progress elsewhere -> FC's retry finds it done
    stack_fc.app.host.settings = replace(stack_fc.app.host.settings, max_async_retries=50, retry_delay=0.1)
    procs = [
        start(snapshot_hook(stack_fc, deploy_id, *WAIT, "--invocation-id", f"run_{n}"), env) for n in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [exitcodes.OK, exitcodes.OK], outs
    assert len(stack_fc.state.invocations()) == 2
    assert per_disk(emulator) == Counter(PROD_DISKS)


def test_a_new_deploy_id_makes_a_second_snapshot(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    env = Hook(stack_fc).env
    assert run_snapstack(snapshot_hook(stack_fc, release(), *WAIT), env).code == exitcodes.OK
    emulator.state.clock.advance(3600)  # the first snapshots complete (ECS takes one per disk at a time)
    assert run_snapstack(snapshot_hook(stack_fc, release(), *WAIT), env).code == exitcodes.OK
    assert per_disk(emulator) == Counter({disk: 2 for disk in PROD_DISKS})


def test_outside_the_allow_list_is_denied_with_no_create(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    # d-batch-01-system is tagged env=dev: deploy_hook's policy covers env=prod only.
    args = snapshot_hook(stack_fc, release(), *WAIT, "--json", disks=("d-batch-01-system",))
    ran = run_snapstack(args, Hook(stack_fc).env)
    assert ran.code == exitcodes.BAD_INPUT, ran.stderr
    result = ran.json()
    assert result["verdict"] == "1 disk(s) outside deploy_hook's allow-list"
    assert [(d["disk_id"], d["outcome"]) for d in result["summary"]["disks"]] == [
        ("d-batch-01-system", "denied")
    ]
    assert emulator.calls("CreateSnapshot") == 0


def test_a_malformed_request_is_refused_with_no_ecs_call(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    args = snapshot_hook(stack_fc, release(), *WAIT, "--json", disks=("not-a-disk-id",))
    ran = run_snapstack(args, Hook(stack_fc).env)
    assert ran.code == exitcodes.BAD_INPUT, ran.stderr
    assert ran.json()["verdict"].startswith("deploy_hook refused the request: ")
    assert all_calls(emulator) == 0


# --- failures before deploy_hook runs (no dependency on branch deploy) ------------------------------------


def test_bad_signature_is_auth(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    env = caller_env(stack_fc.credentials.access_key_id, "not-the-secret")
    ran = run_snapstack(snapshot_hook(stack_fc, release(), *WAIT), env)
    assert ran.code == exitcodes.AUTH
    assert "403 SignatureNotMatch" in ran.stderr
    assert stack_fc.state.invocations() == []
    assert all_calls(emulator) == 0


def test_unknown_function_is_not_found(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    args = snapshot_hook(stack_fc, release())
    args[args.index("deploy_hook")] = "deploy_hooks"
    ran = run_snapstack(args, Hook(stack_fc).env)
    assert ran.code == exitcodes.NOT_FOUND
    assert "404 FunctionNotFound" in ran.stderr
    assert all_calls(emulator) == 0


def test_server_down_is_network(stack_fc: LocalFc, emulator: EcsEmulator) -> None:
    args, env = snapshot_hook(stack_fc, release(), "--connect-retries", "0"), Hook(stack_fc).env
    stack_fc.stop()
    ran = run_snapstack(args, env)
    assert ran.code == exitcodes.NETWORK
    assert "network: cannot reach FC" in ran.stderr
    assert all_calls(emulator) == 0
