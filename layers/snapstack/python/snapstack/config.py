"""Function configuration: one JSON file shipped beside each function, or the environment.

``SNAPSTACK_CONFIG_JSON`` (inline JSON) wins over ``SNAPSTACK_CONFIG`` (a path), which wins
over ``snapstack.json`` in the function's folder. Each handler has its own model:

- scheduled_backup: ``{"policies": [Policy, ...], "inline_policies": {...}}``; the timer
  payload names a policy, or (only when ``inline_policies`` is set) holds one within its limits.
- deploy_hook: ``{"policy": Policy, "buckets": [...], "key_rules": [...], "manifest": {...}}``.
- alarm_snapshot: ``{"policy": Policy, "alert_states": ["ALERT"], "max_snapshots_per_day": 6}``.

For the event-driven functions the policy's *selector is the allow-list*: whatever an event
or an uploaded manifest asks for, only disks that the selector also covers are touched, and
names, retention and tags come from the policy, never from the event. For alarms the
policy's ``period`` is the per-disk cooldown.
"""

from __future__ import annotations

import functools
import math
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


#: What an inline policy in a timer payload may set; the rest comes from Policy's defaults.
INLINE_POLICY_FIELDS = frozenset(
    {"name", "selector", "retention_days", "tags", "copy_disk_tags", "period", "time_zone"}
)


class InlinePolicies(BaseModel):
    """Whether, and within what, a timer payload may carry a whole policy (off when absent).

    Anyone allowed to invoke the function can send a payload, so an inline policy is bounded
    like the event-driven functions: its selector only narrows ``allow`` (disks outside it end
    ``denied``), its retention is at most ``max_retention_days`` (never "keep forever"), its tag
    keys come from ``allowed_tag_keys``, it may set only ``INLINE_POLICY_FIELDS`` (names,
    descriptions, instant access, concurrency and rate come from the defaults), and it cannot
    take a configured policy's name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: Selector
    max_retention_days: int = Field(ge=1, le=65536)
    allowed_tag_keys: tuple[str, ...] = ()

    def set_elsewhere(self, raw: Mapping[str, object]) -> tuple[str, str] | None:
        """The first (field, rule) for a key of the inline policy ``raw`` that only the
        configuration may set; None when there is none."""
        extra = sorted(set(raw) - INLINE_POLICY_FIELDS)
        if not extra:
            return None
        allowed = ", ".join(sorted(INLINE_POLICY_FIELDS))
        return extra[0], f"an inline policy may set only {allowed}; this one comes from the configuration"

    def violation(self, policy: Policy) -> tuple[str, str] | None:
        """The first (field, rule) of a validated inline policy that exceeds the limits; None
        when it is within them."""
        retention = policy.retention_days
        if retention is None or retention > self.max_retention_days:
            return (
                "retention_days",
                f"at most {self.max_retention_days} days for an inline policy (got {retention})",
            )
        tags = sorted(set(policy.tags) - set(self.allowed_tag_keys))
        if tags:
            allowed = ", ".join(self.allowed_tag_keys) or "none"
            return "tags", f"tag key(s) {tags} not allowed for an inline policy (allowed: {allowed})"
        return None


class ScheduledConfig(BaseModel):
    """scheduled_backup: the policies a timer may name, and whether it may send its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: tuple[Policy, ...] = ()
    inline_policies: InlinePolicies | None = None

    @field_validator("policies")
    @classmethod
    def _unique_names(cls, value: tuple[Policy, ...]) -> tuple[Policy, ...]:
        names = [p.name for p in value]
        if len(names) != len(set(names)):
            raise ValueError(f"policy names must be unique (got {names})")
        return value

    @model_validator(mode="after")
    def _something_to_run(self) -> ScheduledConfig:
        if not self.policies and self.inline_policies is None:
            raise ValueError("give at least one policy, or allow inline_policies")
        return self

    def named(self, name: str) -> Policy | None:
        """The policy called ``name``."""
        return next((p for p in self.policies if p.name == name), None)


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")  # OSS bucket naming rules
_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")


def template_names(template: str, what: str) -> set[str]:
    """The ``{name}`` placeholders of a key-rule template; ValueError for any other use of braces."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{what}: {exc} in {template!r}") from None
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _PLACEHOLDER.fullmatch(f"{{{name}}}") or spec or conversion:
            raise ValueError(f"{what}: {{{name}}} is not a placeholder; use {{name}} with a-z, 0-9 and _")
        names.add(name)
    return names


@functools.lru_cache(maxsize=64)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[last : match.start()]))
        parts.append(f"(?P<{match.group(1)}>[^/]+)")
        last = match.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("^" + "".join(parts))


class KeyRule(BaseModel):
    """Maps object keys to targets and to the release they belong to.

    ``pattern`` matches a key prefix; each ``{name}`` matches one path segment. The targets are
    ``disk_tags`` / ``instance_tags`` whose values may use the captured names. ``deploy_id``
    (optional, a template over the captured names) names the release: every object whose key
    gives the same deploy id is one release, snapshotted once (``releases/{app}/{version}/`` +
    ``"deploy_id": "{app}-{version}"``). Without it each object version (key + eTag) is its own
    release. A template naming a placeholder the pattern does not capture is refused when the
    configuration loads.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern: str
    disk_tags: dict[str, str] = Field(default_factory=dict)
    instance_tags: dict[str, str] = Field(default_factory=dict)
    deploy_id: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if not value or value.startswith("/"):
            raise ValueError("pattern must be a non-empty key prefix without a leading '/'")
        names = [m.group(1) for m in _PLACEHOLDER.finditer(value)]
        if len(names) != len(set(names)):
            raise ValueError(f"pattern names a placeholder twice: {names}")
        if "{" in _PLACEHOLDER.sub("", value) or "}" in _PLACEHOLDER.sub("", value):
            raise ValueError("pattern: braces only in placeholders like {app} (a-z, 0-9, _)")
        return value

    @model_validator(mode="after")
    def _templates_use_captured_names(self) -> KeyRule:
        if not (self.disk_tags or self.instance_tags):
            raise ValueError("a key rule needs disk_tags or instance_tags: the targets it names")
        captured = set(_pattern_regex(self.pattern).groupindex)
        templates = {f"disk_tags.{k}": v for k, v in self.disk_tags.items()}
        templates |= {f"instance_tags.{k}": v for k, v in self.instance_tags.items()}
        if self.deploy_id is not None:
            templates["deploy_id"] = self.deploy_id
        for what, template in templates.items():
            unknown = template_names(template, what) - captured
            if unknown:
                raise ValueError(
                    f"{what}: {sorted(unknown)} not captured by pattern {self.pattern!r} "
                    f"(it captures {sorted(captured) or 'nothing'})"
                )
        return self

    def regex(self) -> re.Pattern[str]:
        """The pattern as an anchored regular expression."""
        return _pattern_regex(self.pattern)

    def match(self, key: str) -> KeyMatch | None:
        """What this rule says about ``key``, or None when it does not match."""
        found = self.regex().match(key)
        if found is None:
            return None
        values = found.groupdict()
        selector = Selector(
            disk_tags={k: v.format_map(values) for k, v in self.disk_tags.items()},
            instance_tags={k: v.format_map(values) for k, v in self.instance_tags.items()},
        )
        deploy_id = None if self.deploy_id is None else self.deploy_id.format_map(values)
        return KeyMatch(selector, deploy_id)


@dataclass(frozen=True)
class KeyMatch:
    """A key rule's reading of a key: the targets, and the release's deploy id (None: the object)."""

    selector: Selector
    deploy_id: str | None


class ManifestSettings(BaseModel):
    """Whether and how deploy manifests are read from the bucket.

    ``missing_grace_seconds``: for this long after the event's time an object that cannot be
    found is taken for one not readable yet, and the invocation fails for FC to deliver the event
    again; later it is reported as missing (bad input, naming the keys tried).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    suffix: str = "manifest.json"
    max_bytes: int = Field(default=64 * 1024, ge=64, le=1024 * 1024)
    missing_grace_seconds: int = Field(default=900, ge=0, le=86400)


class DeployConfig(BaseModel):
    """deploy_hook: the policy (its selector is the allow-list), deploy buckets, key rules, manifests.

    ``buckets`` is the allow-list of buckets whose events are acted on (with
    ``SNAPSTACK_DEPLOY_BUCKETS``, see ``deploy_buckets``): an OSS event from any other bucket is
    refused before anything is read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Policy
    buckets: tuple[str, ...] = ()
    key_rules: tuple[KeyRule, ...] = ()
    manifest: ManifestSettings = Field(default_factory=ManifestSettings)

    @field_validator("buckets")
    @classmethod
    def _bucket_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [b for b in value if not _BUCKET.fullmatch(b)]
        if bad:
            raise ValueError(f"not OSS bucket names (3-63 of a-z, 0-9, '-'): {bad[:3]}")
        return value

    def release_of(self, key: str) -> KeyMatch | None:
        """The first key rule's reading of ``key`` (rules are tried in order)."""
        return next((m for rule in self.key_rules if (m := rule.match(key)) is not None), None)


def deploy_buckets(config: DeployConfig, env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The deploy buckets: the configuration's ``buckets`` plus ``SNAPSTACK_DEPLOY_BUCKETS``.

    The variable (comma-separated names) lets a stack template pass the bucket it created.
    """
    env = os.environ if env is None else env
    extra = tuple(b.strip() for b in env.get("SNAPSTACK_DEPLOY_BUCKETS", "").split(",") if b.strip())
    bad = [b for b in extra if not _BUCKET.fullmatch(b)]
    if bad:
        raise ConfigError("environment", "SNAPSTACK_DEPLOY_BUCKETS", f"not OSS bucket names: {bad[:3]}")
    return frozenset(config.buckets + extra)


@dataclass(frozen=True)
class OssEndpoint:
    """Where deploy manifests are read: an endpoint from configuration, never from an event."""

    url: str
    path_style: bool


def oss_endpoint(region: str, env: Mapping[str, str] | None = None) -> OssEndpoint:
    """``SNAPSTACK_OSS_ENDPOINT`` (+ ``SNAPSTACK_OSS_PATH_STYLE``), else the function's own region's
    internal endpoint ``https://oss-<region>-internal.aliyuncs.com``.

    ``region`` is the function's region (FC's, or ``SNAPSTACK_REGION``), never an event's. The
    endpoint must be ``http(s)://host[:port]`` with no credentials, path or query.
    Endpoint format: https://www.alibabacloud.com/help/en/oss/user-guide/regions-and-endpoints
    """
    env = os.environ if env is None else env
    path_style = env.get("SNAPSTACK_OSS_PATH_STYLE", "").strip().lower() == "true"
    given = env.get("SNAPSTACK_OSS_ENDPOINT", "").strip()
    if not given:
        if not _REGION.fullmatch(region):
            raise ConfigError("environment", "region", f"{region!r} is not a region id such as cn-hangzhou")
        return OssEndpoint(f"https://oss-{region}-internal.aliyuncs.com", path_style)
    parts = urlsplit(given)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    plain = parts.scheme in ("http", "https") and parts.hostname and port_ok and "@" not in parts.netloc
    if not plain or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            "environment", "SNAPSTACK_OSS_ENDPOINT", "must be http(s)://host[:port] (no user, path or query)"
        )
    return OssEndpoint(f"{parts.scheme}://{parts.netloc}", path_style)


class AlarmConfig(BaseModel):
    """alarm_snapshot: the policy (selector = allow-list, period = cooldown), which states act,
    and the cap on alarm snapshots per disk per local day (in the policy's time zone).

    The cap protects ECS's 256 snapshots per disk from a flood of alarms: anyone who can publish
    to the topic can send them. With the default 6 and a 3-day retention, alarms hold at most
    18 of a disk's snapshots.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Policy
    alert_states: tuple[str, ...] = ("ALERT",)
    max_snapshots_per_day: int = Field(default=6, ge=1, le=256)


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
