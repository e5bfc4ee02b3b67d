"""reconciler: a timer (every 15 minutes in template.yml) re-drives open slots and checks the RPO.

One run (``reconcile/redrive.py``, ``reconcile/rpo.py``):

1. re-drive every open slot the sources name (``sources``: the token table's open records, and the
   failure queue's failed invocations when ``SNAPSTACK_FAILURE_QUEUE`` names it) until it is done
   or its deadline passes — that slot then ends ``failed`` with an ERROR line (``alert:
   SlotAbandoned``) and the ``SlotsAbandoned`` metric; each failure-queue message whose slots are
   settled is deleted with an ERROR line (``alert: FailedInvocation``);
2. reopen and retry slots whose snapshot ECS reports ``failed`` (``SnapshotsFailedAtEcs``);
3. check each configured policy's RPO: one ERROR line per breach (``alert: RpoBreach``, with disk,
   policy, age and RPO) and a metric per breach (``RpoBreachAgeSeconds``, the disk id as EMF
   metadata), plus ``RpoBreaches`` per policy.

The timer's ``payload`` may narrow the RPO check: ``{"policy": "daily"}``, ``{"policies": [...]}``
or a bare name; empty checks every configured policy. The trigger time is the run's now (slot
deadlines and ages), so a run is judged at the time it was meant for.

The run returns its summary; the counts use the executor's outcomes (``created``, ``deferred``...)
so it reads like every other function's. It raises ``ReconcileIncomplete`` (after logging and
metrics) when a part could not run — a source unreadable, a policy's disks unreadable, the table
or ECS refusing the invocation — so FC records an invocation error.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapstack.config import ConfigError, lease_seconds, load_config, token_table_url
from snapstack.events.decode import decode_event
from snapstack.events.errors import EventDecodeError
from snapstack.events.timer import TimerEvent
from snapstack.execute import Outcome, RunStats
from snapstack.handlers.runtime import (
    BadInput,
    IncompleteRun,
    Runtime,
    _bad_input,
    _hand_credentials,
    table_for,
)
from snapstack.invocation import Invocation
from snapstack.observability import bind_invocation, emit_metrics, log_fields
from snapstack.ratelimit import RateLimiter
from snapstack.reconcile import rpo
from snapstack.reconcile.config import ReconcilerConfig
from snapstack.reconcile.failures import FailureQueue
from snapstack.reconcile.mns import MnsQueue, queue_url
from snapstack.reconcile.redrive import Reconciler, RunReport, iso
from snapstack.reconcile.sources import OpenRecords
from snapstack.reconcile.work import Verdict
from snapstack.tokens.base import default_owner

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.policy.model import Policy
    from snapstack.reconcile.work import WorkSource

TRIGGER = "timer"


class ReconcileIncomplete(IncompleteRun):
    """Part of the run could not be done (see the module docstring); the summary says which."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__(summary)
        self.args = (f"the reconciler could not finish: {'; '.join(summary['errors'])}",)


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for the reconciler."""
    invocation = Invocation.from_fc(context)
    logger = bind_invocation(invocation)
    try:
        timer = decode_event(event, expect="timer")
        if not isinstance(timer, TimerEvent):  # expect= guarantees it; this narrows the type
            raise TypeError(type(timer).__name__)
        config = load_config(ReconcilerConfig, function_dir)
        policies = chosen_policies(config, timer.payload)
        lease = lease_seconds()
        failures = failure_queue(invocation, logger)
    except (EventDecodeError, ConfigError, BadInput) as exc:
        return _bad_input(invocation, logger, TRIGGER, exc)
    now = timer.trigger_time.timestamp()
    runtime = Runtime(invocation, logger, RunStats(), function_dir)
    table = table_for(token_table_url())
    _hand_credentials(table, invocation)
    reconciler = Reconciler(
        ecs=runtime.ecs,
        table=table,
        owner=f"reconciler:{invocation.request_id}@{default_owner()}",
        logger=logger,
        stats=runtime.stats,
        deadline=invocation.deadline(),
        now=now,
        limiter=RateLimiter(config.rate_limit),
        concurrency=config.concurrency,
        lease_seconds=lease,
    )
    report = reconciler.run(sources(failures))
    health = rpo.check(runtime.ecs, runtime.region, policies, now, stack=invocation.service_name)
    _log_rpo(logger, health)
    summary = summarise(invocation, now, report, health, failures)
    _metrics(invocation, report, health, runtime.stats, failures)
    logger.info(
        "reconciler summary",
        extra={"reconcile": summary["reconcile"], "rpo_breaches": len(summary["rpo"]["breaches"])},
    )
    if summary["errors"]:
        logger.error("the reconciler could not finish", extra=log_fields(errors=summary["errors"]))
        raise ReconcileIncomplete(summary)
    return summary


def sources(failures: FailureQueue | None = None) -> list[WorkSource]:
    """Where the run's work comes from: the token table, then the failure queue if there is one."""
    return [OpenRecords()] if failures is None else [OpenRecords(), failures]


def failure_queue(invocation: Invocation, logger: Logger) -> FailureQueue | None:
    """The failure queue ``SNAPSTACK_FAILURE_QUEUE`` names, read with the invocation's credentials;
    None when unset. ``BadInput`` when the URL is not one."""
    from snapstack.ecs.credentials import resolve_credentials

    url = queue_url()
    if url is None:
        return None
    try:
        return FailureQueue(MnsQueue(url, resolve_credentials(invocation.context)), logger)
    except ValueError as exc:
        raise BadInput("environment", "SNAPSTACK_FAILURE_QUEUE", str(exc)) from None


def chosen_policies(config: ReconcilerConfig, payload: str | None) -> list[Policy]:
    """The configured policies the payload names (all of them when it names none)."""
    text = (payload or "").strip()
    if not text:
        return list(config.policies)
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = text  # a bare policy name
    if isinstance(data, dict) and set(data) <= {"policy", "policies"} and len(data) == 1:
        data = data.get("policy", data.get("policies"))
    names = [data] if isinstance(data, str) else data
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        rule = 'must be empty, a policy name, {"policy": "daily"} or {"policies": [...]}'
        raise BadInput("timer payload", "policy", rule)
    known = {p.name: p for p in config.policies}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadInput("timer payload", "policy", f"no policy named {unknown} (configured: {sorted(known)})")
    return [known[n] for n in dict.fromkeys(names)]


def summarise(
    invocation: Invocation,
    now: float,
    report: RunReport,
    health: list[rpo.PolicyHealth],
    failures: FailureQueue | None = None,
) -> dict[str, Any]:
    """The JSON summary: outcome counts and rows like every function's, then the reconciler's own."""
    outcomes = Counter(r.outcome for r in report.results)
    verdicts = Counter(r.verdict for r in report.results)
    breaches = [d for p in health for d in p.breaches]
    errors = list(report.errors) + [f"policy {p.policy}: {p.error}" for p in health if p.error]
    if report.fatal is not None:
        errors.append(f"{report.fatal.code}: {report.fatal.message}")
    return {
        "ok": True,
        "request_id": invocation.request_id,
        "function": invocation.function_name,
        "trigger": TRIGGER,
        "now": iso(now),
        **{o.value: outcomes.get(o, 0) for o in Outcome},
        "reconcile": {
            **{v.value: verdicts.get(v, 0) for v in Verdict},
            "reopened": len(report.reopened),
        },
        "failure_queue": (
            {"received": failures.received, "deleted": failures.deleted} if failures is not None else None
        ),
        "rpo": {
            "policies": [
                {
                    "policy": p.policy,
                    "rpo_seconds": p.rpo_seconds,
                    "checked": sum(d.verdict != rpo.NOT_CHECKED for d in p.disks),
                    "breaches": len(p.breaches),
                    **({"error": p.error} if p.error else {}),
                }
                for p in health
            ],
            "breaches": [_breach(d) for d in breaches],
        },
        "errors": errors,
        "notes": [f"RPO breach: {d.policy} {d.disk_id}: {d.reason}" for d in breaches],
        "disks": [
            {"disk_id": r.disk_id, **r.model_dump(mode="json", exclude_none=True, exclude={"disk_id"})}
            for r in report.results
        ],
    }


def _breach(disk: rpo.DiskHealth) -> dict[str, Any]:
    good = disk.accomplished
    return log_fields(
        policy=disk.policy,
        disk_id=disk.disk_id,
        instance_id=disk.instance_id,
        age_seconds=None if disk.age_seconds is None else round(disk.age_seconds),
        rpo_seconds=round(disk.rpo_seconds),
        last_snapshot_id=good.snapshot_id if good else None,
        last_snapshot_time=iso(good.created) if good else None,
        reason=disk.reason,
    )


def _log_rpo(logger: Logger, health: list[rpo.PolicyHealth]) -> None:
    for policy in health:
        if policy.error:
            logger.error(
                "RPO check could not read the policy's disks",
                extra=log_fields(policy=policy.policy, error=policy.error),
            )
        for disk in policy.breaches:
            logger.error("RPO breach", extra={"alert": "RpoBreach", **_breach(disk)})


def _metrics(
    invocation: Invocation,
    report: RunReport,
    health: list[rpo.PolicyHealth],
    stats: RunStats,
    failures: FailureQueue | None = None,
) -> None:
    verdicts = Counter(r.verdict for r in report.results)
    emit_metrics(
        invocation,
        {},
        {
            "SlotsOpen": len(report.results),
            "SlotsRepaired": verdicts[Verdict.REPAIRED],
            "SlotsDone": verdicts[Verdict.DONE],
            "SlotsWaiting": verdicts[Verdict.WAITING],
            "SlotsAbandoned": verdicts[Verdict.ABANDONED],
            "SlotsFailed": verdicts[Verdict.FAILED],
            "SnapshotsFailedAtEcs": len(report.reopened),
            "SnapshotsCreated": verdicts[Verdict.REPAIRED],
            "Throttled": stats.errors["Throttling"] + stats.errors["Throttling.User"],
            "FailureQueueMessages": failures.received if failures is not None else 0,
            "FailedInvocations": failures.deleted if failures is not None else 0,
        },
        stats.latency,
    )
    for policy in health:
        ages = [d.age_seconds for d in policy.disks if d.age_seconds is not None]
        emit_metrics(
            invocation,
            {"policy": policy.policy},
            {
                "RpoDisksChecked": sum(d.verdict != rpo.NOT_CHECKED for d in policy.disks),
                "RpoBreaches": len(policy.breaches),
                "RpoCheckErrors": 1 if policy.error else 0,
            },
            [],
            seconds={"RpoWorstAgeSeconds": max(ages)} if ages else None,
        )
        for disk in policy.breaches:  # one blob per breach: the disk and its age
            age = disk.age_seconds
            emit_metrics(
                invocation,
                {"policy": policy.policy},
                {"RpoBreach": 1},
                [],
                seconds=None if age is None else {"RpoBreachAgeSeconds": age},
                metadata={"disk_id": disk.disk_id},
            )
