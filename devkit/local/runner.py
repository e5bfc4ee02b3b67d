"""Invoke one function of template.yml in this process, as FC would.

The runner reads the function's handler, code folder, environment and layers from the
template; puts the layer folders on ``sys.path`` (FC's ``/opt/python``); loads ``index.py``
from the code folder; overlays the template's environment plus local settings (ECS endpoint,
token table, and whatever the caller adds, e.g. the local OSS endpoint); builds an FC-shaped
context with credentials; and passes the event *bytes*. Like FC, it never interprets the event.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.local.context import FcContext, FcCredentials, FcFunction, FcService
from devkit.local.errors import UsageError
from devkit.local.template import FunctionSpec, Template

DEFAULT_REGION = "cn-hangzhou"
LOCAL_TOKEN_TABLE = "sqlite:///.snapstack/tokens.db"


@dataclass(frozen=True)
class Target:
    """Where the function's ECS calls go, and with which credentials."""

    endpoint: str
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None
    protocol: str = "http"
    region: str = DEFAULT_REGION


@dataclass(frozen=True)
class Result:
    """What the invocation returned, or how it ended."""

    summary: dict[str, Any] | None
    incomplete: bool = False  # FC would deliver the event again
    error: str | None = None  # an unhandled exception, formatted as FC logs it
    exception: BaseException | None = None  # that exception, for callers that explain it


_env_lock = threading.Lock()
_env_users = 0
_env_saved: dict[str, str | None] = {}
_env_values: dict[str, str] = {}


@contextlib.contextmanager
def overlay_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore them.

    The environment is process-wide, so concurrent local invocations (threads) share one
    overlay: the first sets it, the last restores it, and they must all ask for the same values.
    """
    global _env_users, _env_saved, _env_values  # noqa: PLW0603 - mirrors the process-wide environ
    with _env_lock:
        if _env_users == 0:
            _env_saved = {k: os.environ.get(k) for k in values}
            _env_values = dict(values)
            os.environ.update(values)
        elif dict(values) != _env_values:
            raise RuntimeError("concurrent local invocations must share one environment")
        _env_users += 1
    try:
        yield
    finally:
        with _env_lock:
            _env_users -= 1
            if _env_users == 0:
                for key, old in _env_saved.items():
                    if old is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = old


def load_handler(spec: FunctionSpec) -> Any:
    """The handler callable from the function's code folder (module loaded by path).

    Raises ``UsageError`` when the template names a handler file that is not there.
    """
    for layer in spec.layer_paths:
        if str(layer) not in sys.path:
            sys.path.insert(0, str(layer))
    module_name, _, attr = spec.handler.partition(".")
    path = spec.source / f"{module_name}.py"
    loader_spec = importlib.util.spec_from_file_location(f"snapstack_fn_{spec.name}", path)
    if not path.is_file() or loader_spec is None or loader_spec.loader is None:
        raise UsageError(f"{spec.name}: the template's handler {spec.handler} needs {path}, which is missing")
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    return getattr(module, attr)


def make_context(
    template: Template, spec: FunctionSpec, target: Target, request_id: str | None = None
) -> FcContext:
    """An FC context for ``spec`` whose credentials are the target's."""
    return FcContext(
        credentials=FcCredentials(target.access_key_id, target.access_key_secret, target.security_token),
        function=FcFunction(spec.name, spec.handler, spec.memory, spec.timeout),
        service=FcService(template.service_name),
        region=target.region,
        request_id=request_id or str(uuid.uuid4()),
    )


def local_env(
    spec: FunctionSpec, target: Target, token_table: str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The template's environment with the local endpoint, token table and ``extra`` laid over it."""
    return {
        **spec.environment,
        "SNAPSTACK_TOKEN_TABLE": token_table or LOCAL_TOKEN_TABLE,
        "SNAPSTACK_ECS_ENDPOINT": target.endpoint,
        "SNAPSTACK_ECS_PROTOCOL": target.protocol,
        "SNAPSTACK_REGION": target.region,
        "FC_FUNCTION_NAME": spec.name,
        "FC_REGION": target.region,
        **(extra or {}),
    }


def oss_env(endpoint: str) -> dict[str, str]:
    """The documented settings (README, "Configuration") that point a function at an OSS server.

    ``endpoint`` is a URL of any path-style S3-compatible server (moto's, locally). The one
    place a local run says where OSS is.
    """
    return {"SNAPSTACK_OSS_ENDPOINT": endpoint, "SNAPSTACK_OSS_PATH_STYLE": "true"}


def invoke(
    template: Template,
    function: str,
    event: bytes,
    target: Target,
    *,
    token_table: str | None = None,
    request_id: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run one invocation; never raises for what the handler raises (FC would log it).

    ``env`` is laid over the function's environment (see ``local_env``).
    """
    from snapstack.handlers.runtime import IncompleteRun

    spec = template.function(function)
    with overlay_env(local_env(spec, target, token_table, env)):
        handler = load_handler(spec)
        context = make_context(template, spec, target, request_id)
        try:
            return Result(summary=handler(event, context))
        except IncompleteRun as exc:
            return Result(summary=exc.summary, incomplete=True)
        except Exception as exc:
            return Result(summary=None, error=traceback.format_exc(), exception=exc)


def read_event(path: Path) -> bytes:
    """An event file's bytes, exactly as FC would deliver them.

    Raises ``UsageError`` (one line) when the file cannot be read.
    """
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read the event file {path} ({exc.strerror}): give --event a file, "
            "e.g. one of events/ (events/README.md lists them)"
        ) from None
