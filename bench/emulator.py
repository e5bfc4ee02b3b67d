"""ECS emulator throughput: CreateSnapshot requests per second on loopback.

The emulator runs as ``snapstack emulator start`` in its own process (its own interpreter lock)
on a generated fleet whose snapshots complete at once, so every request is a real create on a
free disk. Three clients, each bounded by a request count and a time budget:

- raw: ``http.client``, 16 threads, V2 (HMAC-SHA1) signed requests with signature checking ON;
- SDK: the official client (V3 ACS3-HMAC-SHA256), 1 thread and 16 threads.

Client and server share this machine's cores, so the figures are floors. Rounds are interleaved
(every round runs the three, shuffled); each prints its median and spread over the rounds.

    python -m bench.emulator [--raw-requests N] [--sdk-requests N] [--seconds S] [--threads T] [--rounds R]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import record, rounds_line, verdict
from devkit.emulator.fleet import generate_fleet
from devkit.emulator.responses import v2_signature
from devkit.emulator.server import DEFAULT_CREDENTIALS

RAW_TARGET = 1_000  # requests/s the raw client must see
N_DISKS = 4_000  # x 256 manual snapshots each: far more creates than any run makes


@dataclass
class Result:
    """One run's outcome."""

    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Requests per second, whatever their outcome."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """One human-readable summary line."""
        lat = sorted(self.latencies) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        p50 = statistics.median(lat)
        return (
            f"{self.name:<22} {len(self.latencies):>6} req in {self.seconds:6.2f} s = {self.rate:7.0f} req/s"
            f"   p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms   {dict(self.outcomes)}"
        )


@contextmanager
def emulator_process() -> Iterator[str]:
    """``snapstack emulator start`` on a generated fleet in a child process; yields host:port."""
    with tempfile.TemporaryDirectory() as tmp:
        fleet_file = Path(tmp) / "fleet.json"
        fleet_file.write_text(json.dumps(generate_fleet(N_DISKS, snapshot_seconds=0)))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devkit.cli",
                "emulator",
                "start",
                "--port",
                "0",
                "--fleet",
                str(fleet_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            if "http://" not in first:
                raise RuntimeError(f"the emulator did not start: {first!r}")
            yield first.split("http://", 1)[1].split()[0]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _run(name: str, threads: int, total: int, seconds: float, one: Callable[[int, int], str]) -> Result:
    """Call ``one(thread, n)`` ``total`` times over ``threads`` threads, stopping after ``seconds``."""
    result = Result(name, 0.0)
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + seconds

    def worker(t: int) -> None:
        lat: list[float] = []
        out: Counter[str] = Counter()
        while time.monotonic() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            start = time.perf_counter()
            out[one(t, n)] += 1
            lat.append(time.perf_counter() - start)
        with lock:
            result.latencies.extend(lat)
            result.outcomes.update(out)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    result.seconds = time.perf_counter() - started
    return result


def raw_client(endpoint: str, first_disk: int) -> Callable[[int, int], str]:
    """A V2-signed CreateSnapshot over one ``http.client`` connection per thread."""
    host, port = endpoint.rsplit(":", 1)
    cred = DEFAULT_CREDENTIALS[0]
    local = threading.local()

    def one(_: int, n: int) -> str:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=10)
        params = {
            "Action": "CreateSnapshot",
            "Format": "json",
            "Version": "2014-05-26",
            "Timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "AccessKeyId": cred.access_key_id,
            "DiskId": f"d-gen-{(first_disk + n) % N_DISKS:06d}",
            "ClientToken": f"bench-raw-{first_disk + n}",
        }
        params["Signature"] = v2_signature(params, "POST", cred.access_key_secret)
        try:
            conn.request("POST", "/?" + urlencode(params), headers={"Content-Length": "0"})
            response = conn.getresponse()
            body = json.loads(response.read())
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            return type(exc).__name__
        return "OK" if response.status == 200 else str(body.get("Code"))

    return one


def sdk_client(endpoint: str, first_disk: int) -> Callable[[int, int], str]:
    """The official SDK (V3 signing), one client per thread."""
    from alibabacloud_ecs20140526 import models as ecs_models
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
    from alibabacloud_tea_openapi.models import Config
    from darabonba.runtime import RuntimeOptions

    cred = DEFAULT_CREDENTIALS[0]
    local = threading.local()
    runtime = RuntimeOptions()

    def one(_: int, n: int) -> str:
        client = getattr(local, "client", None)
        if client is None:
            config = Config(
                access_key_id=cred.access_key_id,
                access_key_secret=cred.access_key_secret,
                region_id="cn-hangzhou",
                endpoint=endpoint,
                protocol="http",
            )
            client = local.client = Client(config)
        request = ecs_models.CreateSnapshotRequest(
            disk_id=f"d-gen-{(first_disk + n) % N_DISKS:06d}", client_token=f"bench-sdk-{first_disk + n}"
        )
        try:
            client.create_snapshot_with_options(request, runtime)
        except (ClientException, ServerException) as exc:
            return str(exc.code)
        return "OK"

    return one


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements in interleaved rounds; exit 1 when the raw rate misses ``RAW_TARGET``."""
    parser = argparse.ArgumentParser(prog="python -m bench.emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--raw-requests", type=int, default=10_000)
    parser.add_argument("--sdk-requests", type=int, default=1_500)
    parser.add_argument("--seconds", type=float, default=5.0, help="time budget per measurement")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
    rates: dict[str, list[float]] = {}
    outcomes: Counter[str] = Counter()
    rng = random.Random(9)
    raw_name = f"raw http.client x{args.threads}"
    with emulator_process() as endpoint:
        print(f"emulator at {endpoint}, {N_DISKS} disks, {os.cpu_count()} cores", flush=True)
        # Warm up both paths (imports, first connections) outside the measurements.
        _run("warmup", 2, 50, args.seconds, raw_client(endpoint, 10**8))
        _run("warmup", 2, 20, args.seconds, sdk_client(endpoint, 2 * 10**8))
        for n in range(args.rounds):
            base = (n + 1) * 10**7  # fresh ClientTokens every round
            runs = [
                (raw_name, args.threads, args.raw_requests, raw_client(endpoint, base)),
                ("SDK x1", 1, args.sdk_requests, sdk_client(endpoint, base + 10**6)),
                (
                    f"SDK x{args.threads}",
                    args.threads,
                    args.sdk_requests,
                    sdk_client(endpoint, base + 2 * 10**6),
                ),
            ]
            for name, threads, total, one in rng.sample(runs, len(runs)):
                result = _run(name, threads, total, args.seconds, one)
                rates.setdefault(name, []).append(result.rate)
                if name == raw_name:
                    outcomes.update(result.outcomes)
                print(f"round {n + 1}: {result.line()}", flush=True)
    for name, values in rates.items():
        print(rounds_line(name, values, "req/s", "{:,.0f}"))
    raw = statistics.median(rates[raw_name])
    ok = raw >= RAW_TARGET and set(outcomes) == {"OK"}
    print(f"raw target {RAW_TARGET} req/s: {'met' if ok else 'MISSED'}", flush=True)
    sdk1, sdkn = statistics.median(rates["SDK x1"]), statistics.median(rates[f"SDK x{args.threads}"])
    record(
        "ECS emulator, CreateSnapshot req/s",
        f"raw {raw:,.0f}; SDK x1 {sdk1:,.0f}, x{args.threads} {sdkn:,.0f}",
        f">= {RAW_TARGET:,} (raw)",
        verdict(ok, f"{raw / RAW_TARGET:.1f}x target"),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
