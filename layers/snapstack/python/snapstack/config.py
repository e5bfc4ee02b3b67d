"""Function configuration: one JSON file shipped beside each function, or the environment.

``SNAPSTACK_CONFIG_JSON`` (inline JSON) wins over ``SNAPSTACK_CONFIG`` (a path), which wins
over ``snapstack.json`` in the function's folder. Each handler has its own model:

- scheduled_backup: ``{"policies": [Policy, ...]}``; the timer payload names one.
- deploy_hook: ``{"policy": Policy, "key_rules": [...], "manifest": {...}}``.
- alarm_snapshot: ``{"policy": Policy, "alert_states": ["ALERT"]}``.

For the event-driven functions the policy's *selector is the allow-list*: whatever an event
or an uploaded manifest asks for, only disks that the selector also covers are touched, and
names, retention and tags come from the policy, never from the event. For alarms the
policy's ``period`` is the per-disk cooldown.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapstack.jsoninput import JsonInputError, parse_json_model
from snapstack.policy.model import Policy, Selector

CONFIG_FILE = "snapstack.json"


class ConfigError(Exception):
    """A configuration (policy, rules, manifest settings, environment) that cannot be used.

    Not bad input: the invocation raises it, so FC records a function error that alerting
    sees (``handlers/runtime.py``); the event was not at fault and is not reported as such.
    """

    def __init__(self, source: str, field: str, rule: str) -> None:
        super().__init__(f"{source}: {field}: {rule}")
        self.source = source
        self.field = field
        self.rule = rule


class ScheduledConfig(BaseModel):
    """scheduled_backup: the policies a timer may name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: tuple[Policy, ...] = Field(min_length=1)

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, value: tuple[Policy, ...]) -> tuple[Policy, ...]:
        names = [p.name for p in value]
        if len(names) != len(set(names)):
            raise ValueError(f"policy names must be unique (got {names})")
        return value

    def named(self, name: str) -> Policy | None:
        """The policy called ``name``."""
        return next((p for p in self.policies if p.name == name), None)


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class KeyRule(BaseModel):
    """Maps object keys to targets: ``releases/{app}/`` + ``disk_tags: {app: "{app}"}``.

    The pattern matches a key prefix; each ``{name}`` matches one path segment and can be
    used in the tag values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str
    disk_tags: dict[str, str] = Field(default_factory=dict)
    instance_tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if not value or value.startswith("/"):
            raise ValueError("pattern must be a non-empty key prefix without a leading '/'")
        return value

    def regex(self) -> re.Pattern[str]:
        """The pattern as an anchored regular expression."""
        parts, last = [], 0
        for match in _PLACEHOLDER.finditer(self.pattern):
            parts.append(re.escape(self.pattern[last : match.start()]))
            parts.append(f"(?P<{match.group(1)}>[^/]+)")
            last = match.end()
        parts.append(re.escape(self.pattern[last:]))
        return re.compile("^" + "".join(parts))

    def selector_for(self, key: str) -> Selector | None:
        """The selector this rule gives for ``key``, or None when it does not match."""
        match = self.regex().match(key)
        if match is None:
            return None
        values = match.groupdict()
        return Selector(
            disk_tags={k: v.format_map(values) for k, v in self.disk_tags.items()},
            instance_tags={k: v.format_map(values) for k, v in self.instance_tags.items()},
        )


class ManifestSettings(BaseModel):
    """Whether and how deploy manifests are read from the bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    suffix: str = "manifest.json"
    max_bytes: int = Field(default=64 * 1024, ge=64, le=1024 * 1024)


class DeployConfig(BaseModel):
    """deploy_hook: the policy (its selector is the allow-list), key rules and manifests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Policy
    key_rules: tuple[KeyRule, ...] = ()
    manifest: ManifestSettings = Field(default_factory=ManifestSettings)


class AlarmConfig(BaseModel):
    """alarm_snapshot: the policy (selector = allow-list, period = cooldown) and which states act."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Policy
    alert_states: tuple[str, ...] = ("ALERT",)


M = TypeVar("M", bound=BaseModel)


def load_config(model: type[M], function_dir: Path | None, env: Mapping[str, str] | None = None) -> M:
    """Read and validate the function's configuration; ``ConfigError`` names what is wrong."""
    env = os.environ if env is None else env
    source, text = _config_text(function_dir, env)
    try:
        return parse_json_model(model, text)
    except JsonInputError as exc:
        raise ConfigError(source, exc.field, exc.rule) from None


def _config_text(function_dir: Path | None, env: Mapping[str, str]) -> tuple[str, str]:
    inline = env.get("SNAPSTACK_CONFIG_JSON")
    if inline:
        return "SNAPSTACK_CONFIG_JSON", inline
    path = Path(env["SNAPSTACK_CONFIG"]) if env.get("SNAPSTACK_CONFIG") else None
    if path is None and function_dir is not None:
        path = function_dir / CONFIG_FILE
    if path is None:
        raise ConfigError("config", "SNAPSTACK_CONFIG", "no configuration given")
    try:
        return str(path), path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "file", f"cannot be read ({exc.strerror})") from None


def token_table_url(env: Mapping[str, str] | None = None) -> str:
    """The token table to use: ``SNAPSTACK_TOKEN_TABLE``, else the embedded SQLite default."""
    env = os.environ if env is None else env
    from snapstack.tokens import DEFAULT_URL

    return env.get("SNAPSTACK_TOKEN_TABLE") or DEFAULT_URL


def lease_seconds(env: Mapping[str, str] | None = None) -> float | None:
    """How long a claim holds its token: ``SNAPSTACK_LEASE_SECONDS``, else None (the table's default).

    The lease is how soon a crashed invocation's claims can be taken over by a retry.
    """
    env = os.environ if env is None else env
    text = env.get("SNAPSTACK_LEASE_SECONDS")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError("environment", "SNAPSTACK_LEASE_SECONDS", f"must be seconds > 0 (got {text!r})")
    return value
