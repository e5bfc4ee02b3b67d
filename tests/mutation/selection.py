"""Which tests can see a mutant: per-line coverage of a module's tests, by test (coverage.py's
dynamic contexts, recorded by pytest-cov's ``--cov-context=test``).

A mutant can only change a test's outcome if the test executes the statement it mutates, so each
mutant runs only the tests that covered that statement in the baseline run instead of the
module's whole list. A statement that runs while modules are imported (the empty context: a
constant, a field of a model or a dataclass) gets every test, quickest first: any may depend on
it, also one that runs none of the module's lines (a dataclass's generated ``__init__``); a
statement no test covered in-process gets the module's whole list (it may run in a process a
test starts, which coverage does not follow). So selection never lets a mutant survive that the
whole list would kill. A function's signature runs at import too, but what a mutant there
changes (a default, a keyword-only marker) is seen only by the calls: it gets the tests that ran
the function's first statement, then every other test, quickest first, since a call that a
keyword-only marker refuses (a test that expects the TypeError) never enters the function.

pytest-cov: https://pytest-cov.readthedocs.io/en/latest/contexts.html ; coverage.py's
``CoverageData.contexts_by_lineno``: https://coverage.readthedocs.io/en/latest/api_coveragedata.html
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from coverage import CoverageData

#: pytest-cov names a test's context "<node id>|setup", "|run" or "|teardown".
_PHASES = ("|setup", "|run", "|teardown")


def coverage_options(package: Path, data_file: Path) -> tuple[list[str], dict[str, str]]:
    """pytest options and environment that record, per test, the lines of ``package`` it runs."""
    options = ["--cov", str(package), "--cov-context=test", "--cov-report="]
    return options, {"COVERAGE_FILE": str(data_file)}


class Selection:
    """The tests to run for a mutant of one module, from a baseline run's coverage data.

    ``tests_for(line)`` returns the pytest node ids that executed the statement holding ``line``
    (1-based) in the baseline, quickest first by ``durations`` (seconds per node id; pytest
    stops at the first failure, so a mutant a quick test kills never waits for a slow one), or
    ``None`` for "run the module's whole list" (see the module docstring for when).
    """

    def __init__(self, data_file: Path, module_path: Path, durations: dict[str, float] | None = None) -> None:
        self._durations = durations or {}
        data = CoverageData(basename=str(data_file))
        data.read()
        measured = next((f for f in data.measured_files() if Path(f) == module_path), None)
        self._contexts: dict[int, list[str]] = (
            data.contexts_by_lineno(measured) if measured is not None else {}
        )
        source = module_path.read_text(encoding="utf-8")
        self._statements = _statement_spans(source)
        self._signatures = _signature_spans(source)

    def tests_for(self, line: int) -> list[str] | None:
        called = [body for first, last, body in self._signatures if first <= line <= last]
        if not called:
            return self._covering(line)
        # A signature: the tests that ran the function first (they see a default), then the rest,
        # which may call it in a way the original refuses and so never run its body.
        first = self._covering(called[-1])
        every = self._quickest(self._durations) if self._durations else None
        if first is None or every is None:
            return None
        seen = set(first)
        return first + [t for t in every if t not in seen]

    def _covering(self, line: int) -> list[str] | None:
        """The tests that ran the statement holding ``line`` (None: the whole list)."""
        holding = [s for s in self._statements if s[0] <= line <= s[1]]
        span = min(holding, key=lambda s: s[1] - s[0], default=None)
        lines = range(span[0], span[1] + 1) if span else range(line, line + 1)
        contexts = {c for n in lines for c in self._contexts.get(n, ())}
        if "" in contexts:
            # Runs at import: any test may depend on it, also one that runs none of the module's
            # lines (a dataclass's generated __init__, a model's validation): every test of the
            # baseline, quickest first (the whole list, by file, when their durations are unknown).
            return self._quickest(self._durations) if self._durations else None
        if not contexts:
            return None
        return self._quickest({_node_id(c) for c in contexts})

    def _quickest(self, tests: Iterable[str]) -> list[str]:
        return sorted(set(tests), key=lambda t: (self._durations.get(t, 0.0), t))


def _node_id(context: str) -> str:
    for phase in _PHASES:
        if context.endswith(phase):
            return context[: -len(phase)]
    return context


def _statement_spans(source: str) -> list[tuple[int, int]]:
    """(first, last) line of every statement; a compound statement's span is its header only
    (``if x and y:`` up to its body), since its body's statements have their own spans."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.AST):
            spans.append((node.lineno, max(node.lineno, body[0].lineno - 1)))
        else:
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


def _signature_spans(source: str) -> list[tuple[int, int, int]]:
    """(first, last, body) lines of every function's signature (``def`` up to its body, decorators
    excluded) and the line of its first statement that runs (a docstring is not one), outermost
    first."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            spans.append((node.lineno, max(node.lineno, node.body[0].lineno - 1), body[0].lineno))
    return spans
