"""Prune: the prune function over 10,000 disks x 30 snapshots, against a rate-limited, 50 ms ECS.

The emulator runs in its own process on a generated fleet whose every disk holds 30 daily
snapshots of the policy ``bench`` (the newest 6 hours before the run). DescribeSnapshots and
DeleteSnapshot each take 50 ms at the emulator and each have a token bucket of 200 calls/s
(burst 20), the latency and limit the fan-out bench gives CreateSnapshot; ECS throttles each API
on its own, so the two limits do not share a budget.

The function runs in a fresh child process (so its peak RSS is its own) through the local
runner, with one policy over every disk, ``retention: {daily: 29}`` (steady state: yesterday's
run left 30, one falls out per disk: 10,000 deletions), ``first_run: apply``, ``rate_limit``
200/s and ``concurrency`` 16, and a fresh SQLite token table.

A run reads every disk (DescribeSnapshots, paced at 200/s), plans, checks the breaker, then
deletes (paced at 200/s): the two phases cannot overlap, because the breaker must see the whole
plan before anything goes. The ideal wall time is therefore reads / 200 + deletions / 200, and
calls per second over the whole run, divided by 200, is the ratio to the API rate limit.

    python -m bench.prune [--disks N] [--snapshots K]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from bench.harness import (
    POLICY,
    ROOT,
    TRIGGER_TIME,
    Emulator,
    emulator_process,
    peak_rss_mb,
    quiet_credentials_chain,
    record,
    run_function,
    sqlite_url,
    verdict,
)

SERVER_RATE = 200.0  # calls per second the emulator allows, per API
LATENCY_MS = 50
#: Targets: DescribeSnapshots calls per disk (one page holds 100 snapshots), share of the ideal.
CALLS_PER_DISK = 1.0
TARGET_SHARE = 0.90
TARGET_MB = 256.0


def config(snapshots: int) -> dict[str, object]:
    """One policy over every disk, keeping one snapshot fewer than each disk holds."""
    return {
        "policies": [
            {
                "name": POLICY,
                "selector": {"all_disks": True},
                "retention_days": None,
                "time_zone": "Asia/Shanghai",
                "rate_limit": SERVER_RATE,
                "concurrency": 16,
                "retention": {
                    "daily": snapshots - 1,
                    "first_run": "apply",
                    "breaker": {"max_fraction": 0.5, "max_count": 1_000_000},
                },
            }
        ]
    }


def child(endpoint: str, snapshots: int) -> int:
    """In the measured process: one prune invocation; print a JSON report."""
    quiet_credentials_chain()
    with tempfile.TemporaryDirectory(prefix="snapstack-prune-") as tmp:
        event = json.dumps({"triggerTime": TRIGGER_TIME, "triggerName": "prune", "payload": ""}).encode()
        run = run_function(
            Emulator(endpoint), "prune", event, config(snapshots), sqlite_url(tmp), timeout=900
        )
    (policy,) = run.summary["policies"]
    report = {
        "wall": run.wall,
        "cpu": run.cpu,
        "peak_mb": peak_rss_mb(),
        **{k: policy.get(k) for k in ("mode", "disks", "snapshots", "kept", "deleted", "failed", "breaker")},
    }
    print(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, run the measured child, print the figures; file the summary rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.prune", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=30, help="snapshots per disk (<= 100)")
    parser.add_argument("--child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.snapshots)
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet, snapshot_history

    fleet = generate_fleet(args.disks, snapshot_seconds=0, clock_now=TRIGGER_TIME)
    fleet["snapshots"] = snapshot_history(
        [d["disk_id"] for d in fleet["disks"]],
        policy=POLICY,
        count=args.snapshots,
        every_seconds=86400,
        last="2026-11-27T14:00:00Z",
    )
    limited = {"latency_ms": LATENCY_MS, "rate_limit": {"per_second": SERVER_RATE, "burst": 20}}
    faults = {"apis": {"DescribeSnapshots": limited, "DeleteSnapshot": limited}}
    with emulator_process(fleet, faults, start_timeout=300) as emu:
        del fleet  # the emulator has its own copy; this one would only weigh on the machine
        cmd = [
            sys.executable,
            "-m",
            "bench.prune",
            "--child",
            emu.endpoint,
            "--snapshots",
            str(args.snapshots),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800, check=False)
        if out.returncode:
            print(out.stdout, out.stderr, file=sys.stderr)
            raise RuntimeError(f"the measured prune run exited {out.returncode}")
        report = json.loads(out.stdout.strip().splitlines()[-1])
        counters = emu.control("GET", "counters")

    def outcomes(action: str) -> dict[str, int]:
        return dict(counters.get(action, {}).get("outcomes", {}))

    reads, deletes = outcomes("DescribeSnapshots"), outcomes("DeleteSnapshot")
    n_reads, n_deletes = sum(reads.values()), sum(deletes.values())
    per_disk = n_reads / args.disks
    ideal = n_reads / SERVER_RATE + n_deletes / SERVER_RATE
    share = ideal / report["wall"]
    throttled = reads.get("Throttling", 0) + deletes.get("Throttling", 0)
    print(
        f"prune: {args.disks} disks x {args.snapshots} snapshots; DescribeSnapshots and DeleteSnapshot "
        f"{LATENCY_MS} ms and {SERVER_RATE:.0f}/s each at the emulator; rate_limit {SERVER_RATE:.0f}/s, "
        "concurrency 16"
    )
    print(f"  wall time                 {report['wall']:8.1f} s   (ideal at the limits: {ideal:.1f} s)")
    rate = (n_reads + n_deletes) / report["wall"]
    print(f"  achieved                  {rate:8.1f} calls/s = {rate / SERVER_RATE:.1%} of the limit")
    print(f"  DescribeSnapshots / disk  {per_disk:8.2f}   ({n_reads} calls: {reads})")
    print(f"  DeleteSnapshot calls      {n_deletes:8d}   ({deletes})")
    print(f"  Throttling answered       {throttled:8d}   (all retried)")
    print(
        f"  planned                   {report['snapshots']} snapshots: kept {report['kept']}, deleted "
        f"{report['deleted']}, failed {report['failed']}, breaker {report['breaker']}"
    )
    print(f"  peak RSS (function)       {report['peak_mb']:8.0f} MB   (CPU {report['cpu']:.1f} s)")
    complete = report["deleted"] == args.disks and not report["failed"] and report["mode"] == "apply"
    record(
        f"prune {args.disks} disks x {args.snapshots} snapshots @ {SERVER_RATE:.0f}/s per API",
        f"{report['wall']:.1f} s, {rate:.0f} calls/s = {rate / SERVER_RATE:.0%} of limit",
        f">= {TARGET_SHARE:.0%} of limit (<= {ideal / TARGET_SHARE:.0f} s)",
        verdict(share >= TARGET_SHARE and complete, f"{share:.2f}x ideal"),
    )
    record(
        "prune DescribeSnapshots calls per disk",
        f"{per_disk:.2f} ({n_reads} calls)",
        f"<= {CALLS_PER_DISK:.0f}",
        verdict(per_disk <= CALLS_PER_DISK),
    )
    record(
        "prune peak RSS",
        f"{report['peak_mb']:.0f} MB",
        f"<= {TARGET_MB:.0f} MB",
        verdict(report["peak_mb"] <= TARGET_MB),
    )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
