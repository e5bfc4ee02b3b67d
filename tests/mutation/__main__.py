"""Mutation testing of the library's core with cosmic-ray, one module at a time, each against its tests.

    python -m tests.mutation                          # every module of targets.MODULES
    python -m tests.mutation snapstack/ratelimit.py   # one module (or a prefix: snapstack/ecs/)
    python -m tests.mutation --list                   # the map, and how many mutants each module has
    python -m tests.mutation --max-tests 10 ...       # quicker: a lower bound on each score

cosmic-ray (https://cosmic-ray.readthedocs.io) makes the mutants and applies each one to the
module file while the tests run (its ``mutate_and_test``), then restores the file. Here it does
so in scratch copies of the repository (the files git tracks plus the untracked ones it does not
ignore), never in the worktree, one copy per worker (``--workers``, default one per core): a
copy's ``layers/snapstack/python`` and root come first on ``PYTHONPATH``, ahead of the editable
install, so pytest, the emulators and every subprocess a test starts import the mutant.

Per module: a baseline run of its tests under coverage, by test (they must pass unmutated),
``cosmic-ray init``, then three filters mark mutants skipped: cosmic-ray's own operators filter
(``targets.EXCLUDED_OPERATORS``), mutants inside type annotations (every module has
``from __future__ import annotations``: they are strings no test can see; mypy checks them) and
the equivalent mutants of ``targets.EQUIVALENT``. Each remaining mutant runs the tests that
executed its statement in the baseline (``selection.py``; the whole list when that cannot be
known), the workers side by side. Then the score (killed / (killed + survived)) and every
survivor with its diff. The session database stays in ``.snapstack/mutation/`` for
``cr-report`` / ``cr-html``. Exit status 1 when a module scores under ``targets.MIN_SCORE`` or
its tests fail unmutated.
"""

from __future__ import annotations

import argparse
import ast
import compileall
import contextlib
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import attrs
import cosmic_ray.plugins
from cosmic_ray.mutating import mutate_and_test, mutate_code
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import MutationSpec, TestOutcome, WorkerOutcome, WorkItem, WorkResult

from tests.mutation.selection import Selection, coverage_options
from tests.mutation.targets import (
    EQUIVALENT,
    EXCLUDED_OPERATORS,
    MIN_SCORE,
    MODULES,
    TEST_TIMEOUT,
    Equivalent,
)

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Path("layers/snapstack/python")
RESULTS = ROOT / ".snapstack" / "mutation"
#: Every process a mutation run starts inherits this variable, so leftovers can be found by it.
MARKER = "SNAPSTACK_MUTATION_RUN"
PROGRESS_EVERY = 30.0  # seconds between progress lines
#: How a survivor that ran only some of its covering tests (``--max-tests``) is marked.
CAPPED = "survived"


@dataclass
class Score:
    """One module's outcome."""

    module: str
    mutants: int = 0
    killed: int = 0
    timeouts: int = 0
    survived: list[tuple[str, str]] = field(default_factory=list)  # (where, diff)
    equivalent: int = 0
    not_generated: int = 0  # excluded operators and annotations
    errors: list[str] = field(default_factory=list)
    #: Mutants cosmic-ray itself failed to make (an operator's bug): reported, not scored.
    tool_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    baseline_seconds: float = 0.0
    broken: str = ""

    @property
    def percent(self) -> float:
        tested = self.killed + len(self.survived)
        return 100.0 * self.killed / tested if tested else 100.0

    @property
    def ok(self) -> bool:
        return not self.broken and not self.errors and self.percent >= MIN_SCORE


def chosen(patterns: list[str]) -> list[str]:
    """The modules named (exactly, or by a prefix), in the order named (a prefix's modules in the
    map's order), each once."""
    if not patterns:
        return list(MODULES)
    picked = list(
        dict.fromkeys(m for p in patterns for m in MODULES if m == p or m.startswith(p.rstrip("/") + "/"))
    )
    unknown = [p for p in patterns if not any(m == p or m.startswith(p.rstrip("/") + "/") for m in MODULES)]
    if unknown:
        raise SystemExit(
            f"not in tests/mutation/targets.py: {', '.join(unknown)}; known: {', '.join(MODULES)}"
        )
    return picked


@contextmanager
def scratch_copy(*, compiled: bool = True) -> Iterator[Path]:
    """A copy of the repository's files (tracked, and untracked but not ignored), compiled."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    with tempfile.TemporaryDirectory(prefix="snapstack-mutation-") as tmp:
        copy = Path(tmp)
        for name in filter(None, listed.split("\0")):
            source = ROOT / name
            if source.is_file():
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy / name)
        for folder in (LIBRARY, Path("devkit"), Path("tests")) if compiled else ():
            compileall.compile_dir(copy / folder, quiet=1)
        yield copy


def environment(copy: Path, run_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / LIBRARY), str(copy)])
    env.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    env.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
    env[MARKER] = run_id
    return env


def test_command(copy: Path, tests: tuple[str, ...], options: tuple[str, ...] = ()) -> list[str]:
    """pytest on ``tests`` (with ``options``), stopping at the first failure; without the
    hypothesis plugin (1.3 s of CPU per run) unless one of the tests or their conftests uses it."""
    plugins = [] if uses_hypothesis(copy, tests) else ["-p", "no:hypothesispytest"]
    return [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "--no-header",
        "-p",
        "no:cacheprovider",
        *plugins,
        f"--timeout={TEST_TIMEOUT}",
        *options,
        *tests,
    ]


def uses_hypothesis(copy: Path, tests: tuple[str, ...]) -> bool:
    files: set[Path] = set()
    for test in tests:
        path = copy / test.split("::")[0]
        files.update(path.rglob("*.py") if path.is_dir() else [path])
        for folder in path.parents:
            files.add(folder / "conftest.py")
            if folder == copy:
                break
    imports = re.compile(r"^(from|import) hypothesis\b", re.M)
    return any(f.is_file() and imports.search(f.read_text(encoding="utf-8")) for f in files)


def end_leftovers(run_id: str) -> None:
    """Stop processes this run started that outlived their test (a timed-out mutant's servers)."""
    needle = f"{MARKER}={run_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, PermissionError):
            continue


def source_line(path: Path, line: int) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def annotation_spans(module_path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, as (line, column), of every type annotation in the module."""
    spans = []
    for node in ast.walk(ast.parse(module_path.read_text(encoding="utf-8"))):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans += [
            ((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0))
            for a in found
            if a is not None
        ]
    return spans


def mark_skipped(db: WorkDB, module: str, module_path: Path) -> tuple[int, list[Equivalent]]:
    """Skip mutants in annotations and the listed equivalent ones; return how many equivalents were
    skipped, and the entries that matched nothing."""
    entries = [e for e in EQUIVALENT if e.module == module]
    spans = annotation_spans(module_path)
    used: set[Equivalent] = set()
    skipped = 0
    for item in list(db.pending_work_items):
        (mutation,) = item.mutations
        start = tuple(mutation.start_pos)
        if any(low <= start < high for low, high in spans):
            db.set_result(
                item.job_id,
                WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output="annotation: never evaluated"),
            )
            continue
        line = source_line(module_path, mutation.start_pos[0])
        for entry in entries:
            if (
                entry.operator == mutation.operator_name
                and entry.line == line
                and (not entry.mutant or mutated_line(module_path, mutation) == entry.mutant)
            ):
                db.set_result(
                    item.job_id,
                    WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=f"equivalent: {entry.why}"),
                )
                used.add(entry)
                skipped += 1
                break
    return skipped, [e for e in entries if e not in used]


def mutated_line(module_path: Path, mutation: MutationSpec) -> str:
    """The mutated source line of ``mutation`` (stripped), computed as cosmic-ray will apply it."""
    operator = cosmic_ray.plugins.get_operator(mutation.operator_name)(**(mutation.operator_args or {}))
    code = mutate_code(module_path.read_text(encoding="utf-8"), operator, mutation.occurrence) or ""
    lines = code.splitlines()
    line = mutation.start_pos[0]
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def short_diff(diff: str | None) -> str:
    return "\n".join(
        f"      {line}"
        for line in (diff or "").splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    )


def tally(db: WorkDB, score: Score, module_path: Path) -> None:
    for item, result in db.completed_work_items:
        (mutation,) = item.mutations
        where = (
            f"line {mutation.start_pos[0]} {mutation.operator_name}: "
            f"{source_line(module_path, mutation.start_pos[0])}"
        )
        if result.worker_outcome is WorkerOutcome.SKIPPED:
            if (result.output or "").startswith("equivalent:"):
                score.equivalent += 1
            else:
                score.not_generated += 1
        elif result.worker_outcome is WorkerOutcome.NO_TEST:
            continue
        elif result.worker_outcome is WorkerOutcome.EXCEPTION:
            last = (result.output or "").strip().splitlines()[-1:] or [""]
            score.tool_errors.append(f"{where}: cosmic-ray could not make it: {last[0]}")
        elif result.worker_outcome is not WorkerOutcome.NORMAL:
            score.errors.append(f"{where}: {result.worker_outcome.value}: {(result.output or '')[-300:]}")
        elif result.test_outcome is TestOutcome.SURVIVED:
            output = result.output or ""
            capped = output.split("\n", 1)[0] if output.startswith(CAPPED) else ""
            score.survived.append((f"{where} [{capped}]" if capped else where, short_diff(result.diff)))
        elif result.test_outcome is TestOutcome.KILLED:
            score.killed += 1
            score.timeouts += result.output == "timeout"
        else:
            score.errors.append(f"{where}: {result.test_outcome}: {(result.output or '')[-300:]}")


def prepare(
    copy: Path, module: str, env: dict[str, str], config: Path, session: Path
) -> tuple[int, int, list[Equivalent]]:
    """``cosmic-ray init`` and the filters; (mutants to run, known equivalents skipped)."""
    run_cr(["init", str(config), str(session)], copy, env)
    run_cr(["cr-filter-operators", str(session), str(config)], copy, env, tool=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        skipped, stale = mark_skipped(db, module, copy / LIBRARY / module)
        pending = sum(1 for _ in db.pending_work_items)
    return pending, skipped, stale


def write_config(path: Path, copy: Path, module: str, tests: tuple[str, ...], timeout: float) -> None:
    # TOML by hand: a handful of plain strings (cosmic-ray reads it with its own parser).
    command = shlex.join(test_command(copy, tests))
    excluded = ", ".join(_toml(pattern) for pattern in EXCLUDED_OPERATORS)
    path.write_text(
        "[cosmic-ray]\n"
        f"module-path = {_toml(str(copy / LIBRARY / module))}\n"
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {_toml(command)}\n"
        "\n[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "\n[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n",
        encoding="utf-8",
    )


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_cr(args: list[str], copy: Path, env: dict[str, str], *, tool: bool = False) -> None:
    """``cosmic-ray ARGS``, or with ``tool`` the cosmic-ray tool named by ``args[0]``."""
    command = [args[0], *args[1:]] if tool else ["cosmic-ray", *args]
    command[0] = str(Path(sys.executable).parent / command[0])
    subprocess.run(command, cwd=copy, env=env, check=True)


@dataclass(frozen=True)
class Baseline:
    """One run of a test list, unmutated, under coverage by test: its data file, how long it
    took, each test's seconds, and its output when it failed."""

    data_file: Path
    seconds: float
    durations: dict[str, float]
    failed: str = ""


#: pytest's ``--durations=0`` lines: "0.51s call     tests/x.py::test_y[a]".
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s (?:setup|call|teardown)\s+(\S.*)$", re.M)


def baseline(
    copy: Path, tests: tuple[str, ...], env: dict[str, str], cache: dict[tuple[str, ...], Baseline]
) -> Baseline:
    """The baseline run of ``tests`` (once per run: modules sharing a list share it)."""
    if tests in cache:
        return cache[tests]
    data_file = copy / f"baseline-{len(cache)}.coverage"
    options, coverage_env = coverage_options(copy / LIBRARY / "snapstack", data_file)
    started = time.monotonic()
    ran = subprocess.run(
        test_command(copy, tests, (*options, "--durations=0", "--durations-min=0")),
        cwd=copy,
        env={**env, **coverage_env},
        capture_output=True,
        text=True,
        check=False,
    )
    durations: dict[str, float] = {}
    for seconds, node in _DURATION.findall(ran.stdout):
        durations[node.strip()] = durations.get(node.strip(), 0.0) + float(seconds)
    cache[tests] = Baseline(
        data_file,
        time.monotonic() - started,
        durations,
        failed="" if ran.returncode == 0 else ran.stdout[-3000:],
    )
    return cache[tests]


def mutate(
    copies: list[Path],
    module: str,
    run_id: str,
    cache: dict[tuple[str, ...], Baseline],
    max_tests: int | None = None,
) -> Score:
    """Baseline, init, equivalents, the mutants (one worker per copy) and tally for one module."""
    score = Score(module)
    tests = MODULES[module]
    copy = copies[0]
    env = environment(copy, run_id)
    module_path = copy / LIBRARY / module
    # The mutated module is always compiled from source (cosmic-ray's runs write no bytecode).
    for each in copies:
        for pyc in (each / LIBRARY / module).parent.glob(f"__pycache__/{module_path.stem}.*.pyc"):
            pyc.unlink()
    slug = module.replace("/", ".")
    started = time.monotonic()
    base = baseline(copy, tests, env, cache)
    score.baseline_seconds = base.seconds
    if base.failed:
        score.broken = "its tests fail without any mutant:\n" + base.failed
        return score
    selection = Selection(base.data_file, module_path, base.durations)
    RESULTS.mkdir(parents=True, exist_ok=True)
    config, session = copy / f"{slug}.toml", copy / f"{slug}.sqlite"
    write_config(config, copy, module, tests, 3 * score.baseline_seconds + 20)
    pending, skipped, stale = prepare(copy, module, env, config, session)
    score.mutants = pending
    for entry in stale:
        score.errors.append(f"equivalent entry matches no mutant (update targets.py): {entry}")
    print(
        f"{module}: {pending} mutants to run ({skipped} known equivalent skipped) on {len(copies)} "
        f"worker(s), tests pass unmutated in {score.baseline_seconds:.1f}s (under coverage)",
        flush=True,
    )
    try:
        with use_db(str(session), WorkDB.Mode.open) as db:
            run_pending(
                db,
                copies,
                module=module,
                tests=tests,
                selection=selection,
                run_id=run_id,
                baseline=base,
                max_tests=max_tests,
            )
            tally(db, score, module_path)
    finally:
        end_leftovers(run_id)
    shutil.copy2(session, RESULTS / session.name)
    score.seconds = time.monotonic() - started
    return score


def run_pending(
    db: WorkDB,
    copies: list[Path],
    *,
    module: str,
    tests: tuple[str, ...],
    selection: Selection,
    run_id: str,
    baseline: Baseline,
    max_tests: int | None = None,
) -> None:
    """Run every pending mutant, each in a free copy with the tests that can see it; results go
    to the session database as they come (from this thread only: it is SQLite)."""
    free: queue.SimpleQueue[Path] = queue.SimpleQueue()
    for each in copies:
        free.put(each)
    options = tuple(t for t in tests if t.startswith("-"))  # -k filters stay with the node ids

    def one(item: WorkItem) -> WorkResult:
        copy = free.get()
        try:
            (mutation,) = item.mutations
            chosen_tests = selection.tests_for(mutation.start_pos[0])
            covering = len(chosen_tests or ())
            if chosen_tests is not None and max_tests and covering > max_tests:
                chosen_tests = chosen_tests[:max_tests]
            command = [
                "env",
                "-C",
                str(copy),
                *(f"{k}={v}" for k, v in environment(copy, run_id).items() if k in _PER_COPY),
                *test_command(copy, tests if chosen_tests is None else (*options, *chosen_tests)),
            ]
            moved = attrs.evolve(mutation, module_path=copy / LIBRARY / module)
            # A mutant that makes its tests 3x slower (plus room for start-up and a loaded
            # machine) is a timeout: killed.
            took = (
                baseline.seconds
                if chosen_tests is None
                else sum(baseline.durations.get(t, 0.0) for t in chosen_tests)
            )
            result = mutate_and_test([moved], shlex.join(command), 3 * took + 20)
            if chosen_tests is not None and len(chosen_tests) < covering:
                note = f"{CAPPED} the {len(chosen_tests)} quickest of the {covering} tests that cover it\n"
                result = attrs.evolve(result, output=note + (result.output or ""))
            return result
        finally:
            free.put(copy)

    items = list(db.pending_work_items)
    total, done, last = len(items), 0, time.monotonic()
    with ThreadPoolExecutor(max_workers=len(copies)) as pool:
        running: dict[Future[WorkResult], WorkItem] = {pool.submit(one, item): item for item in items}
        while running:
            finished, _ = wait(running, timeout=PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            for future in finished:
                db.set_result(running.pop(future).job_id, future.result())
                done += 1
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                print(f"  {module}: {done}/{total} done", flush=True)


#: The variables that differ between copies; the rest of a test's environment is this process's.
_PER_COPY = ("PYTHONPATH",)


def report(score: Score) -> None:
    minutes, seconds = divmod(round(score.seconds), 60)
    tested = score.killed + len(score.survived)
    print(
        f"{score.module}: {score.percent:.1f}% killed ({score.killed} of {tested}; "
        f"{score.timeouts} by timeout), {score.equivalent} equivalent, {minutes}m{seconds:02d}s "
        f"(tests alone: {score.baseline_seconds:.1f}s)",
        flush=True,
    )
    if score.broken:
        print(f"  NOT RUN: {score.broken}")
    for where, diff in score.survived:
        print(f"  survived: {where}\n{diff}")
    for error in score.errors:
        print(f"  error: {error}")
    for error in score.tool_errors:
        print(f"  not run: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="modules of tests/mutation/targets.py, or prefixes")
    parser.add_argument("--list", action="store_true", help="print the map and each module's mutant count")
    parser.add_argument(
        "--max-tests",
        type=int,
        default=None,
        help="run at most N of the tests covering a mutant, the quickest (a lower bound on the "
        "score: a survivor that more tests might kill is marked)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="mutants run side by side (default: cores)"
    )
    args = parser.parse_args(argv)
    modules = chosen(args.modules)
    run_id = uuid.uuid4().hex
    scores: list[Score] = []
    with contextlib.ExitStack() as stack:
        copy = stack.enter_context(scratch_copy(compiled=not args.list))
        if args.list:
            env = environment(copy, run_id)
            for module in modules:
                config, session = copy / "count.toml", copy / f"{module.replace('/', '.')}.sqlite"
                write_config(config, copy, module, MODULES[module], 60)
                pending, skipped, _ = prepare(copy, module, env, config, session)
                tests = " ".join(MODULES[module])
                print(f"{module:34} {pending:4} mutants ({skipped} equivalent) <- {tests}")
            return 0
        copies = [copy, *(stack.enter_context(scratch_copy()) for _ in range(args.workers - 1))]
        os.environ.update({k: v for k, v in environment(copy, run_id).items() if k not in _PER_COPY})
        cache: dict[tuple[str, ...], Baseline] = {}
        try:
            for module in modules:
                scores.append(mutate(copies, module, run_id, cache, args.max_tests))
                report(scores[-1])
        finally:
            end_leftovers(run_id)
    print(f"\nmutation score per module (bar: {MIN_SCORE:.0f}%)")
    for score in scores:
        status = "ok" if score.ok else "BELOW" if not score.broken else "NOT RUN"
        print(
            f"  {score.module:34} {score.percent:5.1f}%  {score.killed:4} killed"
            f"  {len(score.survived):3} survived  {score.equivalent:3} equivalent"
            f"  {score.seconds / 60:5.1f} min  {status}"
        )
    return 0 if all(s.ok for s in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
