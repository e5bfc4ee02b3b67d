"""One invocation from event bytes to summary, shared by the three handlers.

1. decode the event and load the configuration — bad input stops here with one structured
   log line naming the field and the rule, and no ECS call;
2. plan: the handler turns the event into intents (this is where DescribeDisks runs) — as
   lists, or as a stream of pages (``Plan.pages``) that is listed and planned while the
   executor works on the page before;
3. execute the intents (claim, create, record) and log one line per disk;
4. flush metrics once and return the summary (``summary.py``: counts of every disk, per-disk
   detail for at most ``SNAPSTACK_SUMMARY_DISKS`` of them, default 1,000).

A streamed plan reads each page's slot records in bulk (``Runtime.slot_records``) before it
reads instance states or builds requests, so a redelivery settles the disks the token table
records as done without asking ECS about them again. Memory follows the pages and workers in
flight, not the fleet: no list of every disk, intent or result is held.

An invocation that leaves disks deferred or in progress elsewhere, or stopped listing at its
deadline, raises ``IncompleteRun``
(unless ``SNAPSTACK_RETRY_INCOMPLETE=false``) so FC's async retry runs it again; the rerun
does only what is missing. A failure to reach ECS or the token table before any disk was
decided is raised too, for the same reason, and so is ``InvocationFailed`` when the executor
stopped the invocation (the token table refused our credentials or is missing; an account- or
credential-level ECS error) or when listing failed after some disks were decided (it carries the
summary so far). Bad input is never raised: a retry cannot fix it.
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapstack.config import ConfigError, lease_seconds, token_table_url
from snapstack.ecs.errors import EcsError, InvalidRequest
from snapstack.events.errors import EventDecodeError, UnusableElement
from snapstack.execute import (
    DEFAULT_MAX_DELIVERIES,
    RUN_BATCH,
    Batch,
    DiskResult,
    Executor,
    Intent,
    Outcome,
    RunStats,
    log_decision,
)
from snapstack.invocation import Invocation
from snapstack.observability import INVOCATION_FAILED, bind_invocation, emit_metrics, log_fields
from snapstack.ratelimit import RateLimiter
from snapstack.summary import DEFAULT_SUMMARY_DISKS, Tally, bounded_notes
from snapstack.tokens.base import TokenTableError, default_owner

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.policy.model import Policy
    from snapstack.tokens.base import TokenRecord, TokenTable

_tables: dict[str, TokenTable] = {}  # one per URL per process: connections outlive invocations
# The invocation being planned in this thread (planning reads its FC service and function names).
_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "snapstack_invocation", default=None
)


def current_invocation() -> Invocation | None:
    """The invocation this thread is planning, if any (set by ``prepare``, cleared when it ends)."""
    return _current.get()


@contextmanager
def _invocation_scope() -> Iterator[None]:
    """Whatever ``prepare`` sets as the current invocation is undone when the decorated call
    ends, so a later plan in this thread (another handler run by the local tools, a test) never derives its
    slot tokens from a finished invocation's FC service and function names."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


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
    """Some disks are deferred or in progress elsewhere, or were not listed before the deadline:
    FC should deliver the event again."""

    def __init__(self, summary: dict[str, Any]) -> None:
        pending = summary["deferred"] + summary["in_progress"]
        unlisted = "; listing stopped before the end" if summary.get("listing_stopped") else ""
        super().__init__(f"{pending} disk(s) not finished{unlisted}; the retry does only what is missing")
        self.summary = summary


@dataclass
class Plan:
    """What a handler decided to do for one event.

    A handler whose targets are few fills ``intents`` and ``results``; one that may cover a
    whole fleet sets ``pages`` instead, a stream of ``Batch`` (one per listing page) that is
    listed and planned as the executor pulls it. ``notes`` may grow while the stream runs.
    """

    policy: Policy
    intents: list[Intent] = field(default_factory=list)
    results: list[DiskResult] = field(default_factory=list)  # decided without ECS (denied, invalid)
    labels: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unusable: list[UnusableElement] = field(default_factory=list)  # batch elements acted on by no one
    pages: Iterator[Batch] | None = None

    def batches(self, labels: Mapping[str, str]) -> Iterator[Batch]:
        """The whole plan as batches: the lists first (``labels`` on the decided disks' log
        lines), then the stream."""
        if self.results:
            yield Batch(results=self.results, labels=labels)
        for i in range(0, len(self.intents), RUN_BATCH):
            yield Batch(self.intents[i : i + RUN_BATCH])
        if self.pages is not None:
            yield from self.pages

    def materialise(self) -> None:
        """Pull the whole stream into ``intents`` and ``results`` (for tools that show a plan)."""
        if self.pages is None:
            return
        pages, self.pages = self.pages, None
        for batch in pages:
            self.intents += batch.intents
            self.results += batch.results


@dataclass
class Runtime:
    """What a planner may use: the invocation, its logger, and ECS."""

    invocation: Invocation
    logger: Logger
    stats: RunStats
    function_dir: Path | None
    _ecs: EcsClient | None = None
    lease_seconds: float | None = None  # None: the token table's default
    #: The bulk read of slot records a streamed plan does per page (set while executing; None
    #: when only planning, e.g. ``snapstack plan``: then every disk is planned in full).
    slot_records: Callable[[Iterable[str]], Mapping[str, TokenRecord]] | None = None

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


@_invocation_scope()
def prepare(
    event: Any, context: Any, *, trigger: str, function_dir: Path | None, planner: Planner
) -> tuple[Runtime, Plan | dict[str, Any]]:
    """Decode, validate and plan: the plan, its streamed pages listed into its lists, or the
    bad-input summary. No CreateSnapshot call (``snapstack plan``)."""
    return _prepare(event, context, trigger=trigger, function_dir=function_dir, planner=planner, stream=False)


def _prepare(
    event: Any,
    context: Any,
    *,
    trigger: str,
    function_dir: Path | None,
    planner: Planner,
    stream: bool,
) -> tuple[Runtime, Plan | dict[str, Any]]:
    """``prepare``; a streamed plan is left unlisted when ``stream`` (``invoke`` streams it)."""
    invocation = Invocation.from_fc(context)
    logger = bind_invocation(invocation)
    runtime = Runtime(invocation, logger, RunStats(), function_dir)
    _current.set(invocation)
    try:
        runtime.lease_seconds = lease_seconds()
        max_deliveries()
        summary_disks()
        plan = planner(event, runtime)
        if not stream:
            plan.materialise()
        return runtime, plan
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


@_invocation_scope()
def invoke(
    event: Any, context: Any, *, trigger: str, function_dir: Path | None, planner: Planner
) -> dict[str, Any]:
    """Run one invocation of a handler; see the module docstring. The invocation stays current
    while its streamed plan is listed, and is cleared when it ends."""
    runtime, plan = _prepare(
        event, context, trigger=trigger, function_dir=function_dir, planner=planner, stream=True
    )
    if isinstance(plan, dict):
        return plan
    invocation, logger = runtime.invocation, runtime.logger
    tally = Tally(summary_disks())
    executor = _execute(runtime, plan, trigger, tally)
    stopped = executor.halted if executor is not None else None
    if stopped is not None:
        plan.notes.append(
            f"stopped listing after {tally.total} disk(s): {stopped}; the next delivery lists again "
            "and settles what the token table records as done without working on it"
        )
    summary = summarise(invocation, trigger, plan, tally, listing_stopped=stopped is not None)
    quota = executor.quota_guard.metrics() if executor is not None and executor.quota_guard else {}
    _metrics(invocation, trigger, plan, tally, runtime.stats, quota=quota)
    # Nested: several outcome names ("created") are reserved attributes of a LogRecord.
    logger.info("invocation summary", extra={"counts": tally.counts(), **plan.labels, "notes": plan.notes})
    if executor is not None and executor.fatal is not None:
        fatal = executor.fatal
        logger.error(
            "invocation failed: FC retries it",
            extra=log_fields(alert=INVOCATION_FAILED, error_code=fatal.code, error=fatal.message),
        )
        raise InvocationFailed(fatal.code, fatal.message, summary)
    if (summary["deferred"] or summary["in_progress"] or stopped) and _retry_incomplete():
        raise IncompleteRun(summary)
    return summary


def _execute(runtime: Runtime, plan: Plan, trigger: str, tally: Tally) -> Executor | None:
    """Stream the plan through an executor into ``tally``; None when there was nothing to run.

    The executor (and with it the token table) is made when the first intent or slot read needs
    it, so a plan that selects nothing never opens the table. A listing that fails before any
    disk was decided is raised as it is; after, as ``InvocationFailed`` with the summary so far.
    """
    invocation, logger = runtime.invocation, runtime.logger
    made: list[Executor] = []

    def executor() -> Executor:
        if not made:
            from snapstack.retention.quota import QuotaGuard

            table = invocation_table(invocation)
            # DescribeSnapshots is throttled apart from CreateSnapshot: it gets a limiter of its own.
            describe = RateLimiter(plan.policy.rate_limit).acquire
            made.append(
                Executor(
                    ecs=runtime.ecs,
                    table=table,
                    owner=f"{invocation.request_id}@{default_owner()}",
                    limiter=RateLimiter(plan.policy.rate_limit),
                    deadline=invocation.deadline(),
                    logger=logger,
                    stats=runtime.stats,
                    lease_seconds=runtime.lease_seconds,
                    max_deliveries=max_deliveries(),
                    quota_guard=QuotaGuard(
                        runtime.ecs,
                        runtime.region,
                        plan.policy,
                        logger,
                        stack=invocation.service_name,
                        pace=describe,
                    ),
                )
            )
        return made[0]

    runtime.slot_records = lambda tokens: executor().read_slots(tokens)
    batches = plan.batches({"trigger": trigger, **plan.labels})
    try:
        first = next(batches, None)
        while first is not None and not first.intents:  # decided disks only: no table needed yet
            for result in first.results:
                log_decision(logger, result, first.labels)
                tally.add(result)
            first = next(batches, None)
        if first is None:
            return made[0] if made else None
        executor().stream(batches, plan.policy.concurrency, tally.add, listed=first)
    except (EcsError, TokenTableError, DependencyUnavailable) as exc:
        if not tally.total:
            logger.error(
                "invocation failed before any disk was decided",
                extra={"alert": INVOCATION_FAILED, **_error_fields(exc)},
            )
            raise
        code = getattr(exc, "code", None) or type(exc).__name__
        plan.notes.append(f"listing failed after {tally.total} disk(s): {exc}")
        logger.error(
            "listing failed mid-run: FC retries the event",
            extra={"alert": INVOCATION_FAILED, **_error_fields(exc)},
        )
        raise InvocationFailed(code, str(exc), summarise(invocation, trigger, plan, tally)) from exc
    finally:
        runtime.slot_records = None
    return made[0]


def summarise(
    invocation: Invocation, trigger: str, plan: Plan, tally: Tally, *, listing_stopped: bool = False
) -> dict[str, Any]:
    """The JSON summary returned to FC: counts of every disk, bounded detail (``summary.py``)."""
    summary = {
        "ok": True,
        "request_id": invocation.request_id,
        "function": invocation.function_name,
        "trigger": trigger,
        **plan.labels,
        **tally.counts(),
        "notes": bounded_notes(plan.notes),
        "unusable": [u.as_dict() for u in plan.unusable],
        "errors": tally.errors(),
        "disks": tally.disks(),
        "disks_omitted": tally.omitted,
    }
    if listing_stopped:
        summary["listing_stopped"] = True
    return summary


def _metrics(
    invocation: Invocation,
    trigger: str,
    plan: Plan,
    tally: Tally,
    stats: RunStats,
    *,
    quota: dict[str, float],
) -> None:
    emit_metrics(
        invocation,
        {"policy": plan.labels.get("policy", ""), "trigger": trigger},
        {
            "SnapshotsCreated": tally.count(Outcome.CREATED),
            "SnapshotsDeduplicated": tally.count(Outcome.DEDUPLICATED) + tally.count(Outcome.IN_PROGRESS),
            "SnapshotsDeferred": tally.count(Outcome.DEFERRED),
            "SnapshotsSkipped": tally.count(Outcome.SKIPPED),
            "SnapshotsDenied": tally.count(Outcome.DENIED),
            "SnapshotsFailed": tally.count(Outcome.FAILED),
            "Throttled": stats.errors["Throttling"] + stats.errors["Throttling.User"],
            **quota,  # the quota guard's: QuotaPruned, QuotaPruneFailed, QuotaBlocked
        },
        stats.latency,
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
        "errors": [],
        "unusable": [u.as_dict() for u in getattr(exc, "elements", ())],
        "disks": [],
        "disks_omitted": 0,
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


def summary_disks(env: dict[str, str] | None = None) -> int:
    """``SNAPSTACK_SUMMARY_DISKS``: disks whose detail the summary carries (default 1,000)."""
    source = os.environ if env is None else env
    text = source.get("SNAPSTACK_SUMMARY_DISKS")
    if not text:
        return DEFAULT_SUMMARY_DISKS
    if not text.isdigit():
        raise ConfigError(
            "environment", "SNAPSTACK_SUMMARY_DISKS", f"must be a whole number >= 0 (got {text!r})"
        )
    return int(text)


def _retry_incomplete() -> bool:
    return os.environ.get("SNAPSTACK_RETRY_INCOMPLETE", "true").lower() != "false"
