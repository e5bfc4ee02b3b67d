"""``snapstack validate [--function F]``: check the stack and each function's configuration offline.

What can be checked without a cloud, with the library's own code so the verdict is the one a
deployed function would reach:

- template.yml is readable and each function's code folder holds its handler (loaded as FC
  would load it), with a trigger kind the library handles (``prune`` and ``reconcile`` included);
- each function's configuration (its ``snapstack.json``, or ``SNAPSTACK_CONFIG`` /
  ``SNAPSTACK_CONFIG_JSON`` from the template or this shell, as ``local invoke`` sees them)
  validates against its model;
- the settings the function reads from its environment (lease, deliveries, retries, log
  level) parse;
- each timer trigger's payload names a policy the configuration holds (or, for a backup
  function, holds one inline; prune and the reconciler take policies from their configuration only). A trigger
  names its function as the stack does, ``Fn::GetAtt [Resource, FunctionName]`` or by name.

Exit codes: 0 all passed, 4 a check failed (``devkit/exitcodes.py``), 2 no template or no such
function. Nothing is deployed and no cloud API is called.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from devkit import exitcodes
from devkit.local.errors import CommandError
from devkit.local.output import LEVELS, aligned, print_json
from devkit.local.runner import load_handler, overlay_env
from devkit.local.session import add_template_argument, function_spec, handler_module, load_stack
from devkit.local.template import FunctionSpec, Template, TemplateError

# Each trigger kind's configuration model: (module, class).
CONFIG_MODELS = {
    "timer": ("snapstack.config", "ScheduledConfig"),
    "oss": ("snapstack.config", "DeployConfig"),
    "alarm": ("snapstack.config", "AlarmConfig"),
    "prune": ("snapstack.retention.config", "PruneConfig"),
    "reconcile": ("snapstack.reconcile.config", "ReconcilerConfig"),
}
# The functions that are not backups (prune deletes, the reconciler re-drives open slots): ``plan``
# and ``HANDLER_MODULES`` leave them out; their handler modules are checked here. Each module's
# ``chosen_policies(config, payload)`` picks the policies a timer payload names.
OTHER_HANDLERS = {"prune": "snapstack.handlers.prune", "reconcile": "snapstack.handlers.reconciler"}
TRIGGER = "ALIYUN::FC::Trigger"


def register(subparsers: Any) -> None:
    """Add ``validate``."""
    parser = subparsers.add_parser(
        "validate", help="check template.yml and the functions' configurations offline"
    )
    parser.add_argument("--function", help="check only this function (default: every function)")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON on stdout")
    add_template_argument(parser)
    parser.set_defaults(func=run_validate)


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, of which function (or the template), and what was found."""

    subject: str
    check: str
    ok: bool
    detail: str


def run_validate(args: argparse.Namespace) -> int:
    """Run every check; print one line each (or JSON); exit 0 when all passed, else 4."""
    template = load_stack(args.template)
    specs = (
        [function_spec(template, args.function)]
        if args.function
        else sorted(template.functions.values(), key=lambda s: s.name)
    )
    names = ", ".join(sorted(s.name for s in template.functions.values()))
    checks = [Check(str(args.template), "template", True, f"{len(template.functions)} function(s): {names}")]
    for spec in specs:
        checks += function_checks(spec)
    checks += timer_checks(template, args.template, {s.name for s in specs})
    passed = all(c.ok for c in checks)
    if args.json:
        print_json({"ok": passed, "checks": [asdict(c) for c in checks]})
    else:
        rows = [("ok" if c.ok else "error", c.subject, c.check, c.detail) for c in checks]
        print(aligned(rows, rule=False))
        failed = sum(not c.ok for c in checks)
        print("all checks passed" if passed else f"{failed} check(s) failed", "(offline: no cloud call made)")
    return exitcodes.OK if passed else exitcodes.BAD_INPUT


def function_checks(spec: FunctionSpec) -> list[Check]:
    """The handler, configuration and environment checks of one function."""
    env = {**os.environ, **spec.environment}  # what a local run sees (``runner.local_env``)
    return [
        _check(spec.name, "handler", lambda: _handler(spec)),
        _check(spec.name, "configuration", lambda: _configuration(spec, env)),
        _check(spec.name, "environment", lambda: _environment(env)),
    ]


def timer_checks(template: Template, path: Path, functions: set[str]) -> list[Check]:
    """For each timer trigger of a function in ``functions``: the policies its payload asks for exist."""
    checks = []
    for name, function, payload in _timer_triggers(path):
        try:
            spec = template.function(function)
        except TemplateError:
            checks.append(Check(function, f"timer trigger {name}", False, "no such function in the template"))
            continue
        if spec.name in functions:
            checks.append(
                _check(spec.name, f"timer trigger {name}", functools.partial(_payload, spec, payload))
            )
    return checks


def _payload(spec: FunctionSpec, payload: str | None) -> str:
    """The policies a timer ``payload`` selects for ``spec``, as its handler would choose them."""
    with overlay_env(spec.environment):
        if spec.trigger in OTHER_HANDLERS:
            from snapstack.config import load_config

            module, model = CONFIG_MODELS[spec.trigger]
            config = load_config(getattr(importlib.import_module(module), model), spec.source)
            handler = importlib.import_module(OTHER_HANDLERS[spec.trigger])
            names = [p.name for p in handler.chosen_policies(config, payload)]
            return ("payload selects policies " if len(names) > 1 else "payload selects policy ") + ", ".join(
                names
            )
        from snapstack.config import ScheduledConfig, load_config
        from snapstack.handlers.scheduled import choose_policy, requested_policy

        config = load_config(ScheduledConfig, spec.source)
        return f"payload selects policy {choose_policy(requested_policy(payload), config).name}"


def _check(subject: str, what: str, run: Callable[[], str]) -> Check:
    """``run()``'s detail as a passed check; what it raises, one line, as a failed one."""
    from pydantic import ValidationError

    from snapstack.config import ConfigError
    from snapstack.handlers.runtime import BadInput

    try:
        return Check(subject, what, True, run())
    except (ConfigError, BadInput, CommandError) as exc:
        return Check(subject, what, False, str(exc))
    except (ValidationError, ValueError, OSError, ImportError, AttributeError, TypeError) as exc:
        return Check(subject, what, False, f"{type(exc).__name__}: {_first_line(exc)}")


def _handler(spec: FunctionSpec) -> str:
    # a trigger kind the library handles
    other = OTHER_HANDLERS.get(spec.trigger)
    module = importlib.import_module(other) if other else handler_module(spec)
    if not callable(load_handler(spec)):
        raise TypeError(f"{spec.handler} is not callable")
    return f"{spec.source.name}/{spec.handler} ({spec.trigger}: {module.__name__})"


def _configuration(spec: FunctionSpec, env: dict[str, str]) -> str:
    from snapstack.config import load_config

    if spec.trigger not in CONFIG_MODELS:
        raise ValueError(f"trigger {spec.trigger!r}: no configuration model for it")
    module, name = CONFIG_MODELS[spec.trigger]
    config = load_config(getattr(importlib.import_module(module), name), spec.source, env)
    names = [p.name for p in getattr(config, "policies", None) or (config.policy,)]
    return ("policies " if len(names) > 1 else "policy ") + ", ".join(names)


def _environment(env: dict[str, str]) -> str:
    from snapstack.config import ConfigError, lease_seconds
    from snapstack.ecs.client import EcsConfig
    from snapstack.handlers.runtime import max_deliveries

    lease_seconds(env)
    max_deliveries(env)
    try:
        EcsConfig.from_env(env, fallback_region="-")
    except ValueError as exc:
        raise ConfigError("environment", "SNAPSTACK_RETRY_*", _first_line(exc)) from None
    level = env.get("SNAPSTACK_LOG_LEVEL", "INFO")
    if level.upper() not in LEVELS:
        raise ConfigError(
            "environment", "SNAPSTACK_LOG_LEVEL", f"{level!r} is not one of {', '.join(LEVELS)}"
        )
    return "lease, deliveries, retry and log settings parse"


def _timer_triggers(path: Path) -> Iterator[tuple[str, str, str | None]]:
    """``(trigger name, function, payload)`` of each timer trigger (FC 2.0 ``ALIYUN::FC::Trigger``).

    The function is its name, or the resource id a ``Fn::GetAtt [Resource, FunctionName]`` names
    (``Template.function`` takes either).
    """
    with open(path, encoding="utf-8") as file:
        resources = (yaml.safe_load(file) or {}).get("Resources") or {}
    for resource, body in resources.items():
        props = (body or {}).get("Properties") or {}
        if body.get("Type") != TRIGGER or str(props.get("TriggerType", "")).lower() != "timer":
            continue
        config = props.get("TriggerConfig") or {}
        payload = config.get("Payload", config.get("payload"))
        function = props.get("FunctionName", "")
        if isinstance(function, dict) and isinstance(function.get("Fn::GetAtt"), list):
            function = function["Fn::GetAtt"][0]
        yield str(props.get("TriggerName", resource)), str(function), payload


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
