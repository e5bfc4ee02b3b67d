"""``snapstack report [--policy P] [--json]``: each policy's disks against their RPO, from ECS and the
token table.

Per policy and disk: the newest snapshot of ours (id, time, status), how long the disk has gone
without an accomplished one against the policy's RPO, the slots still open and where they stand,
and the failures recorded with their reason. The policies and their RPO come from the reconciler's
configuration (``functions/reconciler/snapstack.json`` through template.yml, or ``--config``);
the token table's records add rows for policies it does not hold (deploy or alarm policies: no RPO).
ECS is read with DescribeDisks/DescribeInstances/DescribeSnapshots only (``snapstack.reconcile``).

stdout holds only the report (aligned columns, or JSON with ``--json``); errors go to stderr.
Exit codes (``devkit/exitcodes.py``): 0 every disk within its RPO and nothing open or failing;
1 a disk breaches its RPO, or a slot failed after the disk's newest accomplished snapshot; 3 slots
are still open (the reconciler is on them); 2 usage (no template or configuration, an unknown
``--policy``, a SQLite table that does not exist); 4 the configuration is invalid; 5 ECS or the
token table could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit import exitcodes

if TYPE_CHECKING:
    from snapstack.ecs.client import EcsClient
    from snapstack.policy.model import Policy
    from snapstack.reconcile.inventory import SnapshotInfo
    from snapstack.reconcile.rpo import DiskHealth
    from snapstack.tokens.base import TokenRecord, TokenTable

DEFAULT_REGION = "cn-hangzhou"
FUNCTION = "reconciler"
_COLUMNS = ("policy", "disk", "snapshot", "created", "status", "age", "rpo", "verdict", "open", "failed")


def register(subparsers: Any) -> None:
    """Add ``report``."""
    parser = subparsers.add_parser(
        "report", help="each policy's disks against their RPO, open slots, failures"
    )
    parser.add_argument("--policy", help="only this policy")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.add_argument("--config", type=Path, help="policies (default: the reconciler's, via --template)")
    parser.add_argument("--template", type=Path, default=Path("template.yml"), help="stack template")
    parser.add_argument(
        "--token-table", help="token table URL (default: $SNAPSTACK_TOKEN_TABLE or the SQLite file)"
    )
    parser.add_argument(
        "--endpoint", help="ECS endpoint host:port (e.g. the emulator); default: the region's"
    )
    parser.add_argument("--region", help=f"region (default: $SNAPSTACK_REGION, else {DEFAULT_REGION})")
    parser.add_argument("--access-key-id", help="default: $ALIBABA_CLOUD_ACCESS_KEY_ID")
    parser.add_argument("--access-key-secret", help="default: $ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    parser.add_argument("--now", help="judge ages at this time (ISO 8601; default: now)")
    parser.set_defaults(func=run_report)


class ReportError(Exception):
    """A problem that ends the command with one line on stderr and ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Row:
    """One policy and disk."""

    policy: str
    disk_id: str
    health: DiskHealth | None = None  # None: a disk the policy does not select, or no RPO for it
    configured: bool = True  # False: a policy only the token table knows (no RPO here)
    open: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current_failures(self) -> list[dict[str, Any]]:
        """Failures recorded after the disk's newest accomplished snapshot (not repaired since)."""
        good = self.health.accomplished if self.health else None
        return [f for f in self.failures if good is None or f["updated_epoch"] > good.created]


def run_report(args: argparse.Namespace) -> int:
    """Gather, print, and exit with the code the module docstring gives."""
    try:
        rows, now = gather(args)
    except ReportError as exc:
        print(f"snapstack report: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        print(json.dumps(document(rows, now), indent=2))
    else:
        print(render(rows, now))
    if any((r.health is not None and r.health.breach) or r.current_failures for r in rows):
        return exitcodes.FAILED
    return exitcodes.INCOMPLETE if any(r.open for r in rows) else exitcodes.OK


def gather(args: argparse.Namespace) -> tuple[list[Row], float]:
    """The rows of the report and the time it judges at."""
    from snapstack.ecs.errors import EcsError
    from snapstack.reconcile import rpo
    from snapstack.tokens import TokenTableError

    now = _now(args.now)
    policies = _policies(args)
    table = _table(args.token_table)
    try:
        records = [r for r in table.records() if r.meta.get("disk_id")]
        skew, table_now = table.clock_skew, table.clock()
    except TokenTableError as exc:
        missing = "does not exist" in str(exc) and table.scheme == "sqlite"
        code = exitcodes.USAGE if missing else exitcodes.TOOL_ERROR
        raise ReportError(f"the token table could not be read: {exc}", code) from None
    finally:
        table.close()
    if args.policy:
        if args.policy not in {p.name for p in policies} and not any(
            r.meta.get("policy") == args.policy for r in records
        ):
            known = ", ".join(sorted({p.name for p in policies})) or "none"
            raise ReportError(
                f"--policy {args.policy}: not in the configuration ({known}) nor in the token table",
                exitcodes.USAGE,
            )
        policies = [p for p in policies if p.name == args.policy]
        records = [r for r in records if r.meta.get("policy") == args.policy]
    ecs = _ecs(args)
    try:
        health = rpo.check(ecs, ecs.config.region_id, policies, now, stack=_stack(args.template))
    except EcsError as exc:
        raise ReportError(f"ECS could not be read: {exc}", exitcodes.TOOL_ERROR) from None
    failed = [p for p in health if p.error]
    if failed:
        raise ReportError(f"policy {failed[0].policy}: {failed[0].error}", exitcodes.TOOL_ERROR)
    rows: dict[tuple[str, str], Row] = {}
    for policy in health:
        for disk in policy.disks:
            rows[(policy.policy, disk.disk_id)] = Row(policy.policy, disk.disk_id, disk)
    configured = {p.policy for p in health}
    for record in records:
        filed = _file(record, table_now, skew)
        if filed is None:
            continue
        key = (record.meta.get("policy", "-"), record.meta["disk_id"])
        row = rows.setdefault(key, Row(*key, configured=key[0] in configured))
        (row.failures if filed[0] == "failed" else row.open).append(filed[1])
    return sorted(rows.values(), key=lambda r: (r.policy, r.disk_id)), now


def _file(record: TokenRecord, now: float, skew: float) -> tuple[str, dict[str, Any]] | None:
    """``("open"|"failed", entry)`` for a record the report shows; None for a created one."""
    from snapstack.reconcile.sources import gave_up
    from snapstack.tokens.base import LEASED_STATES, TokenState

    state = record.state
    entry = {
        "token": record.token,
        "slot": record.meta.get("slot", ""),
        "state": state.value,
        "attempts": record.attempts,
        "error_code": record.error_code,
        "detail": record.detail,
        "updated": _iso(record.updated_at),
        "updated_epoch": record.updated_at,
    }
    if state is TokenState.CREATED:
        return None
    if state in LEASED_STATES:
        held = "lease expired: the reconciler takes it" if record.lease_expired(now, skew) else "live"
        entry["stands"] = f"{state.value}, {held}"
    elif record.retryable:
        entry["stands"] = f"deferred ({record.error_code}): the next delivery or the reconciler retries it"
    elif gave_up(record):
        entry["stands"] = f"given up by its deliveries ({record.error_code}): the reconciler retries it"
    elif record.in_doubt:
        entry["stands"] = f"failed ({record.error_code}), in doubt: the reconciler looks it up"
    else:
        return "failed", entry
    if "deadline" in record.meta:
        entry["deadline"] = _iso(float(record.meta["deadline"]))
    return "open", entry


def render(rows: list[Row], now: float) -> str:
    """The report as aligned columns, then the open slots and the failures with their reasons."""
    from snapstack.reconcile.rpo import duration

    if not rows:
        return f"no disks to report (at {_iso(now)})"
    lines: list[tuple[str, ...]] = [_COLUMNS]
    for row in rows:
        health = row.health
        last = health.last if health else None
        lines.append(
            (
                row.policy,
                row.disk_id,
                last.snapshot_id if last else "-",
                _iso(last.created) if last else "-",
                last.status if last else "-",
                duration(health.age_seconds) if health and health.age_seconds is not None else "-",
                duration(health.rpo_seconds) if health else "-",
                _verdict(row),
                str(len(row.open)) if row.open else "-",
                str(len(row.failures)) if row.failures else "-",
            )
        )
    out = [_aligned(lines), ""]
    breaches = sum(1 for r in rows if r.health is not None and r.health.breach)
    out.append(f"at {_iso(now)}: {len(rows)} disk(s), {breaches} RPO breach(es)")
    opened = [(r, s) for r in rows for s in r.open]
    if opened:
        out.append("\nopen slots:")
        out += [
            f"  {r.policy} {r.disk_id} {s['slot']}: {s['stands']}, {s['attempts']} attempt(s)"
            for r, s in opened
        ]
    failed = [(r, f) for r in rows for f in r.failures]
    if failed:
        out.append("\nfailures:")
        out += [
            f"  {r.policy} {r.disk_id} {f['slot']}: {f['error_code']}: {f['detail'] or ''}".rstrip()
            for r, f in failed
        ]
    return "\n".join(out)


def _verdict(row: Row) -> str:
    if row.health is None:
        return "not selected" if row.configured else "no RPO"
    return {"ok": "ok", "breach": "BREACH"}.get(row.health.verdict, "not checked")


def document(rows: list[Row], now: float) -> dict[str, Any]:
    """The report as JSON: one entry per policy, its disks with every field the table shows."""
    policies: dict[str, dict[str, Any]] = {}
    for row in rows:
        health = row.health
        entry = policies.setdefault(
            row.policy,
            {"policy": row.policy, "rpo_seconds": health.rpo_seconds if health else None, "disks": []},
        )
        entry["disks"].append(
            {
                "disk_id": row.disk_id,
                "instance_id": health.instance_id if health else None,
                "last_snapshot": _snapshot(health.last if health else None),
                "last_accomplished": _snapshot(health.accomplished if health else None),
                "age_seconds": None
                if not health or health.age_seconds is None
                else round(health.age_seconds),
                "rpo_seconds": health.rpo_seconds if health else None,
                "verdict": health.verdict if health else ("not-selected" if row.configured else "no-rpo"),
                "reason": health.reason if health else None,
                "open_slots": [_public(s) for s in row.open],
                "failures": [{**_public(f), "current": f in row.current_failures} for f in row.failures],
            }
        )
    breaches = sum(1 for r in rows if r.health is not None and r.health.breach)
    return {"now": _iso(now), "breaches": breaches, "policies": list(policies.values())}


def _snapshot(snap: SnapshotInfo | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    return {"snapshot_id": snap.snapshot_id, "created": _iso(snap.created), "status": snap.status}


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "updated_epoch"}


# -- inputs ----------------------------------------------------------------------------------------


def _now(text: str | None) -> float:
    if not text:
        return time.time()
    from snapstack.reconcile.inventory import parse_time

    try:
        return parse_time(text)
    except ValueError:
        raise ReportError(
            f"--now {text!r}: not an ISO 8601 time (e.g. 2026-11-28T02:00:00Z)", exitcodes.USAGE
        ) from None


def _policies(args: argparse.Namespace) -> list[Policy]:
    from snapstack.config import ConfigError, load_config
    from snapstack.reconcile.config import ReconcilerConfig

    env = dict(os.environ)
    if args.config is not None:
        if not args.config.is_file():
            raise ReportError(f"--config {args.config}: no such file", exitcodes.USAGE)
        env["SNAPSTACK_CONFIG"], function_dir = str(args.config), None
        env.pop("SNAPSTACK_CONFIG_JSON", None)
    else:
        function_dir = _function_dir(args.template)
    try:
        return list(load_config(ReconcilerConfig, function_dir, env).policies)
    except ConfigError as exc:
        raise ReportError(str(exc), exitcodes.BAD_INPUT) from None


def _function_dir(template: Path) -> Path:
    from devkit.local.template import load_template

    if not template.is_file():
        raise ReportError(
            f"no stack template at {template}: run from the repository root, or give --template or --config",
            exitcodes.USAGE,
        )
    try:
        return load_template(template).function(FUNCTION).source
    except Exception as exc:  # a template this tool cannot read, or no reconciler in it
        raise ReportError(f"{template}: {exc}", exitcodes.USAGE) from None


def _table(url: str | None) -> TokenTable:
    from snapstack.tokens import DEFAULT_URL, URL_ENV, open_table

    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    # A report never creates a table: a wrong SQLite path must say so, not report nothing.
    options = {"create": False} if url.startswith("sqlite:") else {}
    try:
        return open_table(url, **options)
    except ValueError as exc:
        raise ReportError(str(exc), exitcodes.USAGE) from None


def _ecs(args: argparse.Namespace) -> EcsClient:
    from snapstack.ecs.client import EcsClient, EcsConfig
    from snapstack.ecs.credentials import Credentials, resolve_credentials
    from snapstack.ecs.errors import EcsError

    explicit = None
    if args.access_key_id and args.access_key_secret:
        explicit = Credentials(args.access_key_id, args.access_key_secret)
    overrides: dict[str, Any] = {}
    if args.endpoint:
        endpoint, protocol = args.endpoint, "http"
        for scheme in ("http", "https"):
            if endpoint.startswith(f"{scheme}://"):
                endpoint, protocol = endpoint[len(scheme) + 3 :].rstrip("/"), scheme
        overrides = {"endpoint": endpoint, "protocol": protocol}
    if args.region:
        overrides["region_id"] = args.region
    try:
        config = EcsConfig.from_env(fallback_region=DEFAULT_REGION, **overrides)
        credentials = explicit or resolve_credentials()
    except EcsError as exc:
        raise ReportError(
            f"{exc.message} (give --access-key-id and --access-key-secret)", exitcodes.USAGE
        ) from None
    return EcsClient(config, credentials)


def _aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _iso(epoch: float) -> str:
    from snapstack.reconcile.redrive import iso

    return iso(epoch)


def _stack(template: Path) -> str:
    """The stack whose snapshots count: the FC service name template.yml gives (its default)."""
    from devkit.local.template import load_template

    return load_template(template).service_name
