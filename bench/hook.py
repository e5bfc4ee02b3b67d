"""``snapstack hook`` latency: process start to "submitted", next to a bare ``python -c "import fc2"``.

Each row is a fresh process timed from just before it is started to the moment its line arrives on
stdout (``submitted (request id ...)`` for the hook; a line printed right after the import for the
others), so every row pays the same interpreter start-up and pipe. Rounds are interleaved across
rows so each sees the same machine state; the figure is the median. The hook calls the local FC
endpoint (this process, loopback) for a no-op function, asynchronously, with a new deploy id each
round, credentials from the ``ALIBABA_CLOUD_*`` variables, as a CI job would run it. A warm-up round
fills the bytecode caches first.

    python -m bench.hook [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import quiet_credentials_chain, record

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fc" / "template.yml"
SNAPSTACK = Path(sys.executable).parent / "snapstack"
NO_ECS_ENDPOINT = "127.0.0.1:9"  # the no-op function never calls ECS


def time_to_line(argv: list[str], env: dict[str, str], marker: str) -> float:
    """Milliseconds from starting ``argv`` to the first stdout line starting with ``marker``."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(marker):
            elapsed = (time.perf_counter() - started) * 1000
            break
    else:
        proc.wait()
        raise RuntimeError(f"{argv[0]} never printed {marker!r}: {proc.stderr.read() if proc.stderr else ''}")
    proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {proc.returncode}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the medians; files one summary row."""
    from devkit.fc.execution import RunSettings
    from devkit.fc.testing import LocalFc
    from devkit.local.runner import Target

    parser = argparse.ArgumentParser(prog="python -m bench.hook")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    quiet_credentials_chain()
    with LocalFc(
        FIXTURE, Target(NO_ECS_ENDPOINT, "unused", "unused"), RunSettings(max_async_retries=0)
    ) as fc:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_ACCESS", "SNAPSTACK_"))
        }
        env.update(
            ALIBABA_CLOUD_ACCESS_KEY_ID=fc.credentials.access_key_id,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=fc.credentials.access_key_secret,
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caches as an installed tool has them

        where = ["--endpoint", fc.url, "--service", fc.service, "--function", "noop"]

        def hook(n: int) -> list[str]:
            deploy_id = f"bench-{os.getpid()}-{n}"
            return [
                str(SNAPSTACK),
                "hook",
                *where,
                "--disk",
                "d-bench-01",
                "--reason",
                "bench",
                "--deploy-id",
                deploy_id,
            ]

        rows = {
            "bare interpreter (python -c print)": ([sys.executable, "-c", "print('up', flush=True)"], "up"),
            'python -c "import fc2"': ([sys.executable, "-c", "import fc2; print('up', flush=True)"], "up"),
        }
        times: dict[str, list[float]] = {name: [] for name in [*rows, "snapstack hook"]}
        for n in range(args.rounds + 1):  # round 0 warms the caches
            for name, (command, marker) in rows.items():
                elapsed = time_to_line(command, env, marker)
                if n:
                    times[name].append(elapsed)
            elapsed = time_to_line(hook(n), env, "submitted")
            if n:
                times["snapstack hook"].append(elapsed)
        fc.wait_idle()
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        spread = f"{min(times[name]):.0f}-{max(times[name]):.0f}"
        print(f"{name:<40} median {value:6.0f} ms  (range {spread} ms, {args.rounds} rounds)")
    hook_ms, fc2_ms, bare_ms = (
        medians["snapstack hook"],
        medians['python -c "import fc2"'],
        medians["bare interpreter (python -c print)"],
    )
    ratio = hook_ms / fc2_ms
    print(f"snapstack hook / import fc2: {ratio:.2f}x; over the import: {hook_ms - fc2_ms:.0f} ms")
    record(
        "snapstack hook: process start to 'submitted' (async invoke, local FC endpoint)",
        f"{hook_ms:.0f} ms vs {fc2_ms:.0f} ms for python -c 'import fc2' (bare interpreter {bare_ms:.0f} ms)",
        "reported",
        f"{ratio:.2f}x",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
