"""deploy_hook: an object lands in the deploy bucket; the disks it names are snapshotted once.

Targets come from a manifest object (``manifest.suffix``; the union of the instances, disks
and disk tags it lists) or from the first key rule whose pattern matches the key; either way
only disks the policy's selector also covers are touched (the allow-list). The slot is the
object version: bucket + key + eTag, so a redelivered event never snapshots twice and a
re-upload with new content does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snapstack.config import DeployConfig, load_config
from snapstack.events.decode import decode_event
from snapstack.events.oss import OssEvent, OssRecord
from snapstack.execute import Intent
from snapstack.handlers.manifest import read_manifest
from snapstack.handlers.planning import build_intents, compact, split_allowed
from snapstack.handlers.runtime import Plan, Runtime, invoke
from snapstack.policy.model import Selector
from snapstack.targets import resolve

TRIGGER = "oss"


def handle(event: Any, context: Any, function_dir: Path | None = None) -> dict[str, Any]:
    """FC entry point body for deploy_hook."""
    return invoke(event, context, trigger=TRIGGER, function_dir=function_dir, planner=plan)


def plan(event: Any, runtime: Runtime) -> Plan:
    """Decode the OSS event, read manifests, resolve and allow-list the targets."""
    decoded = decode_event(event, expect="oss")
    if not isinstance(decoded, OssEvent):  # expect= guarantees it; this narrows the type
        raise TypeError(type(decoded).__name__)
    config = load_config(DeployConfig, runtime.function_dir)
    requests: list[tuple[OssRecord, list[Selector], str]] = []
    notes: list[str] = []
    for record in decoded.records:
        key = record.object_key
        if config.manifest.enabled and key.endswith(config.manifest.suffix):
            manifest = read_manifest(record, config.manifest, runtime)
            if manifest is None:
                notes.append(f"{key}: changed since this event; its newer event will handle it")
                continue
            requests.append((record, manifest.selectors(), manifest.safe_reason()))
            continue
        rule = next((s for r in config.key_rules if (s := r.selector_for(key)) is not None), None)
        if rule is None:
            notes.append(f"{key}: no key rule or manifest applies")
            continue
        requests.append((record, [rule], f"deploy of {key}"[:100]))
    policy = config.policy
    plan_ = Plan(policy, labels={"policy": policy.name}, notes=notes)
    seen: set[str] = set()
    for record, selectors, reason in requests:
        asked = {d.disk_id: d for sel in selectors for d in resolve(runtime.ecs, runtime.region, sel)}
        disks, denied = split_allowed(runtime, [asked[k] for k in sorted(asked)], policy.selector)
        intents, refused = build_intents(
            policy,
            disks,
            trigger=TRIGGER,
            slot_parts={"bucket": record.bucket_name, "key": record.object_key, "etag": record.etag},
            slot=compact(record.event_time),
            reason=reason,
        )
        plan_.intents += _unique(intents, seen)
        plan_.results += denied + refused
        if not disks and not denied:
            notes.append(f"{record.object_key}: the request matched no disks")
    return plan_


def _unique(intents: list[Intent], seen: set[str]) -> list[Intent]:
    fresh = [i for i in intents if i.token not in seen]
    seen.update(i.token for i in fresh)
    return fresh
