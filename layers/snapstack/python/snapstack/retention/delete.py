"""DeleteSnapshot for a delete-set: paced, concurrent, logged, and reported as it really ended.

Each deletion ends as one of:

- ``deleted``: ECS answered success;
- ``gone``: ECS answered ``InvalidSnapshotId.NotFound`` (someone, or RetentionDays, was first);
- ``failed``: any other error, after the client's retries (``SnapshotCreatedImage``,
  ``Operation.Conflict`` that did not clear, throttling that outlasted the budget...). A failed
  deletion is never counted as deleted;
- ``dry_run`` / ``breaker``: not attempted, and why.

Every one is logged on its own line with the snapshot, its disk, the deciding rule and the
outcome. DeleteSnapshot's error codes are in ``snapstack.ecs.errors``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from snapstack.ecs.errors import EcsError
from snapstack.observability import log_fields

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

    from snapstack.ecs.client import EcsClient
    from snapstack.retention.plan import Decision


class Deletion(str, enum.Enum):
    """How one planned deletion ended."""

    DELETED = "deleted"
    GONE = "gone"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    BREAKER = "breaker"


@dataclass(frozen=True)
class DeleteResult:
    """One planned deletion and its end."""

    decision: Decision
    outcome: Deletion
    error_code: str | None = None
    message: str | None = None


def tally(results: Sequence[DeleteResult]) -> Counter[Deletion]:
    """How many deletions ended each way."""
    return Counter(r.outcome for r in results)


@dataclass
class Deleter:
    """Runs DeleteSnapshot calls under one rate limiter's ``pace``."""

    ecs: EcsClient
    logger: Logger
    labels: dict[str, str]  # policy, trigger...: on every log line
    pace: Callable[[], None] | None = None
    concurrency: int = 8

    def run(self, decisions: Sequence[Decision]) -> list[DeleteResult]:
        """Delete each snapshot; the results in the order given."""
        workers = max(1, min(self.concurrency, len(decisions)))
        if workers == 1:
            return [self._one(d) for d in decisions]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapstack-prune") as pool:
            return list(pool.map(self._one, decisions))

    def skip(self, decisions: Sequence[Decision], outcome: Deletion, why: str) -> list[DeleteResult]:
        """Report deletions that are not attempted (dry run, breaker), each logged."""
        results = [DeleteResult(d, outcome, message=why) for d in decisions]
        for result in results:
            self._log(result)
        return results

    def _one(self, decision: Decision) -> DeleteResult:
        from alibabacloud_ecs20140526 import models

        request = models.DeleteSnapshotRequest(
            snapshot_id=decision.snapshot.snapshot_id, force=True if decision.force else None
        )
        try:
            self.ecs.call("delete_snapshot", request, pace=self.pace)
            result = DeleteResult(decision, Deletion.DELETED)
        except EcsError as exc:
            outcome = Deletion.GONE if exc.code == "InvalidSnapshotId.NotFound" else Deletion.FAILED
            result = DeleteResult(decision, outcome, error_code=exc.code, message=exc.message)
        self._log(result)
        return result

    def _log(self, result: DeleteResult) -> None:
        snap = result.decision.snapshot
        fields: dict[str, Any] = log_fields(
            disk_id=snap.disk_id,
            snapshot_id=snap.snapshot_id,
            snapshot_created=snap.created.isoformat(),
            rule=result.decision.rule,
            force=result.decision.force or None,
            outcome=result.outcome.value,
            error_code=result.error_code,
            **{"error" if result.outcome is Deletion.FAILED else "reason": result.message},
            **self.labels,
        )
        log = self.logger.error if result.outcome is Deletion.FAILED else self.logger.info
        log("snapshot deletion", extra=fields)
