"""Fan-out: scheduled_backup over 5,000 and 50,000 disks against a rate-limited, 50 ms CreateSnapshot,
side by side in the same rounds with the baselines a user would write.

The emulator runs in its own process on a generated fleet (snapshots complete at once, so every
create is a real one on a free disk) with CreateSnapshot faults: 50 ms latency and a token bucket
of 200/s (``--server-burst``, default 20, a tenth of a second: any burstiness shows up as
Throttling). Every other API is unthrottled. Every run starts from the reset emulator (the fleet
as generated, no snapshot, a full bucket), after one warm-up invocation of one disk (imports done,
as in a warm FC instance or a user's running script), and each round runs the contenders in a
shuffled order:

- **snapstack**: the function in this process through the local runner, one policy over every
  disk (``rate_limit`` 200/s, ``concurrency`` 16), a fresh SQLite token table; the wall time is
  the whole invocation: listing, planning, the token table, every create;
- **16 threads + retry**: what a user would write with the plain official SDK: list every disk
  (DescribeDisks, MaxResults 500), then 16 threads call CreateSnapshot, each retrying Throttling
  up to 5 times with exponential backoff and jitter (0.2 s doubling, capped at 5 s), no ClientToken;
  a disk whose retries ran out is lost;
- **sequential loop** (a reference, not a contender): one SDK call after another on the first
  ``--sequential`` disks; its rate is what it measured on those disks, never extrapolated.

Reported per size: the median and spread over the rounds of the end-to-end creates/s (creates over
the whole wall time) as a share of the 200/s limit (goal: >= 98 %), the Throttling answers the
server gave, and the disks that ended with no snapshot (lost) or more than one (duplicated),
counted from the emulator's own state.

    python -m bench.fanout [--disks N ...] [--rounds R] [--disk-rounds D] [--sequential N]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    POLICY,
    Emulator,
    MachineLoad,
    emulator_process,
    quiet_credentials_chain,
    record,
    rounds_line,
    run_scheduled,
    scheduled_config,
    sqlite_url,
    verdict,
)

SERVER_RATE = 200.0  # CreateSnapshot calls per second the emulator allows
LATENCY_MS = 50
SIZES = (5_000, 50_000)
#: The issue's goal: end-to-end creates/s at least this share of the server's limit.
TARGET_SHARE = 0.98
THREADS = 16
RETRIES = 5
OURS, USER, SEQUENTIAL = "snapstack", "16 threads + retry", "sequential loop"


@dataclass(frozen=True)
class Run:
    """One contender's run on a reset emulator."""

    contender: str
    disks: int  # disks it set out to snapshot
    wall: float
    created: int
    throttled: int  # Throttling answers the server gave it
    lost: int  # disks with no snapshot at the end
    duplicated: int  # disks with more than one
    load: MachineLoad  # what the rest of the machine took meanwhile

    @property
    def rate(self) -> float:
        """End-to-end creates per second."""
        return self.created / self.wall

    @property
    def share(self) -> float:
        """End-to-end creates/s as a share of the server's limit."""
        return self.rate / SERVER_RATE


def _snapshots_per_disk(emu: Emulator) -> Counter[str]:
    # The whole fleet's state: 50,000 disks and their snapshots take minutes to dump on a loaded machine.
    state = emu.control("GET", "state", timeout=900)
    return Counter(s["disk_id"] for s in state["snapshots"])


def _outcome(emu: Emulator, contender: str, disks: int, wall: float, load: MachineLoad) -> Run:
    """What a contender did to the first ``disks`` disks of the generated fleet."""
    wanted = [f"d-gen-{n:06d}" for n in range(disks)]
    per_disk = _snapshots_per_disk(emu)
    throttled = emu.outcomes("CreateSnapshot").get("Throttling", 0)
    return Run(
        contender,
        disks,
        wall,
        created=sum(1 for d in wanted if per_disk[d] >= 1),
        throttled=throttled,
        lost=sum(1 for d in wanted if per_disk[d] == 0),
        duplicated=sum(1 for d in wanted if per_disk[d] > 1),
        load=load,
    )


def run_ours(emu: Emulator, disks: int, workdir: Path, concurrency: int) -> Run:
    """scheduled_backup over the whole fleet (a fresh token table)."""
    workdir.mkdir(parents=True)
    meter = emu.meter()
    run = run_scheduled(
        emu, scheduled_config(SERVER_RATE, concurrency), sqlite_url(workdir), timeout=max(300, disks)
    )
    return _outcome(emu, OURS, disks, run.wall, meter.stop())


def _sdk() -> tuple[Any, Callable[[], Any], type[Exception]]:
    """The SDK's models, its runtime options and the base of its API errors (imported late)."""
    from alibabacloud_ecs20140526 import models
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from darabonba.runtime import RuntimeOptions

    return models, RuntimeOptions, AlibabaCloudException


def _list_disk_ids(client: Any) -> list[str]:
    models, runtime, _ = _sdk()
    ids: list[str] = []
    token = None
    while True:
        body = client.describe_disks_with_options(
            models.DescribeDisksRequest(region_id="cn-hangzhou", max_results=500, next_token=token), runtime()
        ).body
        ids += [d.disk_id for d in body.disks.disk]
        token = body.next_token
        if not token:
            return ids


def run_user(emu: Emulator, disks: int) -> Run:
    """The script a user would write: list, then 16 threads with retry on Throttling."""
    models, runtime, sdk_error = _sdk()
    client = emu.sdk_client()
    rng = random.Random(7)

    def create(disk_id: str) -> None:
        for attempt in range(RETRIES + 1):
            try:
                client.create_snapshot_with_options(models.CreateSnapshotRequest(disk_id=disk_id), runtime())
                return
            except sdk_error as exc:
                if not str(getattr(exc, "code", "")).startswith("Throttling") or attempt == RETRIES:
                    return  # given up: the disk is lost
                time.sleep(min(5.0, 0.2 * 2**attempt) * rng.uniform(0.5, 1.0))

    meter = emu.meter()
    began = time.perf_counter()
    ids = _list_disk_ids(client)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(create, ids))
    wall = time.perf_counter() - began
    return _outcome(emu, USER, disks, wall, meter.stop())


def run_sequential(emu: Emulator, disks: int) -> Run:
    """One SDK call after another on the first ``disks`` disks (a reference rate)."""
    models, runtime, sdk_error = _sdk()
    client = emu.sdk_client()
    meter = emu.meter()
    began = time.perf_counter()
    for n in range(disks):
        with contextlib.suppress(sdk_error):  # counted from the emulator's state afterwards
            client.create_snapshot_with_options(
                models.CreateSnapshotRequest(disk_id=f"d-gen-{n:06d}"), runtime()
            )
    wall = time.perf_counter() - began
    return _outcome(emu, SEQUENTIAL, disks, wall, meter.stop())


def warm_up(emu: Emulator, workdir: Path) -> None:
    """One one-disk invocation before the rounds: every contender then finds its imports done and
    the SDK's session made, as a warm FC instance (or a user's long-running script) would."""
    workdir.mkdir(parents=True)
    warm = {"policies": [{"name": POLICY, "selector": {"disk_ids": ["d-gen-000000"]}}]}
    run_scheduled(emu, warm, sqlite_url(workdir), trigger_time="2026-01-01T00:00:00Z")


def fleet_rounds(disks: int, rounds: int, disk_rounds: int) -> int:
    """Rounds for a fleet of ``disks``: ``rounds``, fewer for large fleets (at most ``disk_rounds``
    disks in all per contender), at least one."""
    return max(1, min(rounds, disk_rounds // disks))


def main(argv: list[str] | None = None) -> int:
    """Run every size's rounds; print them and the medians; file the summary rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, nargs="+", default=list(SIZES), help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (default 3)")
    parser.add_argument(
        "--disk-rounds", type=int, default=20_000, help="at most this many disks x rounds per size"
    )
    parser.add_argument("--concurrency", type=int, default=THREADS, help="the policy's concurrency")
    parser.add_argument("--sequential", type=int, default=200, help="disks of the sequential reference")
    parser.add_argument("--server-burst", type=float, default=20.0, help="the emulator's bucket size")
    args = parser.parse_args(argv)
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet

    faults = {
        "apis": {
            "CreateSnapshot": {
                "latency_ms": LATENCY_MS,
                "rate_limit": {"per_second": SERVER_RATE, "burst": args.server_burst},
            }
        }
    }
    print(
        f"fan-out: CreateSnapshot {LATENCY_MS} ms and {SERVER_RATE:.0f}/s (burst {args.server_burst:g}) "
        f"at the emulator; snapstack: rate_limit {SERVER_RATE:g}/s, concurrency {args.concurrency}"
    )
    status = 0
    rng = random.Random(11)
    for disks in sorted(set(args.disks)):
        rounds = fleet_rounds(disks, args.rounds, args.disk_rounds)
        runs: dict[str, list[Run]] = {OURS: [], USER: [], SEQUENTIAL: []}
        with (
            emulator_process(generate_fleet(disks, snapshot_seconds=0), faults) as emu,
            tempfile.TemporaryDirectory(prefix="snapstack-fanout-") as tmp,
        ):
            warm_up(emu, Path(tmp) / f"{disks}-warm")
            for n in range(rounds):
                for contender in rng.sample(list(runs), len(runs)):
                    emu.reset()
                    if contender == OURS:
                        run = run_ours(emu, disks, Path(tmp) / f"{disks}-{n}", args.concurrency)
                    elif contender == USER:
                        run = run_user(emu, disks)
                    else:
                        run = run_sequential(emu, min(args.sequential, disks))
                    runs[contender].append(run)
                    print(
                        f"  {disks} disks, round {n + 1}: {contender:<20} {run.wall:7.1f} s  "
                        f"{run.rate:6.1f}/s = {run.share:6.1%}  throttled {run.throttled:4d}  "
                        f"lost {run.lost}  duplicated {run.duplicated}  ({run.load})",
                        flush=True,
                    )
        status |= report(disks, runs)
    return status


def report(disks: int, runs: dict[str, list[Run]]) -> int:
    """Print one size's medians and file its rows; 1 if snapstack lost or duplicated a disk."""
    med = statistics.median
    print(f"fan-out, {disks} disks ({len(runs[OURS])} round(s)):")
    for contender, done in runs.items():
        print(
            "  " + rounds_line(f"{contender:<20} end to end", [100 * r.share for r in done], "% of the limit")
        )
    ours, user = runs[OURS], runs[USER]
    share = med(r.share for r in ours)
    print(
        "  "
        + rounds_line("snapstack throttled", [r.throttled for r in ours], "answers", "{:.0f}")
        + f"; user script: {med(r.throttled for r in user):.0f}"
    )
    lost = max(r.lost + r.duplicated for r in ours)
    record(
        f"fan-out {disks:,} disks @ {SERVER_RATE:.0f}/s, end to end",
        f"{med(r.wall for r in ours):.1f} s, {med(r.rate for r in ours):.0f}/s = {share:.1%} of the limit",
        f">= {TARGET_SHARE:.0%} of the limit",
        verdict(
            share >= TARGET_SHARE and lost == 0, f"{share / med(r.share for r in user):.2f}x the user script"
        ),
    )
    record(
        f"fan-out {disks:,}: throttles, lost, duplicated (ours vs user script)",
        f"{_damage(ours)} vs {_damage(user)}",
        "0 lost, 0 duplicated",
        verdict(lost == 0),
    )
    seq = runs[SEQUENTIAL]
    record(
        f"fan-out {disks:,}: vs a sequential SDK loop",
        f"{med(r.rate for r in ours):.0f}/s vs {med(r.rate for r in seq):.1f}/s (measured on {seq[0].disks})",
        "(reported)",
        f"{med(r.rate for r in ours) / med(r.rate for r in seq):.1f}x",
    )
    return 1 if lost else 0


def _damage(runs: list[Run]) -> str:
    """Median throttles, and the most disks lost and duplicated in any round."""
    throttled = statistics.median(r.throttled for r in runs)
    return f"{throttled:.0f}, {max(r.lost for r in runs)}, {max(r.duplicated for r in runs)}"


if __name__ == "__main__":
    sys.exit(main())
