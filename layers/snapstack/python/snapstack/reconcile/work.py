"""The reconciler's unit of work and where it comes from: pluggable sources.

A source yields ``Work``: one slot to bring to an end (its token and what its record says about
it). The reconciler merges the work of every source by token, so two sources naming one slot
cost one re-drive, and hands each source back the results of its own work (``settle``), e.g. to
delete a queue message once every slot it named is settled.

The first source is the token table's open records (``reconcile/sources.py``); the second the
OnFailure destination queue (``reconcile/failures.py``): the slots its failed invocations left
open, and one alert line per event FC gave up on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict

from snapstack.execute import Outcome

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.reconcile.meta import SlotMeta
    from snapstack.tokens.base import TokenRecord, TokenTable


class Verdict(str, enum.Enum):
    """Where a slot stands after a reconciler run."""

    REPAIRED = "repaired"  # this run made the slot's snapshot
    DONE = "done"  # the slot's snapshot exists (made by another delivery, or found by its tag)
    OPEN = "open"  # still open (deferred, or held by a live delivery): the next run looks again
    WAITING = "waiting"  # its disk has a snapshot in progress, or another slot of the disk goes first
    ABANDONED = "abandoned"  # its deadline passed: recorded failed, with an ERROR line and a metric
    FAILED = "failed"  # re-driving it ended in a final failure (the executor logged why)
    SKIPPED = "skipped"  # nothing to snapshot (the taxonomy's skip)
    UNREADABLE = "unreadable"  # its record holds no request to re-drive it with (before its deadline)


class SourceUnavailable(Exception):
    """A source's own backend (e.g. the failure queue) could not be read or written."""


@dataclass(frozen=True)
class Work:
    """One slot to bring to an end.

    ``record``: the record as the source read it (None when the source knows the slot otherwise);
    the reconciler reads it again before acting. ``origin``: the source's name, for logs.
    """

    token: str
    slot: SlotMeta
    record: TokenRecord | None
    origin: str


class SlotResult(BaseModel):
    """What a run did with one slot (``Work``)."""

    model_config = ConfigDict(frozen=True)

    token: str
    disk_id: str
    verdict: Verdict
    outcome: Outcome  # the same slot in the executor's terms (a function's summary rows)
    policy: str = ""
    slot: str = ""
    snapshot_id: str | None = None
    error_code: str | None = None
    message: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class SourceContext:
    """What a source may use: the token table, ECS, the run's clock and its logger."""

    table: TokenTable
    ecs: EcsClient
    region: str
    now: float  # the run's now, epoch seconds (the timer's trigger time)
    logger: Logger


class WorkSource(Protocol):
    """Where work comes from (see the module docstring)."""

    name: str

    def collect(self, context: SourceContext) -> Iterable[Work]:
        """The slots this source knows to be open. May raise ``TokenTableError``/``EcsError``/
        ``SourceUnavailable``: the run then goes on with the other sources and reports the error."""
        ...

    def settle(self, results: Mapping[str, SlotResult]) -> None:
        """The results of this source's work, by token (after the run)."""
        ...
