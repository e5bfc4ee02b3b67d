"""The ``snapstack`` command (local tooling only; never deployed).

Each sub-command lives in ``devkit/commands/<name>.py`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a callable taking the parsed namespace and
returning an exit code (``devkit/exitcodes.py``). Heavy imports stay inside those callables.

A command that cannot do its job raises ``devkit.local.errors.CommandError``: ``main`` prints
one line, ``snapstack <command>: <what is wrong and what to do>``, on stderr and exits with
the error's code. Only a bug (any other exception) prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence

import devkit.commands
from devkit import exitcodes
from devkit.local.errors import CommandError


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every sub-command found in ``devkit.commands``.

    When ``command`` names one of those modules, only that one is imported: a CI job running
    ``snapstack hook`` does not pay for the other commands' imports.
    """
    parser = argparse.ArgumentParser(
        prog="snapstack",
        description="snapstack local tooling",
        epilog="exit codes: 0 ok, 1 some disks failed, 2 usage, 3 incomplete (run again later), "
        "4 bad input or configuration, 5 tool error",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(devkit.commands.__path__))
    for name in [command] if command in names else names:
        importlib.import_module(f"devkit.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snapstack`` console script: the command's exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    name = " ".join(str(part) for part in (args.command, getattr(args, "verb", None)) if part)
    try:
        code: int = args.func(args)
    except CommandError as exc:
        print(f"snapstack {name}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130  # the shell's convention for SIGINT
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as a killed-by-SIGPIPE tool would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception:
        traceback.print_exc()
        print(f"snapstack {name}: internal error (a bug: the traceback is above)", file=sys.stderr)
        return exitcodes.TOOL_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
