"""The taxonomy covers the CreateSnapshot contract exactly: every code, its status, its message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snapstack.ecs.errors import (
    ERRORS,
    SEED_CODES,
    Disposition,
    EcsError,
    InvalidRequest,
    Violation,
    classify,
)

CONTRACT = Path(__file__).parent.parent / "data" / "create_snapshot_contract.txt"
ROW = re.compile(r"^(\d{3}) (\S+) (.+?)(?: The error message returned| An error message is)", re.M)


def seed_rows() -> list[tuple[int, str, str]]:
    rows = [(int(s), code, msg) for s, code, msg in ROW.findall(CONTRACT.read_text())]
    assert len(rows) >= 35, "the contract's error table was not found"
    return rows


def test_every_contract_code_is_in_the_table_with_its_status_and_message():
    for status, code, message in seed_rows():
        spec = ERRORS[code]
        assert spec.seed and spec.status == status, code
        if message != "%s":  # QuotaExceed.Tags has a dynamic message
            assert spec.message == message or code == "InternalError", code


def test_seed_codes_are_exactly_the_contract():
    assert {code for _, code, _ in seed_rows()} == SEED_CODES


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_row_says_why(code):
    spec = ERRORS[code]
    assert spec.reason and spec.disposition in Disposition


@pytest.mark.parametrize(
    ("code", "disposition"),
    [
        ("Throttling", Disposition.RETRY),
        ("InternalError", Disposition.RETRY),
        ("IdempotentProcessing", Disposition.RETRY),
        ("IncorrectDiskStatus.CreatingSnapshot", Disposition.RETRY),
        ("IncorrectDiskStatus.Transferring", Disposition.RETRY),
        ("IncorrectDiskStatus.NeverUsed", Disposition.SKIP),
        ("IncorrectDiskStatus.NeverAttached", Disposition.SKIP),
        ("InvalidSnapshotName.Malformed", Disposition.FAIL),
        ("InvalidDiskId.NotFound", Disposition.FAIL),
        ("QuotaExceed.Snapshot", Disposition.FAIL),
        ("InvalidAccountStatus.NotEnoughBalance", Disposition.FAIL),
        ("InstanceLockedForSecurity", Disposition.FAIL),
        ("IdempotentParameterMismatch", Disposition.RETRY),
        ("SignatureDoesNotMatch", Disposition.FAIL),
        ("Transport.Ambiguous", Disposition.RETRY),
    ],
)
def test_dispositions_the_issue_names(code, disposition):
    assert classify(code).disposition is disposition


def test_unknown_code_fails_and_keeps_its_name():
    spec = classify("Something.New")
    assert spec.code == "Something.New" and spec.disposition is Disposition.FAIL
    err = EcsError("Something.New", "x", status=418)
    assert (err.code, err.status, err.retryable) == ("Something.New", 418, False)


def test_invalid_request_names_field_rule_and_code():
    err = InvalidRequest(
        [Violation("SnapshotName", "must start with a letter", "InvalidSnapshotName.Malformed")]
    )
    assert (err.code, err.field, err.rule, err.status) == (
        "InvalidSnapshotName.Malformed",
        "SnapshotName",
        "must start with a letter",
        400,
    )
    assert "SnapshotName must start with a letter" in str(err)
