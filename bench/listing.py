"""Listing: DescribeDisks pages of 500 against 100, and selectors in sets against the scan they replaced.

1. **Pages.** ``targets.describe_disk_pages`` lists a generated fleet of ``--disks`` (default
   50,000) in the emulator's own process, DescribeDisks answering in 50 ms (about what a region's
   API takes; every other fault off), once with ``MaxResults`` 500 (the documented maximum, what
   snapstack uses) and once with 100 (what it used before), in interleaved rounds. The figure is
   the wall time to the last page; it follows the number of calls.
2. **Selectors.** The CPU time (``time.process_time``) to test every disk of a fleet against a
   selector that names as many disk ids: ``SelectorMatch`` (frozensets: one hash look-up per
   disk) at 100,000 ids over 100,000 disks, against the tuple scan it replaced (``disk_id in
   selector.disk_ids`` on the selector's tuple: every id compared, O(n*m)), measured at 20,000
   ids over 20,000 disks because at 100,000 it takes minutes.

    python -m bench.listing [--disks N] [--rounds R] [--selector-ids N] [--scan-ids N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any

from bench.harness import emulator_process, quiet_credentials_chain, record, rounds_line

LIST_LATENCY_MS = 50


def list_seconds(emu: Any, page_size: int) -> tuple[float, int]:
    """Wall seconds to list every disk with ``page_size``, and how many disks came back."""
    from snapstack.ecs.client import EcsClient, EcsConfig
    from snapstack.ecs.credentials import Credentials
    from snapstack.targets import describe_disk_pages

    target = emu.target()
    ecs = EcsClient(
        EcsConfig("cn-hangzhou", endpoint=emu.endpoint, protocol="http"),
        Credentials(target.access_key_id, target.access_key_secret),
    )
    began = time.perf_counter()
    count = sum(len(page) for page in describe_disk_pages(ecs, "cn-hangzhou", page_size=page_size))
    return time.perf_counter() - began, count


def selector_cpu(ids: int, compiled: bool) -> float:
    """CPU seconds to test ``ids`` disks against a selector naming ``ids`` disk ids."""
    from snapstack.policy.model import Selector
    from snapstack.targets import Disk, SelectorMatch

    wanted = [f"d-{n:07d}" for n in range(ids)]
    selector = Selector(disk_ids=list(reversed(wanted)))  # the worst order for a scan
    disks = [Disk(disk_id=d) for d in wanted]
    began = time.process_time()
    if compiled:
        match = SelectorMatch(selector)
        kept = sum(1 for d in disks if match(d))
    else:
        kept = sum(1 for d in disks if d.disk_id in selector.disk_ids)
    cpu = time.process_time() - began
    if kept != ids:
        raise RuntimeError(f"kept {kept} of {ids}")
    return cpu


def main(argv: list[str] | None = None) -> int:
    """Measure in interleaved rounds; print; file the summary rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.listing", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--selector-ids", type=int, default=100_000)
    parser.add_argument("--scan-ids", type=int, default=20_000)
    args = parser.parse_args(argv)
    quiet_credentials_chain()
    from devkit.emulator.fleet import generate_fleet

    seconds: dict[int, list[float]] = {500: [], 100: []}
    faults = {"apis": {"DescribeDisks": {"latency_ms": LIST_LATENCY_MS}}}
    rng = random.Random(2)
    with emulator_process(generate_fleet(args.disks, snapshot_seconds=0), faults) as emu:
        for n in range(args.rounds):
            for size in rng.sample(list(seconds), 2):
                took, count = list_seconds(emu, size)
                if count != args.disks:
                    raise RuntimeError(f"listed {count} of {args.disks} disks")
                seconds[size].append(took)
            print(f"  round {n + 1}: MaxResults 500 {seconds[500][-1]:.1f} s, 100 {seconds[100][-1]:.1f} s")
    cpu: dict[str, list[float]] = {"sets": [], "scan": []}
    for _ in range(args.rounds):
        for kind in rng.sample(list(cpu), 2):
            cpu[kind].append(
                selector_cpu(args.selector_ids if kind == "sets" else args.scan_ids, kind == "sets")
            )
    med = statistics.median
    print(f"listing {args.disks:,} disks, DescribeDisks {LIST_LATENCY_MS} ms per call at the emulator:")
    for size, values in seconds.items():
        print("  " + rounds_line(f"MaxResults {size}", values, "s"))
    print("selector matching, CPU:")
    print(
        "  "
        + rounds_line(
            f"sets, {args.selector_ids:,} ids x {args.selector_ids:,} disks", cpu["sets"], "s", "{:.3f}"
        )
    )
    print(
        "  "
        + rounds_line(
            f"tuple scan, {args.scan_ids:,} ids x {args.scan_ids:,} disks", cpu["scan"], "s", "{:.3f}"
        )
    )
    record(
        f"listing {args.disks:,} disks (DescribeDisks {LIST_LATENCY_MS} ms)",
        f"{med(seconds[500]):.1f} s at MaxResults 500 vs {med(seconds[100]):.1f} s at 100",
        "the documented maximum",
        f"{med(seconds[100]) / med(seconds[500]):.1f}x faster",
    )
    record(
        f"selector of {args.selector_ids:,} disk ids over {args.selector_ids:,} disks, CPU",
        f"{med(cpu['sets']):.3f} s (the tuple scan: {med(cpu['scan']):.2f} s at {args.scan_ids:,})",
        "well under 1 s",
        "ok" if med(cpu["sets"]) < 1 else "MISSED",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
