"""The first work source: the token table's open records.

A record is the reconciler's when no live delivery will finish it:

- CLAIMED or SENT whose lease ran out (its owner was killed or timed out; the slot may be in
  doubt: the executor looks it up by tag before it sends anything);
- FAILED and retryable (deferred: a condition that passes, a table outage, an instance that
  was starting or stopping) — FC's last retry may be gone;
- FAILED for good with a code the taxonomy retries (``IncorrectDiskStatus.CreatingSnapshot``,
  ``Throttling``...): the executor gave up after its deliveries, the condition has likely passed;
- FAILED for good, any code, while ``in_doubt``: an earlier request may have made the snapshot;
  the reconciler looks it up, and records it or clears the doubt.

A record held under a live lease is left alone (its owner is at work), and so is a final failure
the taxonomy does not retry (a person must act: ``snapstack tokens retry``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from snapstack.ecs.errors import Disposition, classify
from snapstack.reconcile.meta import slot_meta
from snapstack.reconcile.work import SlotResult, SourceContext, Work
from snapstack.tokens.base import LEASED_STATES, TokenRecord, TokenState


def reconcilable(record: TokenRecord, now: float, skew: float) -> bool:
    """True when no live delivery will finish ``record`` (see the module docstring)."""
    if record.state in LEASED_STATES:
        return record.lease_expired(now, skew)
    if record.state is not TokenState.FAILED:
        return False
    if record.retryable or record.in_doubt:
        return True
    return gave_up(record)


def gave_up(record: TokenRecord) -> bool:
    """A final failure the executor recorded after its deliveries ran out on a retried condition."""
    return (
        record.state is TokenState.FAILED
        and not record.retryable
        and classify(record.error_code or "").disposition is Disposition.RETRY
    )


class OpenRecords:
    """The token table's reconcilable records (``reconcilable``), oldest first."""

    name = "token-table"

    def collect(self, context: SourceContext) -> Iterator[Work]:
        """One ``Work`` per reconcilable record that is a disk's slot."""
        table = context.table
        now = table.clock()
        for record in table.unfinished_records():
            if not reconcilable(record, now, table.clock_skew):
                continue
            slot = slot_meta(record)
            if slot is not None:
                yield Work(record.token, slot, record, self.name)

    def settle(self, results: Mapping[str, SlotResult]) -> None:
        """Nothing to do: the results are in the records themselves."""
