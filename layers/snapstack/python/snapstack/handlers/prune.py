"""prune: a timer fires; each configured policy's retention runs once.

The timer's ``payload`` picks the policies: ``{"policy": "daily"}``, ``{"policies": ["daily",
"weekly"]}``, a bare name, or nothing for every policy of the configuration. Policies are never
taken inline from the payload: this function deletes, so what it may delete comes from its
configuration only. ``triggerTime`` is the run's "now" (for ``max_age_days`` and the orphan grace).

The first run of a policy in the stack (the FC service) is a dry run unless its retention says
``first_run: apply``; a marker in the token table records that it happened. Reading errors
raise ``PruneIncomplete`` after the other policies ran, so FC's retry runs the event again (a
rerun plans afresh: what was deleted is gone from the plan). Failed deletions are reported and
counted, not raised: the next run tries them again.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapstack.config import ConfigError, load_config, token_table_url
from snapstack.ecs.errors import EcsError
from snapstack.events.decode import decode_event
from snapstack.events.errors import EventDecodeError
from snapstack.events.timer import TimerEvent
from snapstack.execute import RunStats
from snapstack.handlers.runtime import BadInput, Runtime, _error_fields
from snapstack.invocation import Invocation
from snapstack.observability import bind_invocation, emit_metrics, log_fields
from snapstack.retention.config import PruneConfig
from snapstack.retention.delete import Deletion
from snapstack.retention.run import MARKER_TTL_SECONDS, PruneReport, first_run, prune_policy
from snapstack.tokens.base import TokenTableError, default_owner

if TYPE_CHECKING:
    from snapstack.policy.model import Policy
    from snapstack.tokens.base import TokenTable

TRIGGER = "timer"
_markers: dict[str, TokenTable] = {}  # the first-run marker table, one per URL per process


class PruneIncomplete(Exception):
    """A policy's run could not read what it needs: FC should deliver the event again."""

    def __init__(self, summary: dict[str, Any]) -> None:
        failed = [p["policy"] for p in summary["policies"] if p.get("error_code")]
        super().__init__(f"policies {failed} did not run; the retry runs them again")
        self.summary = summary


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for prune."""
    invocation = Invocation.from_fc(context)
    logger = bind_invocation(invocation)
    base = {"request_id": invocation.request_id, "function": invocation.function_name, "trigger": TRIGGER}
    try:
        timer = decode_event(event, expect="timer")
        if not isinstance(timer, TimerEvent):  # expect= guarantees it; this narrows the type
            raise TypeError(type(timer).__name__)
        config = load_config(PruneConfig, function_dir)
        policies = chosen_policies(config, timer.payload)
    except (EventDecodeError, ConfigError, BadInput) as exc:
        fields = _error_fields(exc)
        logger.error("bad input: nothing was done", extra=fields)
        return {"ok": False, **base, "error": fields, "policies": []}
    runtime = Runtime(invocation, logger, RunStats(), function_dir)
    outcomes = [_run(runtime, policy, timer) for policy in policies]
    summary = {"ok": True, **base, "policies": outcomes}
    logger.info("invocation summary", extra={"policies": [_brief(o) for o in outcomes]})
    if any(o.get("error_code") for o in outcomes):
        raise PruneIncomplete(summary)
    return summary


def chosen_policies(config: PruneConfig, payload: str | None) -> list[Policy]:
    """The policies the timer payload names (all of them when it names none)."""
    text = (payload or "").strip()
    names: Any
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        data = text  # a bare policy name
    if data is None:
        return list(config.policies)
    if isinstance(data, dict) and set(data) <= {"policy", "policies"}:
        names = data.get("policies", [data["policy"]] if "policy" in data else [])
    else:
        names = [data] if isinstance(data, str) else data
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise BadInput(
            "timer payload",
            "policies",
            'name policies by name: {"policies": ["daily"]} or {"policy": "daily"}',
        )
    unknown = [n for n in names if config.named(n) is None]
    if unknown:
        known = ", ".join(p.name for p in config.policies)
        raise BadInput("timer payload", "policies", f"no policy named {unknown} (configured: {known})")
    return [p for p in config.policies if p.name in names]


def _run(runtime: Runtime, policy: Policy, timer: TimerEvent) -> dict[str, Any]:
    invocation, logger = runtime.invocation, runtime.logger
    labels = {"policy": policy.name, "trigger": TRIGGER}
    try:
        dry_run, reported = _first_run(runtime, policy)
        report = prune_policy(
            runtime.ecs,
            runtime.region,
            policy,
            stack=invocation.service_name,
            now=timer.trigger_time,
            logger=logger,
            dry_run=dry_run,
        )
        if reported is not None:
            reported()
    except (EcsError, TokenTableError) as exc:
        fields = _error_fields(exc)
        logger.error("prune run failed before deleting anything", extra={**labels, **fields})
        return {"policy": policy.name, **fields}
    outcome = describe(report)
    emit_metrics(invocation, labels, _metric_counts(report), [])
    logger.info("prune run", extra={**labels, "run": _brief(outcome)})
    return outcome


def _first_run(runtime: Runtime, policy: Policy) -> tuple[str | None, Any]:
    """(why this run is a dry run or None, what records the first run as reported or None)."""
    if policy.retention is None or policy.retention.first_run == "apply":
        return None, None
    from snapstack.tokens import open_table

    url = token_table_url()
    try:
        if url not in _markers:
            _markers[url] = open_table(url, record_ttl_seconds=MARKER_TTL_SECONDS)
        reported = first_run(
            _markers[url],
            stack=runtime.invocation.service_name,
            policy=policy.name,
            owner=f"{runtime.invocation.request_id}@{default_owner()}",
        )
    except TokenTableError as exc:
        return f"the first-run marker could not be read ({exc}): nothing is deleted until it can", None
    if reported is None:
        return None, None
    return "first run of this policy in the stack (retention.first_run: dry_run)", reported


def describe(report: PruneReport) -> dict[str, Any]:
    """A policy's run as JSON: mode, counts, deletions by rule, and every failed deletion."""
    rules = Counter(r.decision.rule for r in report.results)
    failures = [
        log_fields(
            snapshot_id=r.decision.snapshot.snapshot_id,
            disk_id=r.decision.snapshot.disk_id,
            rule=r.decision.rule,
            error_code=r.error_code,
            message=r.message,
        )
        for r in report.results
        if r.outcome is Deletion.FAILED
    ]
    return log_fields(
        policy=report.plan.policy.name,
        mode="dry_run" if report.dry_run else "apply",
        dry_run_reason=report.dry_run,
        breaker_reason=report.breaker,
        **report.counts(),
        delete_rules=dict(rules),
        failures=failures,
    )


def _brief(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outcome.items() if k != "failures"}


def _metric_counts(report: PruneReport) -> dict[str, float]:
    counts = report.counts()
    return {
        "SnapshotsPruned": counts[Deletion.DELETED.value],
        "PruneFailed": counts[Deletion.FAILED.value],
        "PruneGone": counts[Deletion.GONE.value],
        "PruneDryRun": counts[Deletion.DRY_RUN.value],
        "PruneBlocked": counts[Deletion.BREAKER.value],
        "BreakerTripped": 1 if report.breaker and not report.dry_run else 0,
        "SnapshotsKept": counts["kept"],
    }
