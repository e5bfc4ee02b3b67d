"""Fan-out: scheduled_backup over 5,000 disks against a rate-limited, 50 ms CreateSnapshot.

The emulator runs in its own process on a generated fleet (snapshots complete at once, so every
create is a real one on a free disk) with CreateSnapshot faults: 50 ms latency and a token
bucket of 200/s (``--server-burst``, default 20, i.e. a tenth of a second of burst: a tight
bucket, so any burstiness of ours shows up as Throttling). Every other API is unthrottled.

The function runs in this process through the local runner with one policy over every disk,
passed inline (``SNAPSTACK_CONFIG_JSON``), and a fresh SQLite token table:

- ``rate_limit`` 200/s, the server's own limit: every attempt takes a token from the shared
  limiter, retries included, so a throttled call's retry is paced like a first attempt. (Before
  retries were paced, 200/s ran the server's bucket dry: 186 Throttling answers and one disk left
  ``deferred`` after six attempts; 195/s was needed to stay clear.)
- ``concurrency`` 16: 200/s x 50 ms needs 10 calls in flight, plus each call's own client time
  (signing, the HTTP exchange, the token table): 16 leaves room without more threads fighting
  over the interpreter lock.

The baseline is a plain sequential loop of official-SDK CreateSnapshot calls (no threads, no
token table) on ``--sequential`` disks of the same emulator; its rate is extrapolated to the
whole fleet. Throttles are counted by the emulator (every Throttling it answered, all retried by
the client unless a disk ends ``deferred``/``failed`` with that code).

    python -m bench.fanout [--disks N] [--rate R] [--concurrency C] [--sequential N] [--server-burst B]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid

from bench.harness import (
    Emulator,
    emulator_process,
    quiet_credentials_chain,
    record,
    run_scheduled,
    scheduled_config,
    sqlite_url,
    verdict,
)

SERVER_RATE = 200.0  # CreateSnapshot calls per second the emulator allows
LATENCY_MS = 50
#: The issue's targets: at least 90% of the server's limit, and no disk failed.
TARGET_SHARE = 0.90


def sequential_rate(emulator: Emulator, disks: int, seconds: float) -> tuple[float, int, dict[str, int]]:
    """CreateSnapshot calls per second of a plain loop of SDK calls, one after another.

    Bounded by ``disks`` calls and ``seconds``; returns (rate, calls made, outcomes).
    """
    from alibabacloud_ecs20140526 import models as ecs_models
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
    from darabonba.runtime import RuntimeOptions

    client = emulator.sdk_client()
    runtime = RuntimeOptions()
    outcomes: dict[str, int] = {}
    batch = uuid.uuid4().hex[:8]
    deadline = time.monotonic() + seconds
    began = time.perf_counter()
    calls = 0
    for n in range(disks):
        if time.monotonic() > deadline:
            break
        request = ecs_models.CreateSnapshotRequest(disk_id=f"d-gen-{n:06d}", client_token=f"seq-{batch}-{n}")
        try:
            client.create_snapshot_with_options(request, runtime)
            code = "OK"
        except (ClientException, ServerException) as exc:
            code = str(exc.code)
        outcomes[code] = outcomes.get(code, 0) + 1
        calls += 1
    return calls / (time.perf_counter() - began), calls, outcomes


def main(argv: list[str] | None = None) -> int:
    """Run the baseline and the fan-out; print the figures; file the summary rows."""
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n")[0])
    parser.add_argument("--disks", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=200.0, help="the policy's rate_limit (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="the policy's concurrency (default 16)")
    parser.add_argument("--sequential", type=int, default=200, help="disks of the sequential baseline")
    parser.add_argument("--server-burst", type=float, default=20.0, help="the emulator's bucket size")
    parser.add_argument("--timeout", type=int, default=120, help="the function's timeout, seconds")
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
    fleet = generate_fleet(args.disks, snapshot_seconds=0)
    with (
        emulator_process(fleet, faults) as emu,
        tempfile.TemporaryDirectory(prefix="snapstack-fanout-") as tmp,
    ):
        seq_rate, seq_calls, seq_outcomes = sequential_rate(emu, args.sequential, seconds=60)
        emu.reset()  # a fresh fleet and a full bucket for the fan-out
        config = scheduled_config(args.rate, args.concurrency)
        run = run_scheduled(emu, config, sqlite_url(tmp), timeout=args.timeout)
        server = emu.outcomes("CreateSnapshot")

    created, failed, deferred = run.count("created"), run.count("failed"), run.count("deferred")
    rate = created / run.wall
    share = rate / SERVER_RATE
    ideal = args.disks / SERVER_RATE
    throttled = server.get("Throttling", 0)
    surfaced = run.codes("failed").get("Throttling", 0) + run.codes("deferred").get("Throttling", 0)
    ratio = rate / seq_rate
    print(
        f"fan-out: {args.disks} disks, CreateSnapshot {LATENCY_MS} ms and {SERVER_RATE:.0f}/s "
        f"(burst {args.server_burst:g}) at the emulator; policy rate_limit {args.rate:g}/s, "
        f"concurrency {args.concurrency}"
    )
    print(f"  wall time              {run.wall:8.2f} s   (ideal at {SERVER_RATE:.0f}/s: {ideal:.2f} s)")
    print(f"  achieved               {rate:8.1f} creates/s = {share:.1%} of the limit (whole invocation)")
    print(f"  created / failed / deferred   {created} / {failed} / {deferred}")
    print(f"  Throttling answered    {throttled:8d}   (all retried; surfaced as a disk outcome: {surfaced})")
    print(f"  emulator outcomes      {server}")
    print(
        f"  sequential SDK loop    {seq_rate:8.1f} creates/s over {seq_calls} disks {seq_outcomes}; "
        f"extrapolated to {args.disks} disks: {args.disks / seq_rate:.0f} s"
    )
    print(f"  fan-out vs sequential  {ratio:8.1f}x")
    complete = created == args.disks and not run.incomplete
    ok = share >= TARGET_SHARE and failed == 0 and surfaced == 0 and complete
    record(
        f"fan-out {args.disks} disks @ {SERVER_RATE:.0f}/s",
        f"{run.wall:.1f} s, {rate:.0f}/s = {share:.0%} of limit",
        f">= {TARGET_SHARE:.0%} of limit (<= {args.disks / SERVER_RATE / TARGET_SHARE:.1f} s)",
        verdict(share >= TARGET_SHARE, f"{ideal / run.wall:.2f}x ideal"),
    )
    record(
        "fan-out failed / throttled (retried)",
        f"{failed} failed, {deferred} deferred; {throttled} throttled, {surfaced} surfaced",
        "0 failed, 0 surfaced",
        verdict(failed == 0 and surfaced == 0 and complete),
    )
    record(
        "fan-out vs sequential SDK loop",
        f"{rate:.0f}/s vs {seq_rate:.1f}/s ({seq_calls} disks, extrapolated)",
        "(reported)",
        f"{ratio:.1f}x",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
