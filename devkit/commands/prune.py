"""``snapstack prune --policy NAME [--apply]``: a policy's keep-set and delete-set, and the rule
behind each snapshot; deletes only with ``--apply``.

The policy comes from the prune function's configuration (``functions/prune/snapstack.json``
through template.yml, or ``--config``). ECS is the in-process emulator unless ``--endpoint`` is
given; "now" is the emulator's virtual clock, or the real one with ``--endpoint`` (``--now``
overrides both). ``--apply`` is the operator's consent: the stack's first-run dry run does not
apply here. Logs go to stderr, the plan to stdout.

Exit codes (``devkit.exitcodes``): OK for a dry run or when every planned deletion happened;
FAILED when a deletion failed or the breaker stopped the run; USAGE for an unknown policy;
BAD_INPUT for a configuration that cannot be used; TOOL_ERROR when ECS could not be read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit import exitcodes
from devkit.local.output import function_output
from devkit.local.runner import local_env, make_context, overlay_env
from devkit.local.session import add_target_arguments, function_spec, target_from

if TYPE_CHECKING:
    from snapstack.retention.run import PruneReport

NO_APPLY = "dry run (no --apply)"


def register(subparsers: Any) -> None:
    """Add ``prune``."""
    parser = subparsers.add_parser(
        "prune", help="show (and with --apply, delete) what a policy's retention deletes"
    )
    parser.add_argument("--policy", required=True, help="policy name in the prune configuration")
    parser.add_argument("--apply", action="store_true", help="delete the delete-set (default: dry run)")
    parser.add_argument("--function", default="prune", help="function in template.yml whose config to use")
    parser.add_argument("--config", type=Path, default=None, help="a prune configuration file instead")
    parser.add_argument(
        "--now", type=_moment, default=None, help="ISO time to prune as of (default: see above)"
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    add_target_arguments(parser)
    parser.set_defaults(func=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    """Load the policy, plan (and maybe delete), print; see the module docstring for exit codes."""
    from snapstack.config import ConfigError, load_config
    from snapstack.ecs.errors import EcsError
    from snapstack.execute import RunStats
    from snapstack.handlers.runtime import Runtime
    from snapstack.invocation import Invocation
    from snapstack.observability import bind_invocation
    from snapstack.retention.config import PruneConfig
    from snapstack.retention.run import prune_policy

    with target_from(args) as (template, target, emulator):
        spec = function_spec(template, args.function)  # UsageError naming the functions
        env = {"SNAPSTACK_CONFIG": str(args.config)} if args.config else {}
        with overlay_env({**local_env(spec, target, args.token_table), **env}):
            try:
                config = load_config(PruneConfig, spec.source)
            except ConfigError as exc:
                print(f"snapstack prune: {exc}", file=sys.stderr)
                return exitcodes.BAD_INPUT
            policy = config.named(args.policy)
            if policy is None:
                known = ", ".join(p.name for p in config.policies)
                print(f"snapstack prune: no policy {args.policy!r} (configured: {known})", file=sys.stderr)
                return exitcodes.USAGE
            now = _now(args.now, emulator)
            context = make_context(template, spec, target)
            invocation = Invocation.from_fc(context)
            # log lines to stderr, the plan to stdout; on a terminal, a line counting deletions
            with function_output(logging.NOTSET, progress="prune", unit=" snapshot"):
                runtime = Runtime(invocation, bind_invocation(invocation), RunStats(), spec.source)
                try:
                    report = prune_policy(
                        runtime.ecs,
                        runtime.region,
                        policy,
                        stack=invocation.service_name,
                        now=now,
                        logger=runtime.logger,
                        dry_run=None if args.apply else NO_APPLY,
                        labels={"trigger": "cli"},
                        detail=True,
                    )
                except EcsError as exc:
                    print(f"snapstack prune: reading ECS failed: {exc}", file=sys.stderr)
                    return exitcodes.TOOL_ERROR
    print(json.dumps(as_json(report), indent=2) if args.json else as_text(report))
    return _exit_code(report)


def _moment(text: str) -> datetime:
    """``--now``: an ISO 8601 time, UTC when it names no zone; a usage error otherwise."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-30T04:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _now(given: datetime | None, emulator: Any) -> datetime:
    if given is not None:
        return given
    if emulator is not None:
        return datetime.fromtimestamp(emulator.state.clock.now(), timezone.utc)
    return datetime.now(timezone.utc)


def _exit_code(report: PruneReport) -> int:
    counts = report.counts()
    if report.dry_run is None and (report.breaker or counts["failed"]):
        return exitcodes.FAILED
    return exitcodes.OK


def _outcome(report: PruneReport) -> dict[str, str]:
    """The end of each planned deletion, by snapshot id: ``deleted``, ``failed Code``..."""
    return {
        r.decision.snapshot.snapshot_id: " ".join(filter(None, (r.outcome.value, r.error_code)))
        for r in report.results
    }


def as_text(report: PruneReport) -> str:
    """The keep-set and delete-set, disk by disk, times in the policy's zone."""
    plan, zone = report.plan, report.plan.policy.zone
    counts = report.counts()
    mode = report.dry_run or "applied"
    head = (
        f"policy {plan.policy.name} ({plan.policy.time_zone}), {mode}: {counts['disks']} disk(s), "
        f"{counts['snapshots']} snapshot(s) of the policy: keep {counts['kept']}, "
        f"delete {len(report.results)}"
    )
    lines = [head]
    if report.breaker:
        lines.append(f"breaker tripped, nothing deleted: {report.breaker}")
    ends = _outcome(report)
    for disk in plan.disks:
        others = f"{disk.foreign} foreign, {disk.other_policies} of other policies (never touched)"
        gone = "" if disk.exists else ", released"
        lines.append(f"{disk.disk_id}{gone}: keep {len(disk.kept)}, delete {len(disk.deletions)}; {others}")
        for d in disk.decisions:
            when = d.snapshot.created.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            verb = "delete" if d.delete else "keep"
            force = " (Force)" if d.force else ""
            end = f"  -> {ends[d.snapshot.snapshot_id]}" if d.delete else ""
            lines.append(
                f"  {verb:<6}  {d.snapshot.snapshot_id:<24}  {when}  {', '.join(d.rules)}{force}{end}"
            )
    lines.append(
        "deletions: "
        + ", ".join(f"{k} {counts[k]}" for k in ("deleted", "gone", "failed", "dry_run", "breaker"))
    )
    return "\n".join(lines)


def as_json(report: PruneReport) -> dict[str, Any]:
    """The plan as JSON: the run's counts, then every decision."""
    from snapstack.handlers.prune import describe

    ends = _outcome(report)
    return {
        **describe(report),
        "decisions": [
            {
                "disk_id": d.snapshot.disk_id,
                "snapshot_id": d.snapshot.snapshot_id,
                "created": d.snapshot.created.isoformat(),
                "action": "delete" if d.delete else "keep",
                "rules": list(d.rules),
                **({"force": True} if d.force else {}),
                **({"outcome": ends[d.snapshot.snapshot_id]} if d.delete else {}),
            }
            for disk in report.plan.disks
            for d in disk.decisions
        ],
    }
