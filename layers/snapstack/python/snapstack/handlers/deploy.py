"""deploy_hook: a release is about to go out (or just went out); its disks are snapshotted once.

Two ways in, one rule:

- a **direct request** (decision D4, ``events/deploy.py``): a CI job invokes the function with a
  deploy id, a reason and the targets;
- an **OSS event** from a configured deploy bucket, for an event that means the object now
  exists in full (``FINAL_EVENT_NAMES``; others are ignored with a note and no call at all).
  A manifest object (``manifest.suffix``) names the targets; any other key is read by the first
  key rule whose pattern matches it.

Either way only disks the policy's selector also covers are touched (the allow-list), and the
slot is the release: deploy id + disk. The deploy id is the request's, the manifest's, the key
rule's (``releases/{app}/{version}/``), or else the object version (key + eTag). So a redelivered
event, a re-run CI job or a manifest for a deploy already requested snapshots nothing new, and a
new deploy id snapshots again even for identical bytes.

Nothing in an event chooses a host, bucket, region, name, retention or tag: the bucket must be a
configured deploy bucket, the record's region the function's own, the key a plain object key,
and the OSS endpoint comes from configuration (``config.oss_endpoint``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapstack.config import DeployConfig, deploy_buckets, load_config, oss_endpoint
from snapstack.ecs.client import EcsConfig
from snapstack.events.decode import decode_event
from snapstack.events.deploy import DeployRequest
from snapstack.events.oss import OssEvent, OssRecord, key_problem
from snapstack.execute import Intent
from snapstack.handlers.manifest import read_manifest
from snapstack.handlers.planning import build_intents, split_allowed
from snapstack.handlers.runtime import BadInput, Plan, Runtime, invoke
from snapstack.observability import log_fields
from snapstack.policy.model import Selector
from snapstack.targets import resolve

#: The trigger of every deploy slot, whatever carried the request: a manifest and a direct
#: request for the same deploy id share each disk's slot.
TRIGGER = "deploy"


@dataclass(frozen=True)
class Release:
    """One deploy to snapshot for: its id, the targets asked for, why, and where it came from.

    ``label`` is what ``{slot}`` shows in snapshot names (``build_intents`` makes it name-safe).
    """

    deploy_id: str
    selectors: list[Selector]
    reason: str
    origin: str
    label: str


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for deploy_hook."""
    return invoke(event, context, trigger=TRIGGER, function_dir=function_dir, planner=plan)


def plan(event: Any, runtime: Runtime) -> Plan:
    """Decode the request or OSS event, find the releases, resolve and allow-list their targets."""
    decoded = decode_event(event, expect="deploy")
    config = load_config(DeployConfig, runtime.function_dir)
    notes: list[str] = []
    if isinstance(decoded, DeployRequest):
        request = decoded
        releases = [
            Release(request.deploy_id, request.selectors(), request.reason, "request", request.deploy_id)
        ]
    elif isinstance(decoded, OssEvent):
        releases = _oss_releases(decoded, config, runtime, notes)
    else:  # expect= guarantees one of the two; this narrows the type
        raise TypeError(type(decoded).__name__)
    policy = config.policy
    plan_ = Plan(policy, labels={"policy": policy.name}, notes=notes)
    seen: set[str] = set()
    for release in releases:
        asked = {d.disk_id: d for sel in release.selectors for d in resolve(runtime.ecs, runtime.region, sel)}
        disks, denied = split_allowed(runtime, [asked[k] for k in sorted(asked)], policy.selector)
        intents, refused = build_intents(
            policy,
            disks,
            trigger=TRIGGER,
            slot_parts={"deploy": release.deploy_id},
            slot=release.label,
            reason=release.reason,
        )
        plan_.intents += _unique(intents, seen)
        plan_.results += denied + refused
        if not disks and not denied:
            notes.append(f"{release.origin}: the request matched no disks")
    if releases:
        plan_.labels["deploy"] = ",".join(sorted({r.deploy_id for r in releases}))
    return plan_


def _oss_releases(event: OssEvent, config: DeployConfig, runtime: Runtime, notes: list[str]) -> list[Release]:
    """The releases an OSS event's records name. A record refused as bad input costs only itself,
    unless it is the only one (then the invocation is bad input, as for any other event)."""
    buckets = deploy_buckets(config)
    region = EcsConfig.from_env(fallback_region=runtime.invocation.region or None).region_id
    releases: list[Release] = []
    refused: list[tuple[int, BadInput]] = []
    for index, record in enumerate(event.records):
        try:
            _check_trusted(record, index, buckets, region)
            if not record.is_final:
                notes.append(f"{record.object_key}: ignored {record.event_name}, not a final upload event")
                runtime.logger.info(
                    "ignored: not a final upload event",
                    extra=log_fields(event_name=record.event_name, key=record.object_key),
                )
                continue
            release = _release_of(record, config, runtime, region)
        except BadInput as exc:
            refused.append((index, exc))
            continue
        if isinstance(release, str):
            notes.append(release)
        else:
            releases.append(release)
    if refused and len(refused) == len(event.records):
        raise refused[0][1]
    for index, bad in refused:
        notes.append(f"record {index} refused: {bad}")
        runtime.logger.error(
            "bad input: record skipped",
            extra=log_fields(error_code="BadInput", source=bad.source, field=bad.field, rule=bad.rule),
        )
    return releases


def _check_trusted(record: OssRecord, index: int, buckets: frozenset[str], region: str) -> None:
    """Refuse a record whose bucket, region or key the configuration does not vouch for."""
    where = f"event record {index}"
    if not buckets:
        raise BadInput(where, "oss.bucket.name", "no deploy bucket is configured (see buckets)")
    if record.bucket_name not in buckets:
        raise BadInput(where, "oss.bucket.name", f"{record.bucket_name[:64]!r} is not a deploy bucket")
    if record.bucket_arn.rsplit(":", 1)[-1] != record.bucket_name:
        raise BadInput(where, "oss.bucket.arn", "names another bucket than oss.bucket.name")
    if record.region != region:
        raise BadInput(where, "region", f"{record.region[:64]!r} is not this function's region {region!r}")
    for key in record.key_candidates:
        problem = key_problem(key)
        if problem is not None:
            raise BadInput(where, "oss.object.key", f"{key[:200]!r} {problem}")


def _release_of(record: OssRecord, config: DeployConfig, runtime: Runtime, region: str) -> Release | str:
    """The release an upload names, or the note saying why it names none."""
    if config.manifest.enabled and record.object_key.endswith(config.manifest.suffix):
        found = read_manifest(record, config.manifest, oss_endpoint(region), runtime)
        if found is None:
            return f"{record.object_key}: changed since this event; its newer event will handle it"
        manifest = found.manifest
        return _release(
            config,
            record,
            found.key,
            selectors=manifest.selectors(),
            reason=manifest.reason,
            named=manifest.deploy_id,
        )
    match = config.release_of(record.object_key)
    if match is None:
        return f"{record.object_key}: no key rule or manifest applies"
    reason = f"deploy of {record.object_key}"
    return _release(config, record, record.object_key, selectors=[match.selector], reason=reason, named=None)


def _release(
    config: DeployConfig,
    record: OssRecord,
    key: str,
    *,
    selectors: list[Selector],
    reason: str,
    named: str | None,
) -> Release:
    """The release of the object at ``key``: the deploy id ``named`` (a manifest's), else the first
    key rule's, else the object version itself (key + eTag: its own release)."""
    match = config.release_of(key)
    deploy_id = named or (match.deploy_id if match else None)
    if deploy_id:
        return Release(deploy_id, selectors, reason, key, deploy_id)
    version = f"{key}@{record.etag}"
    return Release(version, selectors, reason, key, f"{key.rsplit('/', 1)[-1]}-{record.etag[:8]}")


def _unique(intents: list[Intent], seen: set[str]) -> list[Intent]:
    fresh = [i for i in intents if i.token not in seen]
    seen.update(i.token for i in fresh)
    return fresh
