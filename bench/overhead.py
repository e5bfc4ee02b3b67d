"""Overhead per disk: the handler's CPU time per disk, with ECS answering at once.

The emulator runs in its own process (zero latency, no rate limit) so its CPU is not counted;
scheduled_backup runs in this process through the local runner over a generated fleet with
``rate_limit`` 1000/s and ``concurrency`` 16, so nothing but the work itself sets the pace.
``time.process_time()`` of this process (every thread) around the invocation, divided by the
disks, is the figure: planning (DescribeDisks pages, one intent per disk), the token table
(claim + complete in SQLite), the SDK call, one log line per disk, the summary.

A warm-up invocation on one disk comes first, so the one-off costs of a cold process (imports,
the SDK's first session) are not spread over the disks. For scale, the same process then times
a bare sequential loop of official-SDK CreateSnapshot calls carrying the same parameters and tags
as the handler's: the SDK's own CPU per call, which no handler can go below.

    python -m bench.overhead [--disks N] [--sdk-calls N] [--profile]

``--profile`` runs the measured invocation once more under cProfile with concurrency 1 (the
profiler follows only the calling thread) and prints the top functions by own time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import (
    POLICY,
    Emulator,
    emulator_process,
    quiet_credentials_chain,
    record,
    run_scheduled,
    scheduled_config,
    sqlite_url,
    verdict,
)

TARGET_MS = 2.0  # handler CPU per disk


def sdk_cpu_per_call(emulator: Emulator, calls: int, seconds: float) -> tuple[float, int]:
    """CPU milliseconds per official-SDK CreateSnapshot call in a plain loop (bounded in count and time)."""
    from alibabacloud_ecs20140526 import models as ecs_models
    from darabonba.runtime import RuntimeOptions

    client = emulator.sdk_client()
    runtime = RuntimeOptions()
    batch = uuid.uuid4().hex[:8]
    made = 0
    deadline = time.monotonic() + seconds
    cpu0 = time.process_time()
    for n in range(calls):
        if time.monotonic() > deadline:
            break
        disk, token = f"d-gen-{n:06d}", f"sdk-{batch}-{n}"
        # The request the handler sends for the bench policy: name, description, retention, the
        # three provenance tags; the same bytes to sign and encode, so the comparison is fair.
        request = ecs_models.CreateSnapshotRequest(
            disk_id=disk,
            snapshot_name=f"snapstack-{POLICY}-20261128-{disk}",
            description=f"snapstack {POLICY} (timer) for {disk}",
            retention_days=7,
            client_token=token,
            tag=[
                ecs_models.CreateSnapshotRequestTag(key="snapstack:policy", value=POLICY),
                ecs_models.CreateSnapshotRequestTag(key="snapstack:trigger", value="timer"),
                ecs_models.CreateSnapshotRequestTag(key="snapstack:slot", value=token),
            ],
        )
        client.create_snapshot_with_options(request, runtime)
        made += 1
    return (time.process_time() - cpu0) * 1000 / max(1, made), made


def profile_run(emulator: Emulator, directory: str) -> None:
    """The measured run again, on one thread under cProfile; prints the top 25 by own time."""
    import cProfile
    import pstats

    emulator.reset()
    profiler = cProfile.Profile()
    profiler.enable()
    run_scheduled(emulator, scheduled_config(1000, 1), sqlite_url(Path(directory) / "profile"))
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    """Measure and print; file the summary row."""
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, default=2_000)
    parser.add_argument("--sdk-calls", type=int, default=500, help="calls of the bare SDK loop")
    parser.add_argument("--profile", action="store_true", help="also profile one run (concurrency 1)")
    args = parser.parse_args(argv)
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet

    fleet = generate_fleet(args.disks, snapshot_seconds=0)
    with emulator_process(fleet) as emu, tempfile.TemporaryDirectory(prefix="snapstack-overhead-") as tmp:
        warm = {"policies": [{"name": POLICY, "selector": {"disk_ids": ["d-gen-000000"]}}]}
        run_scheduled(emu, warm, sqlite_url(Path(tmp) / "warm"), trigger_time="2026-01-01T00:00:00Z")
        emu.reset()
        run = run_scheduled(emu, scheduled_config(1000, 16), sqlite_url(tmp))
        emu.reset()
        sdk_ms, sdk_calls = sdk_cpu_per_call(emu, args.sdk_calls, seconds=60)
        if args.profile:
            profile_run(emu, tmp)

    created, failed = run.count("created"), run.count("failed")
    per_disk = run.cpu * 1000 / args.disks
    print(f"overhead per disk: {args.disks} disks, zero-latency emulator in its own process, concurrency 16")
    print(f"  handler CPU            {run.cpu:8.2f} s over {run.wall:.2f} s wall", end="")
    print(f" ({created} created, {failed} failed)")
    print(f"  per disk               {per_disk:8.3f} ms CPU   (target <= {TARGET_MS:g} ms)")
    print(f"  bare SDK call          {sdk_ms:8.3f} ms CPU   ({sdk_calls} sequential calls)")
    ours = per_disk - sdk_ms
    print(f"  ours on top of the SDK {ours:8.3f} ms CPU per disk ({per_disk / sdk_ms:.2f}x the SDK)")
    ok = created == args.disks and failed == 0
    record(
        f"handler CPU per disk ({args.disks} disks)",
        f"{per_disk:.2f} ms (bare SDK call {sdk_ms:.2f} ms)",
        f"<= {TARGET_MS:g} ms",
        verdict(per_disk <= TARGET_MS, f"{per_disk / TARGET_MS:.2f}x target"),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
