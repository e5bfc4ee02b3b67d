"""What the benchmarks share: the emulator in its own process, the local runner, and the summary.

- ``emulator_process`` starts ``snapstack emulator start`` in a child process (its own
  interpreter lock, so the emulator's CPU is never counted as ours) on a fleet and a faults
  configuration, and talks to its control API over loopback.
- ``run_scheduled`` runs scheduled_backup of template.yml in this process through the devkit
  local runner, with a policy given inline (``SNAPSTACK_CONFIG_JSON``) and a fresh SQLite token
  table; the function's per-disk log lines go to /dev/null, so they are formatted and written
  (a real cost) but do not flood the terminal. ``run_function`` does the same for any function.
- ``record`` files one row of the summary table that ``python -m bench`` prints at the end.
- ``LoadMeter`` measures what the rest of the machine took while a contender ran (other
  processes' CPU, the hypervisor's steal), so a disturbed round shows itself.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yml"
LAYER = ROOT / "layers" / "snapstack" / "python"

#: The policy name the benchmarks' configurations use.
POLICY = "bench"
#: A fixed trigger time: every run of one benchmark shares its schedule slot.
TRIGGER_TIME = "2026-11-27T20:00:00Z"


def quiet_credentials_chain() -> None:
    """The credential chain must never reach for the metadata address (as in ``make test``)."""
    os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")


# --- the summary table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the final summary: what was measured, against what, and the verdict."""

    benchmark: str
    measured: str
    target: str
    verdict: str


ROWS: list[Row] = []


def record(benchmark: str, measured: str, target: str, verdict: str) -> Row:
    """File a summary row (printed by ``python -m bench`` at the end) and return it."""
    row = Row(benchmark, measured, target, verdict)
    ROWS.append(row)
    return row


def verdict(ok: bool, ratio: str = "") -> str:
    """``ok``/``MISSED``, after an optional ratio."""
    word = "ok" if ok else "MISSED"
    return f"{ratio}  {word}" if ratio else word


def spread(values: Sequence[float]) -> str:
    """How far ``values`` scatter around their median: half their range, as a share of it.

    ``"-"`` for a single value (one round shows no spread).
    """
    if len(values) < 2:
        return "-"
    middle = statistics.median(values)
    half = (max(values) - min(values)) / 2
    return f"±{half / middle:.1%}" if middle else f"±{half:g}"


def rounds_line(name: str, values: Sequence[float], unit: str, fmt: str = "{:.1f}") -> str:
    """``name: median unit (spread, n rounds: v1 v2 ...)`` for a benchmark's printed output."""
    each = " ".join(fmt.format(v) for v in values)
    return (
        f"{name}: {fmt.format(statistics.median(values))} {unit} "
        f"(spread {spread(values)}, {len(values)} round(s): {each})"
    )


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table."""
    head = Row("benchmark", "measured", "target", "ratio / verdict")
    widths = [max(len(getattr(r, f)) for r in [head, *rows]) for f in ("benchmark", "measured", "target")]
    lines = []
    for n, row in enumerate([head, *rows]):
        cells = (row.benchmark, row.measured, row.target)
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + row.verdict)
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident set, in MB: ``VmHWM``, the high-water mark of its own memory.

    Not ``getrusage``: Linux carries a parent's peak across fork and exec into the child's
    ``ru_maxrss``, and a benchmark's parent has just built a whole generated fleet (see
    ``exec_mmap`` and ``setmax_mm_hiwater_rss`` in the kernel's ``fs/exec.c``).
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


@dataclass(frozen=True)
class MachineLoad:
    """CPU the rest of the machine used during a run, in cores (CPU seconds per wall second).

    ``others``: every process but the measured ones (this benchmark and its emulator);
    ``steal``: time the hypervisor gave this VM's vCPUs to someone else. Either above ~0.2
    on a 2-core VM slows a rate-bound run, and more so one that needs more CPU per disk.
    """

    others: float
    steal: float

    def __str__(self) -> str:
        return f"others {self.others:.2f} cores, steal {self.steal:.2f}"


class LoadMeter:
    """Measures ``MachineLoad`` from its making to ``stop``, leaving out this process and
    ``pids`` (psutil: the kernel's ``/proc/stat`` and each measured process's own)."""

    def __init__(self, *pids: int) -> None:
        import psutil

        self._psutil = psutil
        self._processes = [psutil.Process()] + [psutil.Process(pid) for pid in pids]
        self._start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        machine = self._psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        ours = sum(sum(p.cpu_times()[:2]) for p in self._processes)
        return time.monotonic(), busy, ours, machine.steal

    def stop(self) -> MachineLoad:
        """The load since the meter was made."""
        end = self._sample()
        wall = max(end[0] - self._start[0], 1e-9)
        others = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return MachineLoad(max(0.0, others) / wall, (end[3] - self._start[3]) / wall)


# --- the emulator in its own process ------------------------------------------------------------------


@dataclass
class Emulator:
    """A running emulator process: its endpoint and its control API."""

    endpoint: str
    process: subprocess.Popen[str] | None = None  # None: started elsewhere (another process owns it)

    def control(
        self, method: str, route: str, body: Mapping[str, Any] | None = None, *, timeout: float = 30
    ) -> Any:
        """Call ``/_emulator/<route>``; returns the decoded JSON answer (``timeout`` s to wait for it)."""
        host, port = self.endpoint.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else b""
            conn.request(method, f"/_emulator/{route}", body=data, headers={"Content-Length": str(len(data))})
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"emulator {method} {route}: {response.status} {payload[:200]!r}")
        return json.loads(payload)

    def sdk_client(self) -> Any:
        """An official ECS SDK client for this emulator (its default key pair, plain HTTP)."""
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.models import Config

        from devkit.emulator.server import DEFAULT_CREDENTIALS

        cred = DEFAULT_CREDENTIALS[0]
        return Client(
            Config(
                access_key_id=cred.access_key_id,
                access_key_secret=cred.access_key_secret,
                region_id="cn-hangzhou",
                endpoint=self.endpoint,
                protocol="http",
            )
        )

    def meter(self) -> LoadMeter:
        """A ``LoadMeter`` that leaves out this process and the emulator's."""
        return LoadMeter(*([self.process.pid] if self.process is not None else []))

    def reset(self) -> None:
        """Back to the initial fleet and faults, counters at zero."""
        self.control("POST", "reset", {})

    def outcomes(self, action: str) -> dict[str, int]:
        """How the requests of ``action`` ended so far (``{"OK": n, "Throttling": m, ...}``)."""
        counters = self.control("GET", "counters")
        return dict(counters.get(action, {}).get("outcomes", {}))

    def target(self) -> Any:
        """A devkit ``Target`` for this emulator, with its plain AccessKey pair."""
        from devkit.emulator.server import DEFAULT_CREDENTIALS
        from devkit.local.runner import Target

        cred = DEFAULT_CREDENTIALS[0]
        return Target(self.endpoint, cred.access_key_id, cred.access_key_secret)


@contextlib.contextmanager
def emulator_process(
    fleet: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
    *,
    start_timeout: float = 60,
) -> Iterator[Emulator]:
    """``snapstack emulator start`` in a child process on ``fleet`` (None: the sample fleet)."""
    with tempfile.TemporaryDirectory(prefix="snapstack-bench-") as tmp:
        args = [sys.executable, "-m", "devkit.cli", "emulator", "start", "--port", "0"]
        if fleet is not None:
            fleet_file = Path(tmp) / "fleet.json"
            fleet_file.write_text(json.dumps(fleet))
            args += ["--fleet", str(fleet_file)]
        if faults is not None:
            faults_file = Path(tmp) / "faults.json"
            faults_file.write_text(json.dumps(faults))
            args += ["--faults", str(faults_file)]
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=ROOT
        )
        try:
            assert proc.stdout is not None
            first = _readline(proc, start_timeout)
            if "http://" not in first:
                raise RuntimeError(f"the emulator did not start: {first!r}")
            yield Emulator(first.split("http://", 1)[1].split()[0], proc)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first line of output, waiting at most ``timeout`` seconds."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise RuntimeError(f"the emulator printed nothing in {timeout:.0f} s")
    return proc.stdout.readline()


# --- running scheduled_backup in this process ---------------------------------------------------------


def scheduled_config(rate_limit: float, concurrency: int, **policy: Any) -> dict[str, Any]:
    """A scheduled_backup configuration with one policy over every disk of the region."""
    return {
        "policies": [
            {
                "name": POLICY,
                "selector": {"all_disks": True},
                "rate_limit": rate_limit,
                "concurrency": concurrency,
                **policy,
            }
        ]
    }


def timer_event(trigger_time: str = TRIGGER_TIME) -> bytes:
    """A timer event naming the benchmark policy."""
    payload = json.dumps({"policy": POLICY})
    return json.dumps({"triggerTime": trigger_time, "triggerName": "bench", "payload": payload}).encode()


@dataclass(frozen=True)
class RunResult:
    """One scheduled_backup invocation as a benchmark sees it."""

    summary: dict[str, Any]
    wall: float  # seconds
    cpu: float  # process_time seconds of this whole process (every thread)
    incomplete: bool

    def count(self, outcome: str) -> int:
        """Disks that ended with ``outcome``."""
        return int(self.summary.get(outcome, 0))

    def codes(self, outcome: str) -> dict[str, int]:
        """Error codes of the disks that ended with ``outcome``."""
        out: dict[str, int] = {}
        for disk in self.summary.get("disks", []):
            if disk["outcome"] == outcome:
                code = disk.get("error_code", "-")
                out[code] = out.get(code, 0) + 1
        return out


def run_scheduled(
    emulator: Emulator,
    config: Mapping[str, Any],
    token_table: str,
    *,
    trigger_time: str = TRIGGER_TIME,
    timeout: int = 300,
) -> RunResult:
    """Invoke scheduled_backup once in this process, as ``devkit.local.runner.invoke`` does, and time it.

    ``timeout`` replaces the template's FC timeout, so a stuck run ends (its remaining disks
    deferred) within that many seconds instead of the template's 900.
    """
    return run_function(
        emulator, "scheduled_backup", timer_event(trigger_time), config, token_table, timeout=timeout
    )


def run_function(
    emulator: Emulator,
    function: str,
    event: bytes,
    config: Mapping[str, Any],
    token_table: str,
    *,
    timeout: int = 300,
) -> RunResult:
    """Invoke ``function`` of template.yml once in this process with ``config`` and time it.

    The function's log lines go to /dev/null (written, so their cost counts, but not shown).
    """
    import dataclasses

    from devkit.local.runner import load_handler, local_env, make_context, overlay_env
    from devkit.local.template import load_template
    from snapstack.handlers.runtime import IncompleteRun

    template = load_template(TEMPLATE)
    spec = dataclasses.replace(template.function(function), timeout=timeout)
    target = emulator.target()
    env = {**local_env(spec, target, token_table), "SNAPSTACK_CONFIG_JSON": json.dumps(config)}
    incomplete = False
    with overlay_env(env), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        handler = load_handler(spec)
        context = make_context(template, spec, target)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        try:
            summary = handler(event, context)
        except IncompleteRun as exc:  # FC would deliver the event again; the figures still count
            summary, incomplete = exc.summary, True
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return RunResult(summary, wall, cpu, incomplete)


def sqlite_url(directory: str | Path) -> str:
    """A token table URL for a fresh SQLite file in ``directory``."""
    return f"sqlite:///{Path(directory).resolve()}/tokens.db"
