"""Cold start: median import time in fresh processes, our modules against the ECS SDK client alone.

Each row runs in a new interpreter, rounds interleaved so every row sees the same machine
state; the time is measured inside the child around the statement only (interpreter start-up
is the same for all and left out). "no .pyc" points Python at an empty bytecode cache, as a
layer shipped without precompiled files would be.

    python -m bench.cold_start [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile

ROWS: dict[str, str] = {
    "ECS SDK client (floor)": "import alibabacloud_ecs20140526.client",
    "snapstack.ecs.request": "import snapstack.ecs.request",
    "snapstack.ecs.client": "import snapstack.ecs.client",
    "snapstack client, built": (
        "from snapstack.ecs.client import EcsClient, EcsConfig\n"
        "from snapstack.ecs.credentials import Credentials\n"
        "EcsClient(EcsConfig('cn-hangzhou', endpoint='127.0.0.1:1', protocol='http'), Credentials('a', 'b'))"
    ),
}
FLOOR = "ECS SDK client (floor)"


def time_once(statement: str, *, bytecode: bool) -> float:
    """Milliseconds the statement takes in a fresh interpreter."""
    probe = f"import time\nt=time.perf_counter()\n{statement}\nprint((time.perf_counter()-t)*1000)"
    args = [sys.executable]
    with tempfile.TemporaryDirectory() as empty_cache:
        if not bytecode:
            args += ["-X", f"pycache_prefix={empty_cache}", "-B"]
        out = subprocess.run([*args, "-c", probe], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(rounds: int, *, bytecode: bool) -> dict[str, float]:
    """Median milliseconds per row, rounds interleaved across rows."""
    samples: dict[str, list[float]] = {name: [] for name in ROWS}
    for stmt in ROWS.values():  # warm the bytecode cache and the page cache
        time_once(stmt, bytecode=True)
    for _ in range(rounds):
        for name, stmt in ROWS.items():
            samples[name].append(time_once(stmt, bytecode=bytecode))
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    with_pyc = measure(args.rounds, bytecode=True)
    without = measure(max(3, args.rounds // 3), bytecode=False)
    print(f"cold start, median of {args.rounds} fresh processes (python {sys.version.split()[0]})")
    print(f"{'import':<28}{'ms':>9}{'x floor':>9}{'ms no .pyc':>12}{'x floor':>9}")
    for name in ROWS:
        print(
            f"{name:<28}{with_pyc[name]:>9.1f}{with_pyc[name] / with_pyc[FLOOR]:>9.2f}"
            f"{without[name]:>12.1f}{without[name] / without[FLOOR]:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
