"""Memory: peak RSS of a process that runs scheduled_backup over 10,000 disks.

The emulator runs in one child process (zero latency, snapshots complete at once) and the
function in another, started fresh for the measurement: it imports what the local runner
needs, runs a one-disk warm-up invocation (so the baseline includes every import and the SDK's
session), notes its RSS, runs the 10,000-disk invocation (``rate_limit`` 1000/s, ``concurrency``
16, fresh SQLite token table; its per-disk log lines go to /dev/null) and reports its own
``getrusage(RUSAGE_SELF).ru_maxrss``: the peak over its whole life, so the figure covers the
planned intents, the results, the summary FC would serialise and every thread's stack.

    python -m bench.memory [--disks N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import (
    POLICY,
    ROOT,
    Emulator,
    emulator_process,
    quiet_credentials_chain,
    record,
    run_scheduled,
    scheduled_config,
    sqlite_url,
    verdict,
)

TARGET_MB = 256.0


def _rss_mb() -> float:
    """This process's resident set now, in MB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(endpoint: str) -> int:
    """In the measured process: warm up, run the big invocation, print a JSON report."""
    quiet_credentials_chain()
    emu = Emulator(endpoint)  # the parent owns the process
    with tempfile.TemporaryDirectory(prefix="snapstack-memory-") as tmp:
        warm = {"policies": [{"name": POLICY, "selector": {"disk_ids": ["d-gen-000000"]}}]}
        run_scheduled(emu, warm, sqlite_url(Path(tmp) / "warm"), trigger_time="2026-01-01T00:00:00Z")
        baseline = _rss_mb()
        run = run_scheduled(emu, scheduled_config(1000, 16), sqlite_url(tmp))
        report = {
            "baseline_mb": baseline,
            "after_mb": _rss_mb(),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KB on Linux
            "created": run.count("created"),
            "failed": run.count("failed"),
            "wall": run.wall,
        }
    print(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Start the emulator, run the measured child, print; file the summary row."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, default=10_000)
    parser.add_argument("--child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet

    with emulator_process(generate_fleet(args.disks, snapshot_seconds=0)) as emu:
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--child", emu.endpoint],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
        )
    if out.returncode != 0:
        print(out.stderr[-3000:])
        record(f"peak RSS, {args.disks} disks", "the run failed", f"<= {TARGET_MB:.0f} MB", "ERROR")
        return 1
    report = json.loads(out.stdout.strip().splitlines()[-1])
    peak, base = report["peak_mb"], report["baseline_mb"]
    per_disk_kb = (peak - base) * 1024 / args.disks
    print(f"memory: scheduled_backup over {args.disks} disks in a fresh process (emulator in another)")
    print(f"  after imports + warm-up   {base:7.1f} MB RSS")
    print(f"  peak (ru_maxrss)          {peak:7.1f} MB   (target <= {TARGET_MB:.0f} MB)")
    print(f"  growth per disk           {per_disk_kb:7.1f} KB")
    print(f"  run: {report['created']} created, {report['failed']} failed in {report['wall']:.1f} s")
    record(
        f"peak RSS, {args.disks} disks",
        f"{peak:.0f} MB ({base:.0f} MB after imports)",
        f"<= {TARGET_MB:.0f} MB",
        verdict(peak <= TARGET_MB, f"{peak / TARGET_MB:.2f}x target"),
    )
    return 0 if report["created"] == args.disks and report["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
