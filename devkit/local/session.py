"""What a local run of one function needs: the template, ECS, OSS, a token table, its options.

ECS is the endpoint given with ``--endpoint``, else an emulator started in this process with
the sample fleet. For a function triggered by OSS, OSS is the server given with
``--oss-endpoint``, else moto's S3-compatible server started in this process holding the
sample objects (``devkit/local/oss.py``). The function is pointed at both through its
documented environment, never by rewriting the event.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.local.errors import ToolError, UsageError
from devkit.local.output import LEVELS, QUIET, level_number
from devkit.local.runner import LOCAL_TOKEN_TABLE, Target, oss_env
from devkit.local.template import FunctionSpec, Template, TemplateError, load_template

if TYPE_CHECKING:
    from devkit.emulator.testing import EcsEmulator

DEFAULT_TEMPLATE = Path("template.yml")
HANDLER_MODULES = {
    "timer": "snapstack.handlers.scheduled",
    "oss": "snapstack.handlers.deploy",
    "alarm": "snapstack.handlers.alarm",
}


def add_template_argument(parser: argparse.ArgumentParser) -> None:
    """``--template``, for every command that reads the stack."""
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="stack template (default: ./template.yml)"
    )


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs functions locally shares: the template, ECS, the token table."""
    add_template_argument(parser)
    parser.add_argument("--endpoint", help="ECS endpoint host:port; default: start the emulator in-process")
    parser.add_argument("--access-key-id", help="with --endpoint (default: $ALIBABA_CLOUD_ACCESS_KEY_ID)")
    parser.add_argument(
        "--access-key-secret", help="with --endpoint (default: $ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
    )
    parser.add_argument(
        "--fleet", type=Path, default=None, help="emulator fleet JSON (default: the sample fleet)"
    )
    parser.add_argument("--token-table", default=None, help=f"token table URL (default: {LOCAL_TOKEN_TABLE})")


def add_oss_arguments(parser: argparse.ArgumentParser) -> None:
    """Where an OSS-triggered function reads objects, for the commands that run one (``local_run``)."""
    parser.add_argument(
        "--oss-endpoint",
        help="for OSS-triggered functions: an S3-compatible server URL, path-style "
        "(default: start moto's in-process, holding --objects)",
    )
    parser.add_argument(
        "--objects",
        type=Path,
        default=None,
        help="folder of <bucket>/<key> files the local OSS serves (default: events/objects)",
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json``, ``-q/--quiet`` and ``--log-level``."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="print no log lines (stderr)")
    shown.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        help="lowest level of the function's log lines shown on stderr "
        "(default: its SNAPSTACK_LOG_LEVEL, else INFO)",
    )


def load_stack(path: Path) -> Template:
    """The template at ``path``; ``UsageError`` when it is missing or not one."""
    if not path.is_file():
        where = Path.cwd() if path == DEFAULT_TEMPLATE else path
        raise UsageError(
            f"no stack template at {where}: run snapstack from the repository root "
            "(where template.yml is), or give --template PATH"
        )
    try:
        return load_template(path)
    except (TemplateError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UsageError(f"{path} is not a template this tool can read: {exc}") from None


def function_spec(template: Template, name: str) -> FunctionSpec:
    """The function called ``name``; ``UsageError`` naming the template's functions otherwise."""
    try:
        return template.function(name)
    except TemplateError as exc:
        raise UsageError(f"{exc}: give one of those names") from None


def handler_module(spec: FunctionSpec) -> Any:
    """The library module of ``spec``'s handler (its ``TRIGGER`` and ``plan``), by trigger kind."""
    if spec.trigger == "prune":
        raise UsageError(
            f"{spec.name} deletes snapshots: `snapstack prune --policy NAME` shows what it would do"
        )
    if spec.trigger not in HANDLER_MODULES:
        known = ", ".join(sorted(HANDLER_MODULES))
        raise UsageError(f"{spec.name}: trigger {spec.trigger!r} in the template is not one of {known}")
    return importlib.import_module(HANDLER_MODULES[spec.trigger])


@dataclass(frozen=True)
class LocalOptions:
    """A local run's options (``add_target_arguments``, ``add_oss_arguments``, ``add_output_arguments``)."""

    template: Path = DEFAULT_TEMPLATE
    endpoint: str | None = None
    access_key_id: str | None = None
    access_key_secret: str | None = None
    fleet: Path | None = None
    token_table: str | None = None
    oss_endpoint: str | None = None
    objects: Path | None = None
    quiet: bool = False
    log_level: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LocalOptions:
        """The options a parsed command line holds (absent ones keep their defaults)."""
        given = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**given)

    def log_threshold(self, spec: FunctionSpec) -> int:
        """The lowest log level shown: ``--log-level``, else the function's own, else INFO; quiet: none."""
        if self.quiet:
            return QUIET
        return level_number(self.log_level or spec.environment.get("SNAPSTACK_LOG_LEVEL", "INFO"))


@dataclass(frozen=True)
class LocalRun:
    """Everything one local invocation of ``spec`` needs."""

    template: Template
    spec: FunctionSpec
    target: Target
    token_table: str
    threshold: int  # lowest log level shown (``log_threshold``)
    emulator: EcsEmulator | None = None
    env: dict[str, str] = field(default_factory=dict)  # laid over the function's environment


@contextlib.contextmanager
def local_run(options: LocalOptions, template: Template, function: str) -> Iterator[LocalRun]:
    """Start what ``function`` needs (ECS emulator, local OSS) for the block; see the module docstring.

    ``template`` is ``load_stack(options.template)``, loaded first so that a command run outside
    the repository says so before anything else.
    """
    spec = function_spec(template, function)
    threshold = options.log_threshold(spec)
    # The function logs at INFO at least, so the progress line can count its per-disk lines;
    # FunctionLog hides what is below the threshold.
    env = {"SNAPSTACK_LOG_LEVEL": "DEBUG" if threshold <= level_number("DEBUG") else "INFO"}
    token_table = options.token_table or LOCAL_TOKEN_TABLE
    check_token_table(token_table)
    with contextlib.ExitStack() as stack:
        target, emulator = stack.enter_context(ecs_target(options))
        if spec.trigger == "oss":
            env.update(oss_env(options.oss_endpoint or stack.enter_context(_sample_oss(options, template))))
        yield LocalRun(template, spec, target, token_table, threshold, emulator, env)


@contextlib.contextmanager
def ecs_target(options: LocalOptions) -> Iterator[tuple[Target, EcsEmulator | None]]:
    """Where ECS calls go: ``--endpoint`` (credentials checked first), else an emulator started
    here for the block, with the sample fleet or ``--fleet``."""
    if options.endpoint:
        yield _given_target(options), None
        return
    with _emulator(options.fleet) as emulator:
        creds = emulator.credentials
        yield (
            Target(emulator.endpoint, creds.access_key_id, creds.access_key_secret, creds.security_token),
            emulator,
        )


@contextlib.contextmanager
def target_from(args: argparse.Namespace) -> Iterator[tuple[Template, Target, EcsEmulator | None]]:
    """The template and ``ecs_target``, for a command that serves every function (``local start-fc``)."""
    options = LocalOptions.from_args(args)
    template = load_stack(options.template)
    with ecs_target(options) as (target, emulator):
        yield template, target, emulator


def check_token_table(url: str) -> None:
    """Open and close the token table at ``url``: ``UsageError`` for a URL no backend serves."""
    from snapstack.tokens import TokenTableError, open_table

    try:
        open_table(url).close()
    except ValueError as exc:
        raise UsageError(f"--token-table: {exc}") from None
    except TokenTableError as exc:
        raise ToolError(f"the token table {url} is unavailable: {exc}") from None


def _given_target(options: LocalOptions) -> Target:
    key_id = options.access_key_id or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
    secret = options.access_key_secret or os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if not key_id or not secret:
        raise UsageError(
            "--endpoint needs credentials: give --access-key-id and --access-key-secret "
            "(or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)"
        )
    endpoint, protocol = str(options.endpoint), "http"
    for scheme in ("http", "https"):
        if endpoint.startswith(f"{scheme}://"):
            endpoint, protocol = endpoint[len(scheme) + 3 :].rstrip("/"), scheme
    token = os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") if not options.access_key_id else None
    return Target(endpoint, key_id, secret, token, protocol=protocol)


@contextlib.contextmanager
def _emulator(fleet: Path | None) -> Iterator[EcsEmulator]:
    from devkit.emulator.testing import EcsEmulator

    try:
        emulator = EcsEmulator(fleet=fleet)
    except OSError as exc:
        raise UsageError(f"cannot read the fleet file {fleet} ({exc.strerror})") from None
    except ValueError as exc:  # JSONDecodeError included
        raise UsageError(f"the fleet file {fleet} is not a fleet: {exc}") from None
    with emulator:
        yield emulator


def _sample_oss(options: LocalOptions, template: Template) -> contextlib.AbstractContextManager[str]:
    from devkit.local.oss import SAMPLE_OBJECTS, local_oss

    if options.objects is not None and not options.objects.is_dir():
        raise UsageError(f"--objects {options.objects} is not a folder of <bucket>/<key> files")
    objects = options.objects or template.root / SAMPLE_OBJECTS
    return local_oss(objects if objects.is_dir() else None)


def event_json(data: bytes, path: Path, purpose: str) -> object:
    """``data`` parsed as JSON; ``UsageError`` naming ``path`` and ``purpose`` when it is not."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON ({exc}): {purpose}") from None
