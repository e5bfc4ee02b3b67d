"""Cold start from the packaged artifacts, on FC's python3.10 image, next to the ECS SDK import floor.

What FC runs: each function's zip (``devkit.package.build``, the bytes ``make package`` ships)
unpacked as the code directory, in the python3.10 environment that holds exactly FC's preinstalled
modules (``make fc-image-env``), bytecode from the zip only (``PYTHONDONTWRITEBYTECODE``; /code is
read-only on FC). Each row is the median over fresh interpreters, rounds interleaved, timed inside
the child around the statements only:

- the floor: ``import alibabacloud_ecs20140526.client`` from the zip (the SDK the zip ships);
- per function and token-table backend: ``import index`` (FC loads the handler's module) and then
  the first invocation, against the ECS emulator (its own process, reset before every child), with
  the production default, Tablestore (the local one, a fresh table per child so each first call does
  the same work), and with SQLite (a fresh file in /tmp): the difference is what the Tablestore SDK
  costs on the first invocation (its ``__init__`` imports the whole client, whose encoder pulls in
  numpy, protobuf, flatbuffers and aiohttp). Events and configuration as ``bench.cold_start``
  (pacing lifted).

    python -m bench.cold_start_artifacts [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.cold_start import CHILD_CONTEXT, FUNCTIONS, TARGET_RATIO, event_bytes, unpaced_config
from bench.harness import ROOT, emulator_process, quiet_credentials_chain, record, spread, verdict

FC_PYTHON = ROOT / ".snapstack" / "fc-python310" / "bin" / "python"
FLOOR = "ECS SDK client import, from the zip (floor)"
STS = ("STS.EmulatorKey0001", "emulator-sts-secret-0001", "emulator-sts-token-0001")
BACKENDS = ("tablestore", "sqlite")

_FLOOR_CHILD = """
import sys, time
t = time.perf_counter()
import alibabacloud_ecs20140526.client
print((time.perf_counter() - t) * 1000)
"""

# argv: the event file. The code directory is the working directory and first on PYTHONPATH.
_INVOKE_CHILD = (
    """
import sys, time
with open(sys.argv[1], "rb") as f:
    event = f.read()
function_name = sys.argv[2]
"""
    + CHILD_CONTEXT
    + """
t0 = time.perf_counter()
import index
t1 = time.perf_counter()
try:
    summary = index.handler(event, ctx)
except Exception as exc:
    summary = getattr(exc, "summary", None) or {"error": repr(exc)}
t2 = time.perf_counter()
import json
counts = {k: summary.get(k) for k in ("created", "deduplicated", "failed", "deferred", "error")}
print(json.dumps({"import_ms": (t1 - t0) * 1000, "total_ms": (t2 - t0) * 1000, "counts": counts,
                  "tablestore": sys.modules["tablestore"].__file__ if "tablestore" in sys.modules else None}))
"""
)


def _run(code_dir: Path, env: dict[str, str], args: list[str]) -> str:
    done = subprocess.run(
        [str(FC_PYTHON), *args],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the child failed in {code_dir.name}:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    """Build the zips, time every row in fresh FC-image interpreters, print and record the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.cold_start_artifacts", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per row")
    args = parser.parse_args(argv)
    if not FC_PYTHON.is_file():
        print(f"{FC_PYTHON} is missing: run `make fc-image-env`", file=sys.stderr)
        return 1
    quiet_credentials_chain()
    from devkit.package import build
    from devkit.tablestore.testing import start_emulator

    with (
        tempfile.TemporaryDirectory(prefix="snapstack-artifacts-") as work,
        emulator_process() as ecs,
        start_emulator(access_key_id=STS[0], access_key_secret=STS[1], security_token=STS[2]) as ots,
    ):
        artifacts = {a.function: a for a in build(Path(work) / "dist")}
        code: dict[str, Path] = {}
        for name, artifact in artifacts.items():
            with zipfile.ZipFile(artifact.path) as zf:
                zf.extractall(Path(work) / name)
            code[name] = Path(work) / name
            (Path(work) / f"{name}.event").write_bytes(event_bytes(name))
        base = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "FC_REGION": "cn-hangzhou",
            "SNAPSTACK_ECS_ENDPOINT": ecs.endpoint,
            "SNAPSTACK_ECS_PROTOCOL": "http",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": STS[0],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": STS[1],
            "ALIBABA_CLOUD_SECURITY_TOKEN": STS[2],
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            "SNAPSTACK_LOG_LEVEL": "INFO",
        }
        floors: list[float] = []
        rows = [(f, b) for f in FUNCTIONS for b in BACKENDS]
        imports: dict[tuple[str, str], list[float]] = {row: [] for row in rows}
        totals: dict[tuple[str, str], list[float]] = {row: [] for row in rows}
        counts: dict[tuple[str, str], Any] = {}
        loaded: dict[str, set[str]] = {b: set() for b in BACKENDS}
        for n in range(args.rounds + 1):  # round 0 warms the page cache and is dropped
            floor_env = {**base, "PYTHONPATH": str(code[FUNCTIONS[0]])}
            floor = float(_run(code[FUNCTIONS[0]], floor_env, ["-c", _FLOOR_CHILD]))
            for function, backend in rows:
                ecs.reset()
                if backend == "tablestore":
                    table = ots.table_url(f"cold_{n}_{function}")
                else:
                    table = f"sqlite:///{work}/cold-{n}-{function}.db"
                env = {
                    **base,
                    "PYTHONPATH": str(code[function]),
                    "FC_FUNCTION_NAME": function,
                    "SNAPSTACK_CONFIG_JSON": unpaced_config(function),
                    "SNAPSTACK_TOKEN_TABLE": table,
                }
                report = json.loads(
                    _run(
                        code[function],
                        env,
                        ["-c", _INVOKE_CHILD, str(Path(work) / f"{function}.event"), function],
                    )
                )
                if n:
                    imports[function, backend].append(report["import_ms"])
                    totals[function, backend].append(report["total_ms"])
                counts[function, backend] = report["counts"]
                loaded[backend].add(str(report["tablestore"]))
            if n:
                floors.append(floor)
    med = statistics.median
    floor_ms = med(floors)
    print(
        f"cold start from the packaged zips on FC's python3.10 image: median of {args.rounds} fresh "
        "processes per row, ECS emulator in its own process"
    )
    print(f"{'':<62}{'ms':>9}{'spread':>9}{'x floor':>9}")
    print(f"{FLOOR:<62}{floor_ms:>9.1f}{spread(floors):>9}{1:>9.2f}")
    for function, backend in rows:
        for label, samples in (
            (f"import, {backend} run", imports[function, backend]),
            (f"import + 1st invoke, {backend}", totals[function, backend]),
        ):
            name = f"{function}: {label}"
            print(f"{name:<62}{med(samples):>9.1f}{spread(samples):>9}{med(samples) / floor_ms:>9.2f}")
    print("zips:")
    for artifact in artifacts.values():
        mb = (artifact.zipped / 1e6, artifact.unzipped / 1e6)
        print(f"  {artifact.path.name}: {mb[0]:.1f} MB zipped, {mb[1]:.1f} MB unzipped")
    print(
        "first invocations did:",
        {f"{f}/{b}": {k: v for k, v in c.items() if v} for (f, b), c in counts.items()},
    )
    print("tablestore imported from:", {b: sorted(paths) for b, paths in loaded.items()})
    for backend in BACKENDS:
        ratios = {f: med(totals[f, backend]) / floor_ms for f in FUNCTIONS}
        record(
            f"cold start from the zips on FC's image (import + 1st invoke, {backend} tokens)",
            " / ".join(f"{med(totals[f, backend]):.0f}" for f in FUNCTIONS)
            + f" ms vs {floor_ms:.0f} ms floor",
            f"<= {TARGET_RATIO}x",
            verdict(
                max(ratios.values()) <= TARGET_RATIO,
                f"{min(ratios.values()):.2f}-{max(ratios.values()):.2f}x",
            ),
        )
    extra = statistics.median(med(totals[f, "tablestore"]) - med(totals[f, "sqlite"]) for f in FUNCTIONS)
    record("Tablestore's cost on the first invocation (vs SQLite)", f"{extra:.0f} ms", "(reported)", "-")
    failed = any(c.get("error") for c in counts.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
