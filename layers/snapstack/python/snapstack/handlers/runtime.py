"""One invocation from event bytes to summary, shared by the three handlers.

1. decode the event and load the configuration — bad input stops here with one structured
   log line naming the field and the rule, and no ECS call;
2. plan: the handler turns the event into intents (this is where DescribeDisks runs);
3. execute the intents (claim, create, record) and log one line per disk;
4. flush metrics once and return the summary.

An invocation that leaves disks deferred or in progress elsewhere raises ``IncompleteRun``
(unless ``SNAPSTACK_RETRY_INCOMPLETE=false``) so FC's async retry runs it again; the rerun
does only what is missing. A failure to reach ECS or the token table before any disk was
decided is raised too, for the same reason, and so is ``InvocationFailed`` when the executor
stopped the invocation (the token table refused our credentials or is missing; an account- or
credential-level ECS error). Bad input is never raised: a retry cannot fix it.
A configuration that cannot be used is raised as ``ConfigError`` (error_code ``ConfigError``,
metric ``ConfigErrors``): it is not the event's fault, so it must fail the invocation where FC
records and alerts on it, not pass quietly as bad input on every run.

The token table is opened once per process and URL, and handed the invocation's credentials
(from the FC context) on every invocation, so STS rotation never leaves it signing with stale
keys. ``SNAPSTACK_MAX_DELIVERIES`` (default 4, FC's default delivery count) bounds how many
deliveries may work on one slot before it ends failed.
"""

from __future__ import annotations

import contextvars
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapstack.config import ConfigError, lease_seconds, token_table_url
from snapstack.ecs.errors import EcsError, InvalidRequest
from snapstack.events.errors import EventDecodeError, UnusableElement
from snapstack.execute import DEFAULT_MAX_DELIVERIES, DiskResult, Executor, Intent, Outcome, RunStats
from snapstack.invocation import Invocation
from snapstack.observability import INVOCATION_FAILED, bind_invocation, emit_metrics, log_fields
from snapstack.ratelimit import RateLimiter
from snapstack.tokens.base import TokenTableError, default_owner

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.policy.model import Policy
    from snapstack.tokens.base import TokenTable

_tables: dict[str, TokenTable] = {}  # one per URL per process: connections outlive invocations
# The invocation being planned in this thread (planning reads its FC service and function names).
_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "snapstack_invocation", default=None
)


def current_invocation() -> Invocation | None:
    """The invocation this thread is planning, if any (set by ``prepare``)."""
    return _current.get()


class BadInput(Exception):
    """Input the function was sent that it cannot act on; never retried."""

    def __init__(self, source: str, field: str, rule: str) -> None:
        super().__init__(f"{source}: {field}: {rule}")
        self.source = source
        self.field = field
        self.rule = rule


class DependencyUnavailable(Exception):
    """A service the plan needs (OSS, ...) could not be reached: FC should deliver the event again."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvocationFailed(Exception):
    """The executor stopped the invocation (see the module docstring): FC should retry it."""

    def __init__(self, code: str, message: str, summary: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.summary = summary


class IncompleteRun(Exception):
    """Some disks are deferred or in progress elsewhere: FC should deliver the event again."""

    def __init__(self, summary: dict[str, Any]) -> None:
        pending = summary["deferred"] + summary["in_progress"]
        super().__init__(f"{pending} disk(s) not finished; the retry does only what is missing")
        self.summary = summary


@dataclass
class Plan:
    """What a handler decided to do for one event."""

    policy: Policy
    intents: list[Intent] = field(default_factory=list)
    results: list[DiskResult] = field(default_factory=list)  # decided without ECS (denied, invalid)
    labels: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unusable: list[UnusableElement] = field(default_factory=list)  # batch elements acted on by no one


@dataclass
class Runtime:
    """What a planner may use: the invocation, its logger, and ECS."""

    invocation: Invocation
    logger: Logger
    stats: RunStats
    function_dir: Path | None
    _ecs: EcsClient | None = None
    lease_seconds: float | None = None  # None: the token table's default

    @property
    def region(self) -> str:
        """The region to work in."""
        return self.ecs.config.region_id

    @property
    def ecs(self) -> EcsClient:
        """The ECS client for this invocation (credentials from the FC context)."""
        if self._ecs is None:
            from snapstack.ecs.client import EcsClient, EcsConfig
            from snapstack.ecs.credentials import resolve_credentials

            config = EcsConfig.from_env(fallback_region=self.invocation.region or None)
            self._ecs = EcsClient(
                config,
                resolve_credentials(self.invocation.context),
                deadline=self.invocation.deadline(),
                on_error=self.stats.saw_error,
            )
        return self._ecs


def invocation_table(invocation: Invocation) -> TokenTable:
    """The configured token table, holding ``invocation``'s credentials (for planners too)."""
    table = table_for(token_table_url())
    _hand_credentials(table, invocation)
    return table


def table_for(url: str) -> TokenTable:
    """The process's token table for ``url`` (opened once, reused by later invocations)."""
    if url not in _tables:
        from snapstack.tokens import open_table

        _tables[url] = open_table(url)
    return _tables[url]


Planner = Callable[[Any, Runtime], Plan]


def prepare(
    event: Any, context: Any, *, trigger: str, function_dir: Path | None, planner: Planner
) -> tuple[Runtime, Plan | dict[str, Any]]:
    """Decode, validate and plan: the plan, or the bad-input summary. No CreateSnapshot call."""
    invocation = Invocation.from_fc(context)
    logger = bind_invocation(invocation)
    runtime = Runtime(invocation, logger, RunStats(), function_dir)
    _current.set(invocation)
    try:
        runtime.lease_seconds = lease_seconds()
        max_deliveries()
        return runtime, planner(event, runtime)
    except ConfigError as exc:
        logger.error("configuration error: nothing was done", extra=_error_fields(exc))
        emit_metrics(invocation, {"policy": "", "trigger": trigger}, {"ConfigErrors": 1}, [])
        raise
    except (EventDecodeError, BadInput, InvalidRequest) as exc:
        return runtime, _bad_input(invocation, logger, trigger, exc)
    except (EcsError, TokenTableError, DependencyUnavailable) as exc:
        logger.error(
            "invocation failed before any disk was decided",
            extra={"alert": INVOCATION_FAILED, **_error_fields(exc)},
        )
        raise


def invoke(
    event: Any, context: Any, *, trigger: str, function_dir: Path | None, planner: Planner
) -> dict[str, Any]:
    """Run one invocation of a handler; see the module docstring."""
    runtime, plan = prepare(event, context, trigger=trigger, function_dir=function_dir, planner=planner)
    if isinstance(plan, dict):
        return plan
    invocation, logger = runtime.invocation, runtime.logger
    results = list(plan.results)
    executor: Executor | None = None
    quota: dict[str, float] = {}
    if plan.intents:
        from snapstack.retention.quota import QuotaGuard

        table = invocation_table(invocation)
        # DescribeSnapshots is throttled apart from CreateSnapshot: it gets a limiter of its own.
        describe = RateLimiter(plan.policy.rate_limit).acquire
        guard = QuotaGuard(
            runtime.ecs, runtime.region, plan.policy, logger, stack=invocation.service_name, pace=describe
        )
        executor = Executor(
            ecs=runtime.ecs,
            table=table,
            owner=f"{invocation.request_id}@{default_owner()}",
            limiter=RateLimiter(plan.policy.rate_limit),
            deadline=invocation.deadline(),
            logger=logger,
            stats=runtime.stats,
            lease_seconds=runtime.lease_seconds,
            max_deliveries=max_deliveries(),
            quota_guard=guard,
        )
        results += executor.run(plan.intents, plan.policy.concurrency)
        quota = guard.metrics()
    summary = summarise(invocation, trigger, plan, results)
    _metrics(invocation, trigger, plan, results, runtime.stats, quota=quota)
    # Nested: several outcome names ("created") are reserved attributes of a LogRecord.
    counts = {o.value: summary[o.value] for o in Outcome}
    logger.info("invocation summary", extra={"counts": counts, **plan.labels, "notes": plan.notes})
    if executor is not None and executor.fatal is not None:
        fatal = executor.fatal
        logger.error(
            "invocation failed: FC retries it",
            extra=log_fields(alert=INVOCATION_FAILED, error_code=fatal.code, error=fatal.message),
        )
        raise InvocationFailed(fatal.code, fatal.message, summary)
    if (summary["deferred"] or summary["in_progress"]) and _retry_incomplete():
        raise IncompleteRun(summary)
    return summary


def summarise(invocation: Invocation, trigger: str, plan: Plan, results: list[DiskResult]) -> dict[str, Any]:
    """The JSON summary returned to FC: counts per outcome and per-disk detail."""
    counts = Counter(r.outcome for r in results)
    return {
        "ok": True,
        "request_id": invocation.request_id,
        "function": invocation.function_name,
        "trigger": trigger,
        **plan.labels,
        **{outcome.value: counts.get(outcome, 0) for outcome in Outcome},
        "notes": plan.notes,
        "unusable": [u.as_dict() for u in plan.unusable],
        "disks": [r.model_dump(exclude_none=True, mode="json") for r in results],
    }


def _metrics(
    invocation: Invocation,
    trigger: str,
    plan: Plan,
    results: list[DiskResult],
    stats: RunStats,
    *,
    quota: dict[str, float],
) -> None:
    counts = Counter(r.outcome for r in results)
    emit_metrics(
        invocation,
        {"policy": plan.labels.get("policy", ""), "trigger": trigger},
        {
            "SnapshotsCreated": counts[Outcome.CREATED],
            "SnapshotsDeduplicated": counts[Outcome.DEDUPLICATED] + counts[Outcome.IN_PROGRESS],
            "SnapshotsDeferred": counts[Outcome.DEFERRED],
            "SnapshotsSkipped": counts[Outcome.SKIPPED],
            "SnapshotsDenied": counts[Outcome.DENIED],
            "SnapshotsFailed": counts[Outcome.FAILED],
            "Throttled": stats.errors["Throttling"] + stats.errors["Throttling.User"],
            **quota,  # the quota guard's: QuotaPruned, QuotaPruneFailed, QuotaBlocked
        },
        stats.latencies_ms,
    )


def _bad_input(invocation: Invocation, logger: Logger, trigger: str, exc: Exception) -> dict[str, Any]:
    fields = _error_fields(exc)
    logger.error("bad input: nothing was done", extra=fields)
    return {
        "ok": False,
        "request_id": invocation.request_id,
        "function": invocation.function_name,
        "trigger": trigger,
        "error": fields,
        **{outcome.value: 0 for outcome in Outcome},
        "unusable": [u.as_dict() for u in getattr(exc, "elements", ())],
        "disks": [],
    }


def _error_fields(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, EventDecodeError):
        return log_fields(
            error_code="BadEvent", source=f"event ({exc.shape})", field=exc.field, rule=exc.rule
        )
    if isinstance(exc, ConfigError):
        return log_fields(error_code="ConfigError", source=exc.source, field=exc.field, rule=exc.rule)
    if isinstance(exc, BadInput):
        return log_fields(error_code="BadInput", source=exc.source, field=exc.field, rule=exc.rule)
    if isinstance(exc, InvalidRequest):
        return log_fields(error_code=exc.code, source="request", field=exc.field, rule=exc.rule)
    if isinstance(exc, EcsError):
        return log_fields(error_code=exc.code, error=exc.message, request_id_ecs=exc.request_id)
    if isinstance(exc, DependencyUnavailable):
        return log_fields(error_code=exc.code, error=exc.message)
    return log_fields(error_code=type(exc).__name__, error=str(exc))


def _hand_credentials(table: TokenTable, invocation: Invocation) -> None:
    """Give the table this invocation's credentials (the FC context's, else the environment's)."""
    from snapstack.ecs.credentials import CredentialsNotFound, resolve_credentials

    try:
        creds = resolve_credentials(invocation.context)
    except CredentialsNotFound:
        return  # the table keeps what it was built with (or reports the missing credentials itself)
    table.use_credentials(creds.access_key_id, creds.access_key_secret, creds.security_token)


def max_deliveries(env: dict[str, str] | None = None) -> int:
    """``SNAPSTACK_MAX_DELIVERIES``: deliveries that may work on one slot (default 4)."""
    source = os.environ if env is None else env
    text = source.get("SNAPSTACK_MAX_DELIVERIES")
    if not text:
        return DEFAULT_MAX_DELIVERIES
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            "environment", "SNAPSTACK_MAX_DELIVERIES", f"must be a whole number >= 1 (got {text!r})"
        )
    return int(text)


def _retry_incomplete() -> bool:
    return os.environ.get("SNAPSTACK_RETRY_INCOMPLETE", "true").lower() != "false"
