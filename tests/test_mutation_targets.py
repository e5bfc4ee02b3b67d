"""``make mutation``'s map stays true: every core module listed, every listed test and equivalent real."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from coverage import CoverageData

from tests.mutation.selection import Selection
from tests.mutation.targets import CORE, EQUIVALENT, EXCLUDED_OPERATORS, MODULES

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "layers/snapstack/python"


def has_code(path: Path) -> bool:
    """False for a module that is empty or only a docstring (nothing to mutate)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def test_every_core_module_is_mapped_to_its_tests():
    core: set[str] = set()
    for entry in CORE:
        path = LIBRARY / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        core |= {str(f.relative_to(LIBRARY)) for f in files if has_code(f)}
    assert core - set(MODULES) == set(), "add these to tests/mutation/targets.py MODULES"
    assert all((LIBRARY / module).is_file() for module in MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_listed_test_exists(module):
    tests = MODULES[module]
    assert tests, f"{module} has no tests"
    for test in tests:
        assert test.startswith("-") or (ROOT / test.split("::")[0]).exists(), test


def test_every_equivalent_mutant_names_a_line_that_exists():
    for entry in EQUIVALENT:
        assert entry.module in MODULES and entry.why, entry
        source = (LIBRARY / entry.module).read_text(encoding="utf-8")
        assert entry.line in {line.strip() for line in source.splitlines()}, entry
        assert entry.operator.startswith("core/") and entry.mutant != entry.line, entry
        assert not any(re.match(p, entry.operator) for p in EXCLUDED_OPERATORS), entry


def test_the_readme_command_lists_a_modules_mutants():
    # `make mutation MODULE=...` without running the mutants: the scratch copy, cosmic-ray's init
    # and the filters work, and the module has mutants left to run.
    listed = subprocess.run(
        [sys.executable, "-m", "tests.mutation", "--list", "snapstack/ratelimit.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = listed.splitlines()
    module, count, *_ = line.split()
    assert module == "snapstack/ratelimit.py" and int(count) > 20 and "tests/test_ratelimit.py" in line


MODULE_SOURCE = """\
LIMIT = 3


def check(value, other):
    if (value > LIMIT and
            other):
        return value - 1
    return value


def unused():
    return 0


def keyword(
    a, *, b=1
):
    \"\"\"Doc.\"\"\"
    return a + b
"""


def test_a_mutant_runs_the_tests_that_ran_its_statement_or_else_the_whole_list(tmp_path):
    # Coverage data as pytest-cov's --cov-context=test records it: import-time lines under the
    # empty context, each test's lines under "<node id>|run".
    module = tmp_path / "mod.py"
    module.write_text(MODULE_SOURCE, encoding="utf-8")
    data = CoverageData(basename=str(tmp_path / "cov"))
    data.set_context("")
    data.add_lines({str(module): [1, 4, 11, 15]})
    data.set_context("tests/t.py::test_big|run")
    data.add_lines({str(module): [5, 7, 19]})
    data.set_context("tests/t.py::test_small[1]|run")
    data.add_lines({str(module): [5, 8]})
    data.set_context("tests/t.py::test_small[1]|setup")
    data.add_lines({str(module): [5]})
    data.write()
    selection = Selection(tmp_path / "cov", module)
    timed = Selection(
        tmp_path / "cov", module, {"tests/t.py::test_big": 2.0, "tests/t.py::test_small[1]": 0.1}
    )
    both = ["tests/t.py::test_big", "tests/t.py::test_small[1]"]
    assert selection.tests_for(5) == both
    assert selection.tests_for(6) == both  # the second line of the `if`: the same statement
    assert selection.tests_for(7) == ["tests/t.py::test_big"]
    assert selection.tests_for(8) == ["tests/t.py::test_small[1]"]
    # Runs at import: every test may depend on it, quickest first (by file when durations are unknown).
    assert selection.tests_for(1) is None
    assert timed.tests_for(1) == ["tests/t.py::test_small[1]", "tests/t.py::test_big"]
    assert timed.tests_for(5) == ["tests/t.py::test_small[1]", "tests/t.py::test_big"]
    assert selection.tests_for(12) is None  # no test ran it in-process: the whole list
    # A signature (a default, `*`) runs at import, but only calls see it: the tests that ran the
    # body first, then every other one (a call the `*` refuses never runs the body).
    assert timed.tests_for(16) == ["tests/t.py::test_big", "tests/t.py::test_small[1]"]
    assert selection.tests_for(16) is None  # durations unknown: the whole list
