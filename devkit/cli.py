"""The ``snapstack`` command (local tooling only; never deployed).

Each sub-command lives in ``devkit/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable taking the parsed namespace and
returning an exit code. Heavy imports stay inside those callables.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import devkit.commands


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command found in ``devkit.commands``."""
    parser = argparse.ArgumentParser(prog="snapstack", description="snapstack local tooling")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(devkit.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"devkit.commands.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snapstack`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
