"""Cold start: a fresh process imports a function and runs its first invocation, against the ECS SDK
client's import alone (the floor).

Every figure is the median over fresh interpreters, rounds interleaved across rows so every row sees
the same machine state, timed inside the child around the statements only (interpreter start-up is
the same for every row and left out). Bytecode lives in a private cache (``-X pycache_prefix``) for
every module, ours, the SDK's and the standard library's alike: with bytecode, a warm-up round fills
it first (as ``make package`` ships the layer precompiled; ``PYTHONDONTWRITEBYTECODE`` is lifted for
the children, or our modules would be compiled from source in every "with bytecode" child); "no .pyc"
points Python at an empty cache and forbids writing one, as a layer shipped without bytecode runs.

Rows:

- the floor: ``import alibabacloud_ecs20140526.client``;
- library pieces: our request model alone, and our ECS client imported and built;
- the fixed choices alone: what any function built on this project's fixed choices pays before
  it does anything of its own — the SDK client imported, one pydantic model defined and used, one
  Powertools log line, and one ECS call (DescribeDisks, so the SDK builds its HTTP session and TLS
  context) against the emulator. It bounds from below what the 1.15x target can ask of us;
- per function: the child loads ``functions/<name>/index.py`` as FC does (``index`` on ``sys.path``,
  the layer folder as ``/opt/python``) and calls ``handler(event_bytes, context)`` once with an
  FC-shaped context; "import" is loading ``index``, "import + 1st invoke" adds the invocation, which
  does the real work of a first call: the SDK client built, DescribeDisks, CreateSnapshot per disk
  against the ECS emulator (its own process, reset before every child so each does the same work),
  a fresh SQLite token table, the log lines and the metrics blob.

Events: scheduled_backup gets ``events/timer.json``; deploy_hook an OSS PutObject event whose key
matches the shipped key rule (``releases/{app}/``; not a manifest, so no OSS call); alarm_snapshot
``events/cms_threshold_alarm.form``. Each function runs its shipped ``snapstack.json`` with one
change: ``rate_limit`` raised to 1000/s, because the shipped 20-50/s (burst rate/10) would add up to
300 ms of deliberate pacing between CreateSnapshot calls, which is policy, not start-up cost.

    python -m bench.cold_start [--rounds N] [--rounds-no-pyc N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import EVENTS, LAYER, ROOT, emulator_process, quiet_credentials_chain, record, verdict

FLOOR = "ECS SDK client import (floor)"
FIXED = "fixed choices alone (SDK, pydantic, Powertools, 1 call)"
#: import + first invocation may cost at most this much over the floor (with bytecode).
TARGET_RATIO = 1.15
FUNCTIONS = ("scheduled_backup", "deploy_hook", "alarm_snapshot")
#: Key of the OSS event for deploy_hook: matches the shipped key rule ``releases/{app}/`` (app=web).
DEPLOY_KEY = "releases/web/2026-11-27/web-1.4.2.tar.gz"

IMPORT_ROWS: dict[str, str] = {
    FLOOR: "import alibabacloud_ecs20140526.client",
    "snapstack.ecs.request import": "import snapstack.ecs.request",
    "snapstack ECS client, built": (
        "from snapstack.ecs.client import EcsClient, EcsConfig\n"
        "from snapstack.ecs.credentials import Credentials\n"
        "EcsClient(EcsConfig('cn-hangzhou', endpoint='127.0.0.1:1', protocol='http'), Credentials('a', 'b'))"
    ),
    # Nothing of ours: the emulator's endpoint comes from SNAPSTACK_ECS_ENDPOINT, its STS triple is fixed.
    FIXED: """import os
import alibabacloud_ecs20140526.client as ecs
from alibabacloud_ecs20140526 import models
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions
from pydantic import BaseModel
from aws_lambda_powertools import Logger
class Probe(BaseModel):
    region: str
probe = Probe.model_validate({"region": "cn-hangzhou"})
Logger(service="probe").info("probe")
client = ecs.Client(Config(
    access_key_id="STS.EmulatorKey0001", access_key_secret="emulator-sts-secret-0001",
    security_token="emulator-sts-token-0001", endpoint=os.environ["SNAPSTACK_ECS_ENDPOINT"],
    protocol="http", region_id=probe.region,
))
client.describe_disks_with_options(models.DescribeDisksRequest(region_id=probe.region), RuntimeOptions())""",
}

#: Child code: an FC 2.0-shaped context ``ctx`` (STS credentials included) for ``function_name``.
CHILD_CONTEXT = """
class NS:
    def __init__(self, **kw):
        self.__dict__.update(kw)
ctx = NS(
    credentials=NS(access_key_id="STS.EmulatorKey0001", access_key_secret="emulator-sts-secret-0001",
                   security_token="emulator-sts-token-0001"),
    function=NS(name=function_name, handler="index.handler", memory=512, timeout=300),
    service=NS(name="snapstack"), region="cn-hangzhou", request_id="cold-start", account_id="1",
)
"""

# Runs in the child with argv: the function's folder, the event file, the layer folder, and
# "staged" or "whole". Only builtins and the modules every interpreter has loaded by then (sys,
# time) are used before the clock starts, so nothing the function needs is imported for free
# (the child checks: "preloaded" must be empty); the context has FC 2.0's shape, STS credentials
# included. "staged" imports the same things in stages to show what each part adds.
_INVOKE_CHILD = (
    """
import sys, time
fn_dir, event_file, layer, staged = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "staged"
with open(event_file, "rb") as f:
    event = f.read()
early = [m for m in sys.modules if m.split(".")[0] in (
    "snapstack", "pydantic", "alibabacloud_ecs20140526", "aws_lambda_powertools", "json", "sqlite3")]
function_name = fn_dir.rsplit("/", 1)[-1]
"""
    + CHILD_CONTEXT
    + """
sys.path[:0] = [fn_dir, layer]
stages = []
t0 = time.perf_counter()
if staged:  # the same work in stages: what each part adds on top of the one before
    import alibabacloud_ecs20140526.client
    stages.append(("ECS SDK client (the floor)", time.perf_counter()))
    import pydantic
    pydantic.create_model("Probe", x=(int, 0))  # pydantic's fixed cost: its schema machinery loads
    stages.append(("pydantic (import, first model)", time.perf_counter()))
import index
t1 = time.perf_counter()
stages.append(("our modules (models built)", t1))
if staged:
    import aws_lambda_powertools
    stages.append(("powertools (first log line)", time.perf_counter()))
try:
    summary = index.handler(event, ctx)
except Exception as exc:  # IncompleteRun carries its summary; anything else is a bench failure
    summary = getattr(exc, "summary", None) or {"error": repr(exc)}
t2 = time.perf_counter()
stages.append(("the invocation itself", t2))
import json
counts = {k: summary.get(k) for k in ("created", "deduplicated", "skipped", "failed", "deferred", "error")}
marks = [t0] + [t for _, t in stages]
parts = {name: (marks[n + 1] - marks[n]) * 1000 for n, (name, _) in enumerate(stages)}
heavy = sorted(m for m in sys.modules if m in ("oss2", "tablestore", "redis", "boto3", "yaml", "moto"))
print(json.dumps({"import_ms": (t1 - t0) * 1000, "total_ms": (t2 - t0) * 1000, "counts": counts,
                  "preloaded": early, "parts": parts, "heavy": heavy}))
"""
)


def _python(bytecode: bool, caches: str) -> list[str]:
    """The interpreter command line: bytecode read from (and written to) ``caches/pyc``, or never.

    Both modes keep every module's bytecode under ``caches``, never in the work tree, and treat
    the SDK, the standard library and our modules alike: with bytecode, the warm-up round writes
    a cache for all of them; without, ``caches/none`` stays empty and -B forbids writing to it.
    """
    if bytecode:
        return [sys.executable, "-X", f"pycache_prefix={caches}/pyc"]
    return [sys.executable, "-X", f"pycache_prefix={caches}/none", "-B"]


def _child_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without PYTHONDONTWRITEBYTECODE: the warm-up round must be able to write bytecode."""
    return {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}


def time_import(statement: str, env: Mapping[str, str], *, bytecode: bool, caches: str) -> float:
    """Milliseconds ``statement`` takes in a fresh interpreter (the layer folder on its path)."""
    probe = (
        f"import sys, time\nsys.path.insert(0, {str(LAYER)!r})\nt = time.perf_counter()\n{statement}\n"
        "print((time.perf_counter() - t) * 1000)"
    )
    args = [*_python(bytecode, caches), "-c", probe]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def time_invoke(
    function: str,
    event_file: Path,
    env: dict[str, str],
    *,
    bytecode: bool,
    caches: str,
    staged: bool = False,
) -> dict[str, Any]:
    """Import + first invocation of ``function`` in a fresh interpreter: the child's JSON report."""
    args = [*_python(bytecode, caches), "-c", _INVOKE_CHILD, str(ROOT / "functions" / function)]
    out = subprocess.run(
        [*args, str(event_file), str(LAYER), "staged" if staged else "whole"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=env["BENCH_WORKDIR"],
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{function}: the child failed:\n{out.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if report["preloaded"]:
        raise RuntimeError(f"{function}: modules loaded before the clock started: {report['preloaded']}")
    return report


def deploy_event() -> bytes:
    """The sample OSS event with a release key that the shipped key rule maps to app=web."""
    event = json.loads((EVENTS / "oss_put_object.json").read_text())
    obj = event["events"][0]["oss"]["object"]
    obj.update({"key": DEPLOY_KEY, "size": 52_428_800, "deltaSize": 52_428_800})
    return json.dumps(event).encode()


def event_bytes(function: str) -> bytes:
    """The event each function gets (see the module docstring)."""
    if function == "scheduled_backup":
        return (EVENTS / "timer.json").read_bytes()
    if function == "deploy_hook":
        return deploy_event()
    return (EVENTS / "cms_threshold_alarm.form").read_bytes()


def unpaced_config(function: str) -> str:
    """The function's shipped configuration with every policy's rate_limit at 1000/s."""
    config = json.loads((ROOT / "functions" / function / "snapstack.json").read_text())
    for policy in config.get("policies") or [config["policy"]]:
        policy["rate_limit"] = 1000
    return json.dumps(config)


@dataclass
class Samples:
    """Per row: import milliseconds, and import + first invocation milliseconds (function rows)."""

    imports: dict[str, list[float]]
    invokes: dict[str, list[float]]
    counts: dict[str, dict[str, Any]]
    parts: dict[str, list[float]]  # the staged run's parts (scheduled_backup)
    heavy: set[str]  # optional heavy packages any first invocation loaded


def measure(
    rounds: int,
    *,
    bytecode: bool,
    emulator_reset: Callable[[], None],
    endpoint: str,
    work: str,
    caches: str,
) -> Samples:
    """``rounds`` interleaved rounds over every row."""
    samples = Samples({}, {}, {}, {}, set())
    events = {}
    for function in FUNCTIONS:
        events[function] = Path(work) / f"{function}.event"
        events[function].write_bytes(event_bytes(function))
    base_env = {
        **_child_env(os.environ),
        "SNAPSTACK_ECS_ENDPOINT": endpoint,
        "SNAPSTACK_ECS_PROTOCOL": "http",
        "SNAPSTACK_REGION": "cn-hangzhou",
        "FC_REGION": "cn-hangzhou",
        "BENCH_WORKDIR": work,
    }
    for n in range(rounds):
        for name, statement in IMPORT_ROWS.items():
            samples.imports.setdefault(name, []).append(
                time_import(statement, base_env, bytecode=bytecode, caches=caches)
            )
        runs = [(f, False) for f in FUNCTIONS] + ([(FUNCTIONS[0], True)] if bytecode else [])
        for function, staged in runs:
            emulator_reset()  # the same fleet for every child: each first invocation does the same work
            env = {
                **base_env,
                "FC_FUNCTION_NAME": function,
                "SNAPSTACK_CONFIG_JSON": unpaced_config(function),
                "SNAPSTACK_TOKEN_TABLE": f"sqlite:///{work}/tokens-{int(bytecode)}-{int(staged)}-{n}-{function}.db",
            }
            report = time_invoke(
                function, events[function], env, bytecode=bytecode, caches=caches, staged=staged
            )
            samples.heavy.update(report["heavy"])
            if staged:
                for part, ms in report["parts"].items():
                    samples.parts.setdefault(part, []).append(ms)
                continue
            samples.imports.setdefault(f"{function}: import", []).append(report["import_ms"])
            samples.invokes.setdefault(function, []).append(report["total_ms"])
            samples.counts[function] = report["counts"]
    return samples


def main(argv: list[str] | None = None) -> int:
    """Print the table; file one summary row per function."""
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="fresh processes per row with bytecode")
    parser.add_argument("--rounds-no-pyc", type=int, default=3, help="fresh processes per row without")
    args = parser.parse_args(argv)
    quiet_credentials_chain()
    with (
        emulator_process() as emu,
        tempfile.TemporaryDirectory(prefix="snapstack-cold-") as work,
        tempfile.TemporaryDirectory(prefix="snapstack-pyc-") as caches,
    ):

        def run(rounds: int, bytecode: bool) -> Samples:
            return measure(
                rounds,
                bytecode=bytecode,
                emulator_reset=emu.reset,
                endpoint=emu.endpoint,
                work=work,
                caches=caches,
            )

        run(1, True)  # writes the bytecode caches, warms the page cache
        with_pyc = run(args.rounds, True)
        without = run(args.rounds_no_pyc, False)
    med = statistics.median
    floor, floor_nopyc = med(with_pyc.imports[FLOOR]), med(without.imports[FLOOR])
    print(
        f"cold start: median of {args.rounds} fresh processes ({args.rounds_no_pyc} without .pyc), "
        f"python {sys.version.split()[0]}, emulator in its own process"
    )
    print(f"{'':<58}{'ms':>9}{'x floor':>9}{'ms no .pyc':>12}{'x floor':>9}")

    def line(name: str, a: list[float], b: list[float]) -> None:
        print(f"{name:<58}{med(a):>9.1f}{med(a) / floor:>9.2f}{med(b):>12.1f}{med(b) / floor_nopyc:>9.2f}")

    for name in with_pyc.imports:
        line(name, with_pyc.imports[name], without.imports[name])
    status = 0
    for function in FUNCTIONS:
        line(f"{function}: import + 1st invoke", with_pyc.invokes[function], without.invokes[function])
    print("first invocations did:")
    for function in FUNCTIONS:
        done = {k: v for k, v in with_pyc.counts[function].items() if v}
        print(f"  {function}: {done}")
    print(f"optional heavy packages loaded by a first invocation: {sorted(with_pyc.heavy) or 'none'}")
    print(f"where {FUNCTIONS[0]}'s time goes (the same work in stages, medians, with .pyc):")
    for part, values in with_pyc.parts.items():
        print(f"  {part:<56}{med(values):>9.1f} ms{med(values) / floor:>8.2f}x floor")
    fixed = med(with_pyc.imports[FIXED])
    budget = TARGET_RATIO * floor - fixed
    print(
        f"the fixed choices alone take {fixed / floor:.2f}x the floor: the {TARGET_RATIO:.2f}x target leaves "
        f"{budget:.0f} ms for everything of ours (our imports, config, planning and the function's own calls)"
    )
    record(
        "cold start, fixed choices alone (SDK+pydantic+Powertools+1 call)",
        f"{fixed:.0f} ms vs floor {floor:.0f} ms",
        "(reported: bounds the target)",
        f"{fixed / floor:.2f}x",
    )
    for function in FUNCTIONS:
        counts = with_pyc.counts[function]
        if counts.get("error") or not counts.get("created"):
            print(f"{function}: the first invocation did not create snapshots: {counts}")
            status = 1
        ratio = med(with_pyc.invokes[function]) / floor
        ratio_nopyc = med(without.invokes[function]) / floor_nopyc
        record(
            f"cold start {function} (import+1st invoke)",
            f"{med(with_pyc.invokes[function]):.0f} ms vs floor {floor:.0f} ms",
            f"<= {TARGET_RATIO:.2f}x floor",
            verdict(ratio <= TARGET_RATIO, f"{ratio:.2f}x"),
        )
        record(
            f"cold start {function}, no .pyc",
            f"{med(without.invokes[function]):.0f} ms vs floor {floor_nopyc:.0f} ms",
            "(reported)",
            f"{ratio_nopyc:.2f}x",
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
