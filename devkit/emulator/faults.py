"""Fault injection for the ECS emulator: latency, rate limits, random and scripted errors, and
dropped connections after the server committed.

Configuration (a JSON or YAML file at start, or ``POST /_emulator/faults`` at runtime)::

    {
      "seed": 7,                      # one seed -> the same sequence of draws every run
      "retry_after_seconds": null,    # if set, Throttling answers carry x-acs-retry-after
      "apis": {
        "*": {...},                   # used by every API without its own entry
        "CreateSnapshot": {
          "latency_ms": 200,          # or {"fixed": 200} | {"uniform": [50, 150]} | {"normal": [100, 20]}
          "rate_limit": {"per_second": 5, "burst": 5},   # token bucket; a bare number means per_second
          "throttling": 0.1, "internal_error": 0.05, "service_unavailable": 0.0,   # probabilities
          "errors": [{"code": "CreateSnapshot.Failed", "times": 2, "match": {"DiskId": "d-1"}}],
          "drop_after_commit": {"times": 1}              # or {"probability": 0.5}, or true (always)
        }
      }
    }

Randomness comes from two ``random.Random`` streams seeded from ``seed`` (one for error draws,
one for latency), so a test that sends requests in a fixed order sees a fixed sequence.
Rate limits and latency use real (monotonic) time, not the virtual clock; tests may set
``Faults.clock`` (the rate limit's clock) and ``EmulatorApp.sleep`` (the latency's wait).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.emulator.models import known_code

_API_KEYS = frozenset(
    {
        "latency_ms",
        "rate_limit",
        "throttling",
        "internal_error",
        "service_unavailable",
        "errors",
        "drop_after_commit",
    }
)


@dataclass(frozen=True)
class Latency:
    """Added delay: ``fixed`` (a ms), ``uniform`` (a..b ms) or ``normal`` (mean a, stddev b ms)."""

    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: random.Random) -> float:
        """One delay, in seconds (never negative)."""
        if self.kind == "fixed":
            ms = self.a
        elif self.kind == "uniform":
            ms = rng.uniform(self.a, self.b)
        else:
            ms = rng.gauss(self.a, self.b)
        return max(0.0, ms) / 1000.0

    def to_dict(self) -> dict[str, Any]:
        """The configuration form."""
        return {self.kind: self.a if self.kind == "fixed" else [self.a, self.b]}


@dataclass
class Injection:
    """Answer ``code`` to matching requests, ``times`` times (None: every time)."""

    code: str
    times: int | None = None
    match: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The configuration form (``times`` is what is left)."""
        return {"code": self.code, "times": self.times, "match": dict(self.match)}


@dataclass
class Drop:
    """Close the connection without answering after the action committed."""

    times: int | None = None
    probability: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The configuration form (``times`` is what is left)."""
        return {"times": self.times, "probability": self.probability}


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class ApiFaults:
    """The faults of one API."""

    latency: Latency | None = None
    rate_limit: tuple[float, float] | None = None  # (per_second, burst)
    throttling: float = 0.0
    internal_error: float = 0.0
    service_unavailable: float = 0.0
    errors: list[Injection] = field(default_factory=list)
    drop_after_commit: Drop | None = None

    def to_dict(self) -> dict[str, Any]:
        """The configuration form."""
        out: dict[str, Any] = {
            "throttling": self.throttling,
            "internal_error": self.internal_error,
            "service_unavailable": self.service_unavailable,
            "errors": [e.to_dict() for e in self.errors],
        }
        if self.latency is not None:
            out["latency_ms"] = self.latency.to_dict()
        if self.rate_limit is not None:
            out["rate_limit"] = {"per_second": self.rate_limit[0], "burst": self.rate_limit[1]}
        if self.drop_after_commit is not None:
            out["drop_after_commit"] = self.drop_after_commit.to_dict()
        return out


def _number(value: Any, where: str, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, not {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{where} must be in [{low}, {high if high is not None else 'inf'}], not {value}")
    return float(value)


def _times(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive whole number or null")
    return value


def _latency(raw: Any, where: str) -> Latency:
    if not isinstance(raw, Mapping):
        return Latency("fixed", _number(raw, where))
    if len(raw) != 1:
        raise ValueError(f"{where} takes one of fixed / uniform / normal")
    kind, value = next(iter(raw.items()))
    if kind == "fixed":
        return Latency("fixed", _number(value, f"{where}.fixed"))
    if kind in ("uniform", "normal") and isinstance(value, (list, tuple)) and len(value) == 2:
        a, b = (_number(v, f"{where}.{kind}") for v in value)
        if kind == "uniform" and b < a:
            raise ValueError(f"{where}.uniform needs [low, high]")
        return Latency(kind, a, b)
    raise ValueError(f"{where}: unknown latency {dict(raw)!r}")


def _api_faults(raw: Mapping[str, Any], where: str) -> ApiFaults:
    unknown = sorted(set(raw) - _API_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_API_KEYS)}")
    out = ApiFaults()
    if raw.get("latency_ms") is not None:
        out.latency = _latency(raw["latency_ms"], f"{where}.latency_ms")
    rate = raw.get("rate_limit")
    if rate is not None:
        spec = rate if isinstance(rate, Mapping) else {"per_second": rate}
        per_second = _number(spec.get("per_second"), f"{where}.rate_limit.per_second")
        if per_second <= 0:
            raise ValueError(f"{where}.rate_limit.per_second must be > 0")
        burst = _number(spec.get("burst", max(1.0, per_second)), f"{where}.rate_limit.burst", low=1.0)
        out.rate_limit = (per_second, burst)
    for name in ("throttling", "internal_error", "service_unavailable"):
        setattr(out, name, _number(raw.get(name, 0.0), f"{where}.{name}", high=1.0))
    if out.throttling + out.internal_error + out.service_unavailable > 1.0:
        raise ValueError(f"{where}: the error probabilities add up to more than 1")
    for n, inj in enumerate(raw.get("errors") or []):
        here = f"{where}.errors[{n}]"
        code = inj.get("code") if isinstance(inj, Mapping) else None
        if not isinstance(code, str) or not known_code(code):
            raise ValueError(f"{here}.code must be a known error code, not {code!r}")
        match = inj.get("match") or {}
        if not isinstance(match, Mapping) or not all(isinstance(v, str) for v in match.values()):
            raise ValueError(f"{here}.match must map parameter names to strings")
        extra = sorted(set(inj) - {"code", "times", "match"})
        if extra:
            raise ValueError(f"{here}: unknown key(s) {extra}")
        out.errors.append(Injection(code, _times(inj.get("times"), f"{here}.times"), dict(match)))
    drop = raw.get("drop_after_commit")
    if drop is True:
        out.drop_after_commit = Drop()
    elif isinstance(drop, Mapping):
        extra = sorted(set(drop) - {"times", "probability"})
        if extra:
            raise ValueError(f"{where}.drop_after_commit: unknown key(s) {extra}")
        probability = _number(
            drop.get("probability", 1.0), f"{where}.drop_after_commit.probability", high=1.0
        )
        out.drop_after_commit = Drop(
            _times(drop.get("times"), f"{where}.drop_after_commit.times"), probability
        )
    elif drop not in (None, False):
        raise ValueError(f"{where}.drop_after_commit must be true, false or an object")
    return out


def load_faults_file(path: str | Path) -> dict[str, Any]:
    """Read a faults configuration from JSON, or YAML when the name ends in .yaml/.yml."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml  # only YAML users pay for it (PyYAML comes with the dev extras)

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a faults file holds one object")
    return data


class Faults:
    """Thread-safe fault state; ``configure`` replaces it atomically."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        #: The rate limit's clock (seconds, monotonic).
        self.clock: Callable[[], float] = time.monotonic
        self.configure(config or {})

    def configure(self, config: Mapping[str, Any]) -> None:
        """Replace every fault (validates first: a bad config leaves the old one in place)."""
        unknown = sorted(set(config) - {"seed", "retry_after_seconds", "apis"})
        if unknown:
            raise ValueError(f"faults: unknown key(s) {unknown}")
        seed = config.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError("faults.seed must be a whole number")
        retry_after = config.get("retry_after_seconds")
        if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)):
            raise ValueError("faults.retry_after_seconds must be a whole number or null")
        apis_raw = config.get("apis") or {}
        if not isinstance(apis_raw, Mapping):
            raise ValueError("faults.apis must map API names to fault objects")
        apis = {name: _api_faults(raw or {}, f"faults.apis.{name}") for name, raw in apis_raw.items()}
        with self._lock:
            self.seed = seed
            self.retry_after_seconds: int | None = retry_after
            self._apis = apis
            self._buckets: dict[str, _Bucket] = {}
            self._errors_rng = random.Random(seed)
            self._latency_rng = random.Random(seed + 1)

    def to_dict(self) -> dict[str, Any]:
        """The current configuration (remaining ``times`` included)."""
        with self._lock:
            return {
                "seed": self.seed,
                "retry_after_seconds": self.retry_after_seconds,
                "apis": {name: api.to_dict() for name, api in self._apis.items()},
            }

    def _for(self, action: str) -> ApiFaults | None:
        return self._apis.get(action) or self._apis.get("*")

    def front(self, action: str, params: Mapping[str, str]) -> str | None:
        """The error code to answer before the action runs, or None.

        Scripted errors first (deterministic), then the rate limit, then one random draw.
        """
        faults = self._for(action)
        if faults is None:
            return None
        with self._lock:
            for inj in faults.errors:
                if inj.times == 0 or any(params.get(k) != v for k, v in inj.match.items()):
                    continue
                if inj.times is not None:
                    inj.times -= 1
                return inj.code
            if faults.rate_limit is not None:
                bucket = self._buckets.get(action)
                now = self.clock()
                if bucket is None:
                    rate, burst = faults.rate_limit
                    bucket = self._buckets[action] = _Bucket(rate, burst, burst, now)
                if not bucket.take(now):
                    return "Throttling"
            if faults.throttling or faults.internal_error or faults.service_unavailable:
                draw = self._errors_rng.random()
                for code, p in (
                    ("Throttling", faults.throttling),
                    ("InternalError", faults.internal_error),
                    ("ServiceUnavailable", faults.service_unavailable),
                ):
                    if draw < p:
                        return code
                    draw -= p
        return None

    def latency(self, action: str) -> float:
        """Seconds to wait while the request is being processed (0 without a latency fault)."""
        faults = self._for(action)
        if faults is None or faults.latency is None:
            return 0.0
        with self._lock:
            return faults.latency.sample(self._latency_rng)

    def drop(self, action: str) -> bool:
        """True when this committed request's connection is to be dropped instead of answered."""
        faults = self._for(action)
        if faults is None or faults.drop_after_commit is None:
            return False
        spec = faults.drop_after_commit
        with self._lock:
            if spec.times == 0:
                return False
            if spec.probability < 1.0 and self._errors_rng.random() >= spec.probability:
                return False
            if spec.times is not None:
                spec.times -= 1
            return True
