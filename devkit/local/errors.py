"""What a local command says when it cannot do its job: one line and an exit code, no traceback.

Commands raise ``CommandError`` (or a subclass); ``devkit.cli.main`` prints
``snapstack <command>: <message>`` on stderr and exits with the error's code
(``devkit/exitcodes.py``). ``explain`` turns what a function raised in a local run into one.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from devkit import exitcodes

if TYPE_CHECKING:
    from devkit.local.runner import Result


class CommandError(Exception):
    """A command could not run; ``str(error)`` says what is wrong and what to do."""

    exit_code = exitcodes.TOOL_ERROR


class UsageError(CommandError):
    """The command line or a file it names is wrong: nothing was run."""

    exit_code = exitcodes.USAGE


class ConfigurationError(CommandError):
    """The function's configuration (file, ``SNAPSTACK_CONFIG_JSON`` or environment) is unusable."""

    exit_code = exitcodes.BAD_INPUT


class ToolError(CommandError):
    """A server or service the command needs did not do its part (down, refused the credentials)."""

    exit_code = exitcodes.TOOL_ERROR


def explain(exc: BaseException, *, ecs_endpoint: str) -> CommandError | None:
    """The one-line error for an exception a local invocation raised, or None if it is a bug.

    Handles what the runtime raises on purpose (``snapstack.handlers.runtime``'s module
    docstring): a configuration error, ECS or the token table unreachable or refusing before
    any disk was decided, an invocation the executor stopped (``InvocationFailed``: an account-
    or credential-level error), a dependency (OSS) unavailable.
    """
    from snapstack.config import ConfigError
    from snapstack.ecs.errors import EcsError, EcsTransportError
    from snapstack.handlers.runtime import DependencyUnavailable, InvocationFailed
    from snapstack.tokens.base import TokenTableError

    if isinstance(exc, ConfigError):
        return ConfigurationError(
            f"configuration error: {exc} (on FC the invocation fails and is retried; "
            "check it offline with `snapstack validate`)"
        )
    if isinstance(exc, EcsTransportError):
        errno = re.search(r"\[Errno -?\d+\] ([^\"')\]]+)", exc.message)  # the socket's own words
        reason = errno.group(1) if errno else exc.message[:200]
        return ToolError(
            f"could not reach ECS at {ecs_endpoint} ({exc.code}: {reason}): is the endpoint right and "
            "the server running (`snapstack emulator start`)? Without --endpoint one is started for you"
        )
    if isinstance(exc, EcsError) and exc.spec.reason.startswith("auth:"):
        return ToolError(
            f"ECS at {ecs_endpoint} refused the credentials ({exc.code}: {exc.spec.reason}): "
            "check --access-key-id and --access-key-secret"
        )
    if isinstance(exc, EcsError):
        return ToolError(f"ECS at {ecs_endpoint} refused the request before any disk was decided: {exc}")
    if isinstance(exc, InvocationFailed):
        return ToolError(
            f"the function stopped the invocation: {exc.code}: {exc.message} "
            "(on FC it fails and is retried later; the disks above say how far it got)"
        )
    if isinstance(exc, TokenTableError):
        return ToolError(f"the token table is unavailable ({exc}): check --token-table")
    if isinstance(exc, DependencyUnavailable):
        return ToolError(f"a service the function reads is unavailable: {exc}")
    return None


def failure(result: Result, *, ecs_endpoint: str) -> CommandError:
    """The error for an invocation that raised: ``explain``'s line, or for a bug its traceback
    (printed on stderr here) and a line pointing at it."""
    assert result.exception is not None, "only for a result whose invocation raised"
    explained = explain(result.exception, ecs_endpoint=ecs_endpoint)
    if explained is not None:
        return explained
    print(result.error, file=sys.stderr, end="")
    return CommandError(f"the function raised {type(result.exception).__name__} (a bug: traceback above)")
