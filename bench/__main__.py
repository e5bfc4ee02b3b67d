"""Run every benchmark in this folder, one after the other, then one summary table: ``python -m bench``.

Each module with a ``main(argv) -> int`` runs with its defaults and prints its own figures; each
files its headline rows with ``bench.harness.record``, and the table of all of them comes last.
A module that crashes or reports a failed run (non-zero) makes the whole run exit 1; a missed
target only shows in the table (timings are reported, never asserted).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

import bench
from bench.harness import ROWS, format_table, record


def main() -> int:
    """Run the modules in name order; print the summary; 1 if any module failed."""
    status = 0
    began = time.perf_counter()
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):  # __main__ is this module
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if not hasattr(module, "main"):  # helpers (harness)
            continue
        print(f"\n=== bench.{info.name}", flush=True)
        started = time.perf_counter()
        try:
            code = module.main([])
        except Exception:
            traceback.print_exc()
            record(f"bench.{info.name}", "crashed (see above)", "", "ERROR")
            code = 1
        status |= 1 if code else 0
        print(f"--- bench.{info.name}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n=== summary ({time.perf_counter() - began:.0f} s in all)\n")
    print(format_table(ROWS), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
