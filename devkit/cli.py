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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every sub-command found in ``devkit.commands``.

    When ``command`` names one of those modules, only that one is imported: a CI job running
    ``snapstack hook`` does not pay for the other commands' imports.
    """
    parser = argparse.ArgumentParser(prog="snapstack", description="snapstack local tooling")
    subparsers = parser.add_subparsers(dest="command", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(devkit.commands.__path__))
    for name in [command] if command in names else names:
        importlib.import_module(f"devkit.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snapstack`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
