"""Overhead per disk: the handler's CPU time per disk against the bare SDK's, with ECS answering at once.

The emulator runs in its own process (zero latency, no rate limit) so its CPU is not counted. Each
round runs, in a shuffled order and each on the reset emulator:

- **snapstack**: scheduled_backup in this process through the local runner over a generated fleet
  (``rate_limit`` 1000/s, ``concurrency`` 16): listing, planning, the token table (SQLite claim,
  mark sent, complete), the SDK call, one log line per disk, the summary;
- **bare SDK, 16 threads**: the same number of official-SDK CreateSnapshot calls on 16 threads
  sharing one client, each carrying the same parameters and tags as the handler's, so the
  signing, encoding and HTTP exchange are the same bytes: what no handler can go below.

Like with like: the same thread count on both sides, so both pay the same interpreter-lock
contention. ``time.process_time()`` of this process (every thread) around each, divided by the
disks, is the figure; "ours on top of the SDK" is the difference of the medians. A warm-up
invocation on one disk comes first, so a cold process's one-off costs are not spread over the disks.

    python -m bench.overhead [--disks N] [--rounds R] [--profile]

``--profile`` runs the measured invocation once more under cProfile with concurrency 1 (the
profiler follows only the calling thread) and prints the top functions by own time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import (
    POLICY,
    Emulator,
    emulator_process,
    quiet_credentials_chain,
    record,
    rounds_line,
    run_scheduled,
    scheduled_config,
    sqlite_url,
    verdict,
)

TARGET_MS = 2.0  # handler CPU per disk


def sdk_cpu_per_call(emulator: Emulator, calls: int, threads: int) -> float:
    """CPU milliseconds per official-SDK CreateSnapshot call, ``threads`` threads sharing one client."""
    from alibabacloud_ecs20140526 import models as ecs_models
    from darabonba.runtime import RuntimeOptions

    client = emulator.sdk_client()
    batch = uuid.uuid4().hex[:8]

    def create(n: int) -> None:
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
        client.create_snapshot_with_options(request, RuntimeOptions())

    cpu0 = time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(create, range(calls)))
    return (time.process_time() - cpu0) * 1000 / calls


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
    """Measure in interleaved rounds and print; file the summary rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16, help="both sides' thread count")
    parser.add_argument("--profile", action="store_true", help="also profile one run (concurrency 1)")
    args = parser.parse_args(argv)
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet

    ours: list[float] = []
    sdk: list[float] = []
    failures = 0
    rng = random.Random(5)
    fleet = generate_fleet(args.disks, snapshot_seconds=0)
    with emulator_process(fleet) as emu, tempfile.TemporaryDirectory(prefix="snapstack-overhead-") as tmp:
        warm = {"policies": [{"name": POLICY, "selector": {"disk_ids": ["d-gen-000000"]}}]}
        run_scheduled(emu, warm, sqlite_url(Path(tmp) / "warm"), trigger_time="2026-01-01T00:00:00Z")
        for n in range(args.rounds):
            for side in rng.sample(["ours", "sdk"], 2):
                emu.reset()
                if side == "sdk":
                    sdk.append(sdk_cpu_per_call(emu, args.disks, args.threads))
                    continue
                folder = Path(tmp) / f"round-{n}"
                folder.mkdir()
                run = run_scheduled(emu, scheduled_config(1000, args.threads), sqlite_url(folder))
                failures += args.disks - run.count("created")
                ours.append(run.cpu * 1000 / args.disks)
            print(
                f"  round {n + 1}: snapstack {ours[-1]:.3f} ms, bare SDK {sdk[-1]:.3f} ms CPU per disk",
                flush=True,
            )
        if args.profile:
            profile_run(emu, tmp)

    med = statistics.median
    print(
        f"overhead per disk: {args.disks} disks, zero-latency emulator in its own process, "
        f"{args.threads} threads"
    )
    print("  " + rounds_line("snapstack handler CPU", ours, "ms per disk", "{:.3f}"))
    print("  " + rounds_line("bare SDK call CPU    ", sdk, "ms per call", "{:.3f}"))
    extra = med(ours) - med(sdk)
    print(f"  ours on top of the SDK: {extra:.3f} ms CPU per disk ({med(ours) / med(sdk):.2f}x the SDK)")
    record(
        f"handler CPU per disk ({args.disks} disks, {args.threads} threads)",
        f"{med(ours):.2f} ms (bare SDK, {args.threads} threads: {med(sdk):.2f} ms; ours +{extra:.2f} ms)",
        f"<= {TARGET_MS:g} ms",
        verdict(med(ours) <= TARGET_MS, f"{med(ours) / TARGET_MS:.2f}x target"),
    )
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
