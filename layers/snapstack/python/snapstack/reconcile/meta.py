"""What a slot's record carries so that the slot can be re-driven without its event or policy.

The executor writes these keys into the record's ``meta`` at the first claim (``meta`` keeps what
the first claim wrote), beside ``disk_id``, the labels (``policy``, ``trigger``, ``slot``) and the
fixed ``name``/``description``:

- ``request``: the CreateSnapshot request (``CreateSnapshotRequest`` as JSON, ``client_token`` left
  out: it is the slot token at the record's generation). The whole request, not a policy name to look
  up again: a slot may come from any function's policy, from an inline timer policy or an event's
  ``{reason}``, and a policy edited since must not change a slot already under way.
- ``instance_id``: the disk's instance when it was planned.
- ``deadline``: epoch seconds after which the reconciler stops re-driving the slot and records it
  ``failed`` (``reconcile/deadlines.py``).

A record without ``request`` (written before this version, or a record that is not a slot's) is
never re-driven; past its deadline it is still closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from snapstack.ecs.request import CreateSnapshotRequest

if TYPE_CHECKING:
    from snapstack.tokens.base import TokenRecord

REQUEST = "request"
INSTANCE = "instance_id"
DEADLINE = "deadline"
#: The labels a record carries (``Intent.labels``), read back for logs and the report.
LABELS = ("policy", "trigger", "slot")


def redrive_meta(
    request: CreateSnapshotRequest, instance_id: str | None, deadline: float | None
) -> dict[str, str]:
    """The meta keys above for one intent (all strings, as ``TokenRecord.meta`` holds)."""
    meta = {REQUEST: request.model_dump_json(exclude={"client_token"}, exclude_none=True)}
    if instance_id:
        meta[INSTANCE] = instance_id
    if deadline is not None:
        meta[DEADLINE] = f"{deadline:.0f}"
    return meta


@dataclass(frozen=True)
class SlotMeta:
    """A record's slot data, decoded: the disk, labels, the request (None when not stored) and
    the deadline (None when not stored)."""

    disk_id: str
    instance_id: str | None
    labels: dict[str, str]
    request: CreateSnapshotRequest | None
    deadline: float | None


def slot_meta(record: TokenRecord) -> SlotMeta | None:
    """The slot data of ``record``, or None for a record that is not a disk's slot.

    A stored request that no longer parses (a rule tightened since) reads as None: the slot
    cannot be re-driven, only closed at its deadline.
    """
    meta = record.meta
    disk_id = meta.get("disk_id")
    if not disk_id:
        return None
    request: CreateSnapshotRequest | None = None
    raw = meta.get(REQUEST)
    if raw:
        from snapstack.ecs.errors import InvalidRequest

        try:
            request = CreateSnapshotRequest.model_validate_json(raw)  # the contract's rules run again
        except (ValueError, InvalidRequest):
            request = None
    deadline: float | None
    try:
        deadline = float(meta[DEADLINE]) if DEADLINE in meta else None
    except ValueError:
        deadline = None
    return SlotMeta(
        disk_id=disk_id,
        instance_id=meta.get(INSTANCE) or None,
        labels={k: meta[k] for k in LABELS if k in meta},
        request=request,
        deadline=deadline,
    )
