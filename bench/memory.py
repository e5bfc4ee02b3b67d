"""Memory: peak RSS of scheduled_backup over 50,000 and 200,000 disks, against the function's memory.

The emulator runs in one child process (zero latency, snapshots complete at once) and the
function in another, started fresh for each measurement: it imports what the local runner needs,
runs a one-disk warm-up invocation (so the baseline includes every import and the SDK's session),
notes its RSS, runs the whole-fleet invocation (``rate_limit`` 1000/s, ``concurrency`` 16, a fresh
SQLite token table; its per-disk log lines go to /dev/null) and reports its own
``VmHWM`` (``harness.peak_rss_mb``): the peak over its whole life, so the figure covers the
listing pages, the intents and results in flight, the summary FC would serialise and every
thread's stack.

Figures, per fleet size (rounds interleaved: every round runs each size once, sizes shuffled):
peak RSS against the memory template.yml configures for scheduled_backup (512 MB; FC stops a
function that goes over it), growth over the warmed-up baseline per disk, and the marginal cost
of a disk: the peak's growth from the smaller fleet to the larger, divided by the extra disks
(what a fleet ten times larger would add; zero when memory is bounded by what is in flight).

``measure`` is also what the memory-bound test (``tests/scale/test_memory.py``) runs.

    python -m bench.memory [--disks N ...] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import (
    POLICY,
    ROOT,
    TEMPLATE,
    Emulator,
    emulator_process,
    peak_rss_mb,
    quiet_credentials_chain,
    record,
    run_scheduled,
    scheduled_config,
    spread,
    sqlite_url,
    verdict,
)

SIZES = (50_000, 200_000)
FUNCTION = "scheduled_backup"


def configured_mb(function: str = FUNCTION) -> int:
    """The function's ``MemorySize`` in template.yml, in MB."""
    from devkit.local.template import load_template

    return load_template(TEMPLATE).function(function).memory


def _rss_mb() -> float:
    """This process's resident set now, in MB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(endpoint: str, disks: int) -> int:
    """In the measured process: warm up, run the whole fleet, print a JSON report."""
    quiet_credentials_chain()
    emu = Emulator(endpoint)  # the parent owns the process
    with tempfile.TemporaryDirectory(prefix="snapstack-memory-") as tmp:
        warm = {"policies": [{"name": POLICY, "selector": {"disk_ids": ["d-gen-000000"]}}]}
        run_scheduled(emu, warm, sqlite_url(Path(tmp) / "warm"), trigger_time="2026-01-01T00:00:00Z")
        baseline = _rss_mb()
        run = run_scheduled(emu, scheduled_config(1000, 16), sqlite_url(tmp), timeout=86_400)
        report = {
            "disks": disks,
            "baseline_mb": baseline,
            "after_mb": _rss_mb(),
            "peak_mb": peak_rss_mb(),
            "created": run.count("created"),
            "failed": run.count("failed"),
            "summary_bytes": len(json.dumps(run.summary)),
            "wall": run.wall,
        }
    print(json.dumps(report))
    return 0


def measure(disks: int, *, timeout: float = 7_200) -> dict[str, Any]:
    """One fresh process running scheduled_backup over a generated fleet of ``disks``: its report.

    Raises ``RuntimeError`` when the child fails.
    """
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet

    with emulator_process(generate_fleet(disks, snapshot_seconds=0)) as emu:
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--child", emu.endpoint, "--disks", str(disks)],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
        )
    if out.returncode != 0:
        raise RuntimeError(f"the {disks}-disk child failed:\n{out.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def main(argv: list[str] | None = None) -> int:
    """Measure every size in interleaved rounds; print; file the summary rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, nargs="+", default=list(SIZES), help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each size (interleaved)")
    parser.add_argument("--child", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.disks[0])
    limit = configured_mb()
    sizes = sorted(set(args.disks))
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    rng = random.Random(17)
    for n in range(args.rounds):
        order = rng.sample(sizes, len(sizes))
        for disks in order:
            report = measure(disks)
            runs[disks].append(report)
            print(
                f"round {n + 1}: {disks:>7} disks  peak {report['peak_mb']:6.1f} MB "
                f"(baseline {report['baseline_mb']:.1f} MB)  {report['created']} created in "
                f"{report['wall']:.0f} s  summary {report['summary_bytes'] / 1024:.0f} KB",
                flush=True,
            )
    print(f"memory: {FUNCTION}, {args.rounds} round(s) per size; it has {limit} MB (template.yml)")
    print(f"{'disks':>8}{'peak MB':>10}{'spread':>10}{'of limit':>10}{'growth/disk':>13}{'summary KB':>12}")
    status = 0
    peaks = {}
    for disks in sizes:
        reports = runs[disks]
        peak = statistics.median(r["peak_mb"] for r in reports)
        growth = statistics.median((r["peak_mb"] - r["baseline_mb"]) * 2**20 / disks for r in reports)
        peaks[disks] = peak
        summary_kb = max(r["summary_bytes"] for r in reports) / 1024
        print(
            f"{disks:>8}{peak:>10.1f}{spread([r['peak_mb'] for r in reports]):>10}{peak / limit:>10.0%}"
            f"{growth:>11.0f} B{summary_kb:>12.0f}"
        )
        complete = all(r["created"] == disks and r["failed"] == 0 for r in reports)
        status |= 0 if complete else 1
        record(
            f"peak RSS, {disks:,} disks",
            f"{peak:.0f} MB ({growth:.0f} B/disk over the baseline; summary {summary_kb:.0f} KB)",
            f"<= {limit} MB (template.yml)",
            verdict(peak <= limit and complete, f"{peak / limit:.0%} of it"),
        )
    if len(sizes) > 1:
        low, high = sizes[0], sizes[-1]
        marginal = (peaks[high] - peaks[low]) * 2**20 / (high - low)
        print(f"marginal cost of a disk ({low:,} -> {high:,} disks): {marginal:.0f} B")
        record(
            f"memory per extra disk ({low:,} -> {high:,})",
            f"{marginal:.0f} B",
            "(reported: ~0 when bounded by what is in flight)",
            "-",
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
