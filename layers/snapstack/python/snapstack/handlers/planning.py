"""From disks to intents: slot keys, tokens, rendered requests; the allow-list check; and the one
target lookup a whole alarm batch shares.

``build_intents`` plans a list of disks (the few an alarm or a deploy names); ``stream_intents``
plans a listing page by page for a fleet (scheduled backups), reading each page's slot records
in bulk first so a slot already done costs neither an instance look-up nor a rendered request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING

from snapstack.ecs.errors import InvalidRequest
from snapstack.execute import Batch, DiskResult, Hold, Intent, Outcome, settled
from snapstack.handlers.runtime import current_invocation
from snapstack.policy import naming
from snapstack.reconcile.deadlines import slot_deadline
from snapstack.targets import (
    IDS_PER_CALL,
    Disk,
    InstanceStates,
    SelectorMatch,
    describe_disks,
    selector_instances,
)
from snapstack.tokens.slots import client_token, slot_key

if TYPE_CHECKING:
    from snapstack.handlers.runtime import Runtime
    from snapstack.policy.model import Policy, Selector


#: Requests rendered and handed to the executor at a time within a listing page.
PLAN_BATCH = 100


def compact(moment: date, *, with_time: bool = True) -> str:
    """A slot, event time or date as it appears in snapshot names (no characters names refuse)."""
    return moment.strftime("%Y%m%dT%H%M" if with_time else "%Y%m%d")


class _Planner:
    """What every disk of one plan shares: the policy, the trigger, the slot, the namespace, the
    ``{date}`` shown in names and the reconciler's deadline (see ``build_intents``).

    ``reason`` and ``slot`` may come from an event: they are cleaned here, for every trigger
    (``naming.clean_text``, ``naming.name_part``).
    """

    def __init__(
        self,
        policy: Policy,
        *,
        trigger: str,
        slot_parts: dict[str, str],
        slot: str,
        reason: str,
        day: date | None,
        slot_end: datetime | None,
    ) -> None:
        self.policy = policy
        self.trigger = trigger
        self.slot_parts = slot_parts
        self.slot = naming.name_part(slot)
        self.reason = naming.clean_text(reason)
        self.namespace = _namespace(policy.name)
        self.labels = {"policy": policy.name, "trigger": trigger, "slot": self.slot}
        self.day = compact(datetime.now(policy.zone) if day is None else day, with_time=False)
        self.deadline = slot_deadline(trigger, end=slot_end)

    def key(self, disk: Disk) -> tuple[str, str]:
        """The disk's slot key and slot token."""
        key = slot_key(self.trigger, **self.slot_parts, disk=disk.disk_id, **self.namespace)
        return key, client_token(key)

    def plan(self, disk: Disk, key: str, token: str) -> Intent | DiskResult:
        """The disk's intent, or its result when planning already decides it (no ECS call)."""
        blocked, hold = _instance_check(disk, token)
        if blocked is not None:
            return blocked
        values = {
            "policy": self.policy.name,
            "trigger": self.trigger,
            "disk_id": disk.disk_id,
            "instance_id": disk.instance_id or "none",
            "slot": self.slot,
            "date": self.day,
            "reason": self.reason,
        }
        provenance = {
            "policy": self.policy.name,
            "trigger": self.trigger,
            "slot": token,
            "stack": self.namespace["ns_stack"],
        }
        try:
            request = self.policy.request_for(values, provenance, client_token=token, disk_tags=disk.tags)
        except InvalidRequest as exc:
            return DiskResult(
                disk_id=disk.disk_id,
                outcome=Outcome.FAILED,
                token=token,
                error_code=exc.code,
                message=str(exc),
            )
        return Intent(
            disk_id=disk.disk_id,
            instance_id=disk.instance_id,
            slot_key=key,
            token=token,
            request=request,
            labels=self.labels,
            hold=hold,
            deadline=self.deadline,
        )


def build_intents(
    policy: Policy,
    disks: Iterable[Disk],
    *,
    trigger: str,
    slot_parts: dict[str, str],
    slot: str,
    reason: str = "",
    day: date | None = None,
    slot_end: datetime | None = None,
) -> tuple[list[Intent], list[DiskResult]]:
    """One intent per disk; a disk whose request breaks a rule fails here, with no ECS call.

    Each disk's slot key is ``slot_parts`` plus ``disk`` (what the snapshot is for) plus the
    namespace (decision D3): the FC service, the function and the policy, as ``ns_stack``,
    ``ns_function`` and ``ns_policy``, so two stacks or two policies never share a ClientToken.
    ``reason`` and ``slot`` may come from an event: they are cleaned (see ``_Planner``).

    ``{date}`` (``YYYYMMDD``) is ``day``: the slot's date where the slot is a time (a timer's slot,
    an alarm's window), so every delivery of the slot renders the same request. Without one (a
    deploy slot is a release, not a time) it is the invocation's date in the policy's time zone;
    a redelivery after local midnight then renders another name under the same ClientToken, which
    the executor resolves to the snapshot that exists (``IdempotentParameterMismatch``).

    A disk whose instance was never started is ``skipped`` (ECS refuses it until the instance has
    run once: nothing to back up yet); one whose instance is starting or stopping gets a ``Hold``
    (the executor defers it without an ECS call, within the delivery bound).

    Every intent carries the slot's deadline for the reconciler: ``slot_end`` + grace for a
    schedule slot, now + FC's event max age otherwise (``reconcile/deadlines.py``).
    """
    planner = _Planner(
        policy, trigger=trigger, slot_parts=slot_parts, slot=slot, reason=reason, day=day, slot_end=slot_end
    )
    intents: list[Intent] = []
    refused: list[DiskResult] = []
    for disk in disks:
        planned = planner.plan(disk, *planner.key(disk))
        if isinstance(planned, Intent):
            intents.append(planned)
        else:
            refused.append(planned)
    return intents, refused


def stream_intents(
    runtime: Runtime,
    policy: Policy,
    pages: Iterable[list[Disk]],
    *,
    trigger: str,
    slot_parts: dict[str, str],
    slot: str,
    reason: str = "",
    day: date | None = None,
    slot_end: datetime | None = None,
    allow: AllowList | None = None,
) -> Iterator[Batch]:
    """``build_intents`` one listing page at a time, as the executor pulls the batches (``day``
    and ``slot_end`` as there: every intent carries the slot's ``{date}`` and deadline).

    Per page: the disks ``allow`` does not cover are ``denied`` (``NotAllowed``); the slot tokens
    are derived and their records read in one bulk call (``runtime.slot_records``, when the
    runtime executes); a slot already done or failed for good is settled from its record
    (``execute.settled``) with no instance look-up and no request rendered; only the other disks get their
    instance's state (``InstanceStates``, bounded) and their request, rendered and handed over
    ``PLAN_BATCH`` at a time, so the first creates of a page start before its last request is
    built. The batches carry the records read, so the executor does not read them again.
    """
    planner = _Planner(
        policy, trigger=trigger, slot_parts=slot_parts, slot=slot, reason=reason, day=day, slot_end=slot_end
    )
    instances = InstanceStates(runtime.ecs, runtime.region)
    for page in pages:
        results: list[DiskResult] = []
        disks = page
        if allow is not None:
            disks, denied = allow.split(page)
            results += denied
        keyed = [(disk, *planner.key(disk)) for disk in disks]
        read = runtime.slot_records
        records = dict(read(token for _, _, token in keyed)) if read is not None and keyed else {}
        todo = []
        for disk, key, token in keyed:
            done = settled(disk.disk_id, token, records.get(token))
            if done is None:
                todo.append((disk, key, token))
            else:
                results.append(done)
        todo.sort(key=lambda t: t[2] not in records)  # stable: slots left unfinished go first
        known = records if read is not None else None
        if results:
            yield Batch(results=results, labels=planner.labels)
        attached = instances.attach([disk for disk, _, _ in todo]) if todo else []
        for i in range(0, len(todo), PLAN_BATCH):
            intents: list[Intent] = []
            refused: list[DiskResult] = []
            for disk, (_, key, token) in zip(
                attached[i : i + PLAN_BATCH], todo[i : i + PLAN_BATCH], strict=True
            ):
                planned = planner.plan(disk, key, token)
                if isinstance(planned, Intent):
                    intents.append(planned)
                else:
                    refused.append(planned)
            yield Batch(intents, refused, known, planner.labels)


#: Instance states ECS snapshots in (CreateSnapshot: "not in the Stopped or Running state").
SNAPSHOTTABLE_INSTANCE_STATES = frozenset({"Running", "Stopped"})


def _namespace(policy: str) -> dict[str, str]:
    invocation = current_invocation()
    return {
        "ns_stack": invocation.service_name if invocation else "",
        "ns_function": invocation.function_name if invocation else "",
        "ns_policy": policy,
    }


def _instance_check(disk: Disk, token: str) -> tuple[DiskResult | None, Hold | None]:
    """A skip for a disk ECS can never snapshot yet, or a hold for one it cannot right now."""
    instance = disk.instance
    if instance is None:
        return None, None
    if not instance.ever_started:
        skip = DiskResult(
            disk_id=disk.disk_id,
            outcome=Outcome.SKIPPED,
            token=token,
            error_code="IncorrectInstanceStatus",
            message=f"instance {instance.instance_id} has never been started: ECS refuses snapshots "
            "of its disks until it has run once (no ECS call made)",
        )
        return skip, None
    if instance.status not in SNAPSHOTTABLE_INSTANCE_STATES:
        return None, Hold(
            code="IncorrectInstanceStatus",
            message=f"instance {instance.instance_id} is {instance.status}, not Running or Stopped",
        )
    return None, None


class AllowList:
    """An allow-list (a policy's selector) compiled once to check many disks: its instance tags
    are resolved with one DescribeInstances listing, its ids held in sets (``SelectorMatch``)."""

    def __init__(self, runtime: Runtime, allow: Selector) -> None:
        self._match = SelectorMatch(allow, selector_instances(runtime.ecs, runtime.region, allow))

    def split(self, disks: Iterable[Disk]) -> tuple[list[Disk], list[DiskResult]]:
        """The disks it covers, and a ``denied`` result (``NotAllowed``) for each one it does not."""
        kept, denied = [], []
        for disk in disks:
            if self._match(disk):
                kept.append(disk)
            else:
                denied.append(
                    DiskResult(
                        disk_id=disk.disk_id,
                        outcome=Outcome.DENIED,
                        token="",
                        error_code="NotAllowed",
                        message="outside this function's allow-list (policy selector)",
                    )
                )
        return kept, denied


def split_allowed(
    runtime: Runtime, disks: list[Disk], allow: Selector
) -> tuple[list[Disk], list[DiskResult]]:
    """Disks the allow-list covers, and one ``denied`` result (``NotAllowed``) for each one it
    does not (``skipped`` means nothing to back up; this is a refusal). An instance-tag
    allow-list costs one DescribeInstances lookup."""
    return AllowList(runtime, allow).split(disks)


def resolve_targets(runtime: Runtime, instance_ids: Iterable[str], disk_ids: Iterable[str]) -> list[Disk]:
    """Every disk of ``instance_ids`` and every disk in ``disk_ids``, sorted by id, each once.

    One paged DescribeDisks for the whole set, whatever the number of alarms that named it: by
    ``DiskIds`` when only disks are named (100 ids per call), by ``InstanceId`` when one
    instance is, else one region-wide scan filtered here. Ids that match nothing are simply
    absent from the answer.
    """
    instances, disks = set(instance_ids), set(disk_ids)
    ecs, region = runtime.ecs, runtime.region
    if not instances:
        ids = sorted(disks)
        chunks = (json.dumps(ids[i : i + IDS_PER_CALL]) for i in range(0, len(ids), IDS_PER_CALL))
        found = [d for chunk in chunks for d in describe_disks(ecs, region, disk_ids=chunk)]
    elif len(instances) == 1 and not disks:
        found = list(describe_disks(ecs, region, instance_id=next(iter(instances))))
    else:
        found = [d for d in describe_disks(ecs, region) if d.disk_id in disks or d.instance_id in instances]
    return sorted({d.disk_id: d for d in found}.values(), key=lambda d: d.disk_id)
