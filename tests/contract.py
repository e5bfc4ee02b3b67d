"""The CreateSnapshot contract's error table, and the disposition each code must have.

``seed_rows`` reads the codes from the contract itself (a verbatim copy of the seed:
``tests/data/create_snapshot_contract.txt``). ``DISPOSITIONS`` is written by hand from the seed's
descriptions and deliberately does not import ``snapstack.ecs.errors``: the tests compare the
library's table (and what the handlers do with each code) against this one, so a code switched
from retry to fail in the library cannot also switch the expectation. The reasoning is in the
README ("Tests", error dispositions); in short:

- retry: the seed says to wait or try again, or the state is transitional (throttling, a
  snapshot or an idempotent request still running, a disk being transferred, an instance
  starting or stopping, an internal error, a failed attempt of the snapshot process);
- skip: the disk's data never changed (never attached, never used): nothing to back up;
- fail: validation, a missing resource, quota, account or KMS state, a security lock, a device
  that cannot be snapshotted, a disk that needs its instance restarted: another attempt of the
  same request gets the same answer.

Two codes are decided by the dedupe protocol (DESIGN.md "Dedupe") as much as by the seed:
``IdempotentParameterMismatch`` (the token is in use with other parameters, e.g. a policy edited
between deliveries) is retried: the slot's snapshot is looked up by its tag, else a new token
generation is sent. And the account-state codes (``INVOCATION``) would fail every disk alike, so
they fail the whole invocation, for FC to retry later, instead of each disk.
"""

from __future__ import annotations

import re
from pathlib import Path

CONTRACT = Path(__file__).parent / "data" / "create_snapshot_contract.txt"
_ROW = re.compile(r"^(\d{3}) (\S+) (.+?)(?: The error message returned| An error message is)", re.M)

RETRY, SKIP, FAIL = "retry", "skip", "fail"

#: code -> (HTTP status, disposition), in the seed's order.
DISPOSITIONS: dict[str, tuple[int, str]] = {
    "InvalidParameter.KMSKeyId.NotFound": (400, FAIL),  # the disk's key is gone
    "InvalidSnapshotName.Malformed": (400, FAIL),  # validation
    "IncorrectInstanceStatus": (400, RETRY),  # instance starting/stopping: settles to Running/Stopped
    "DiskCategory.OperationNotSupported": (400, FAIL),  # the category cannot do it
    "Duplicate.TagKey": (400, FAIL),  # validation
    "InvalidTagKey.Malformed": (400, FAIL),  # validation
    "InvalidTagValue.Malformed": (400, FAIL),  # validation
    "InvalidRetentionDays.Malformed": (400, FAIL),  # validation
    "Throttling": (403, RETRY),  # "Try again later"
    "IncorrectDiskStatus.CreatingSnapshot": (403, RETRY),  # "Wait until the snapshot is created"
    "InstanceLockedForSecurity": (403, FAIL),  # "all operations are prohibited"
    "IncorrectDiskStatus.NeverAttached": (403, SKIP),  # "its data remains unchanged"
    "QuotaExceed.Snapshot": (403, FAIL),  # 256 manual snapshots: someone must delete some
    "IncorrectDiskStatus.NeverUsed": (403, SKIP),  # "its data remains unchanged"
    "CreateSnapshot.Failed": (403, RETRY),  # this attempt failed server-side; the request is valid
    "DiskInArrears": (403, FAIL),  # overdue payment
    "DiskId.ValueNotSupported": (403, FAIL),  # the device category cannot be snapshotted
    "IncorrectDiskStatus": (403, RETRY),  # a transitional disk state
    "InvalidAccountStatus.NotEnoughBalance": (403, FAIL),  # account state
    "InvalidAccountStatus.SnapshotServiceUnavailable": (403, FAIL),  # service not activated
    "IncorrectVolumeStatus": (403, RETRY),  # a transitional state of the shared block storage
    "IdempotentParameterMismatch": (403, RETRY),  # token in use: the slot's snapshot by tag, or a new token
    "IncorrectDiskType.NotSupport": (403, FAIL),  # the device type cannot be snapshotted
    "IncorrectDiskStatus.Transferring": (403, RETRY),  # "Wait until the disk is migrated and try again"
    "InvalidParameter.KMSKeyId.CMKNotEnabled": (403, FAIL),  # an operator must enable the key
    "InvalidParameter.KMSKeyId.KMSUnauthorized": (403, FAIL),  # ECS lacks the KMS grant
    "IdempotentProcessing": (403, RETRY),  # "Try again later"
    "QuotaExceed.Tags": (403, FAIL),  # validation: more than 20 tags
    "InvalidSnapshotCategory.Malformed": (403, FAIL),  # validation
    "IncorrectDiskStatus.Invalid": (403, FAIL),  # "Restart the instance": an operator's action
    "InvalidDiskId.NotFound": (404, FAIL),  # missing resource
    "InvalidDescription.Malformed": (404, FAIL),  # validation
    "InvalidInstanceId.NotFound": (404, FAIL),  # missing resource
    "InvalidVolumeId.NotFound": (404, FAIL),  # missing resource
    "InternalError": (500, RETRY),  # "Try again later"
}

#: Codes about the account, not the disk: the invocation fails (FC retries it), no disk is recorded.
INVOCATION = frozenset(
    {"InvalidAccountStatus.NotEnoughBalance", "InvalidAccountStatus.SnapshotServiceUnavailable"}
)

#: What a handler reports for a disk whose CreateSnapshot ended with each disposition.
OUTCOME = {RETRY: "deferred", SKIP: "skipped", FAIL: "failed"}


def seed_rows() -> list[tuple[int, str, str]]:
    """(status, code, message) of every row of the contract's error table, in its order."""
    rows = [(int(s), code, msg) for s, code, msg in _ROW.findall(CONTRACT.read_text())]
    assert len(rows) >= 35, "the contract's error table was not found"
    return rows
