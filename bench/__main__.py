"""Run every benchmark in this folder, one after the other: ``python -m bench``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main() -> int:
    """Each module with a ``main`` runs with its defaults; a failing one fails the whole run."""
    status = 0
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"bench.{info.name}")
        if hasattr(module, "main"):
            print(f"\n=== bench.{info.name}", flush=True)
            status |= module.main([])
    return status


if __name__ == "__main__":
    sys.exit(main())
