"""The taxonomy covers the CreateSnapshot contract exactly: every code, its status, its message."""

from __future__ import annotations

import pytest

from snapstack.ecs.errors import (
    ERRORS,
    SEED_CODES,
    Disposition,
    EcsApiError,
    EcsError,
    EcsTransportError,
    InvalidRequest,
    Violation,
    classify,
)
from tests.contract import seed_rows


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


# The contract's own codes are pinned from the seed in test_dispositions.py; these are the others.
@pytest.mark.parametrize(
    ("code", "disposition"),
    [
        ("Throttling.User", Disposition.RETRY),  # flow control, like Throttling
        ("ServiceUnavailable", Disposition.RETRY),  # a temporary server-side failure
        ("SignatureNonceUsed", Disposition.RETRY),  # a new attempt signs with a new nonce
        ("Transport.ConnectionFailed", Disposition.RETRY),  # nothing was sent
        ("Transport.Ambiguous", Disposition.RETRY),  # the same ClientToken makes the retry idempotent
        ("Transport.BadResponse", Disposition.RETRY),  # a proxy answered instead of ECS
        ("MissingParameter", Disposition.FAIL),
        ("InvalidParameter", Disposition.FAIL),
        ("SignatureDoesNotMatch", Disposition.FAIL),  # auth: the same credentials fail again
        ("InvalidSecurityToken.Expired", Disposition.FAIL),
        ("Forbidden.RAM", Disposition.FAIL),
        ("InvalidTimeStamp.Expired", Disposition.FAIL),  # the local clock is wrong
        ("Credentials.Missing", Disposition.FAIL),
    ],
)
def test_dispositions_outside_the_contract(code, disposition):
    assert classify(code).disposition is disposition and not classify(code).seed


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


#: The codes outside the contract, and the HTTP status the API (and so the emulator) answers them
#: with; 0 for the ones we raise ourselves, with no answer from the service.
OUTSIDE_THE_CONTRACT = {
    "Throttling.User": 403,
    "ServiceUnavailable": 503,
    "MissingParameter": 400,
    "InvalidParameter": 400,
    "InvalidAccessKeyId.NotFound": 404,
    "SignatureDoesNotMatch": 400,
    "IncompleteSignature": 400,
    "InvalidSecurityToken.Expired": 400,
    "InvalidSecurityToken.Malformed": 400,
    "InvalidSecurityToken.MismatchWithAccessKey": 400,
    "SignatureNonceUsed": 400,
    "InvalidTimeStamp.Expired": 400,
    "Forbidden.RAM": 403,
    "InvalidAction.NotFound": 404,
    "SnapshotCreatedDisk": 403,
    "SnapshotCreatedImage": 403,
    "Operation.Conflict": 403,
    "InvalidOperation.RelatedSnapshotNotFinished": 403,
    "InvalidOperation.DeleteSharedSnapshotUnsupported": 403,
    "InvalidOperation.ResourceManagedByCloudProduct": 403,
    "InvalidSnapshotId.NotFound": 404,
    "UnsupportedOperation": 400,
    "Credentials.Missing": 0,
    "Transport.ConnectionFailed": 0,
    "Transport.Ambiguous": 0,
    "Transport.BadResponse": 0,
}


def test_the_codes_outside_the_contract_and_their_status():
    assert {code: spec.status for code, spec in ERRORS.items() if not spec.seed} == OUTSIDE_THE_CONTRACT


def test_an_error_keeps_what_the_service_said():
    err = EcsError("Throttling", "slow down", request_id="req-1", retry_after=2.5)
    assert (err.status, err.request_id, err.retry_after, err.attempts) == (403, "req-1", 2.5, 0)
    assert (err.disposition, err.retryable, str(err)) == (Disposition.RETRY, True, "Throttling: slow down")
    assert EcsError("Throttling", "x", status=429).status == 429  # the answer's own status wins
    assert not EcsError("QuotaExceed.Snapshot", "x").retryable


def test_only_a_request_that_may_have_been_sent_is_ambiguous():
    assert EcsTransportError("Transport.Ambiguous", "x").ambiguous
    assert not EcsTransportError("Transport.ConnectionFailed", "x").ambiguous


def test_an_invalid_request_lists_every_violation_and_codes_the_other_ones():
    err = InvalidRequest(
        [
            Violation("SnapshotName", "too short", "InvalidSnapshotName.Malformed"),
            Violation("SnapshotName", "starts with a digit", "InvalidSnapshotName.Malformed"),
            Violation("Tag.1.Key", "is empty", "InvalidTagKey.Malformed"),
        ]
    )
    assert str(err) == (
        "InvalidSnapshotName.Malformed: SnapshotName too short; SnapshotName starts with a digit; "
        "Tag.1.Key is empty (InvalidTagKey.Malformed)"
    )
    assert len(err.violations) == 3
    with pytest.raises(ValueError, match="at least one violation"):
        InvalidRequest([])


def test_the_first_violation_names_the_error_and_other_codes_are_shown():
    err = InvalidRequest(
        [
            Violation("Tag.1.Key", "is empty", "InvalidTagKey.Malformed"),
            Violation("SnapshotName", "too short", "InvalidSnapshotName.Malformed"),
            # Equal to the first code, but not the same object: codes are compared by value.
            Violation("Tag.2.Key", "is too long", "".join(["InvalidTagKey", ".Malformed"])),
        ]
    )
    assert (err.code, err.field, err.rule) == ("InvalidTagKey.Malformed", "Tag.1.Key", "is empty")
    assert str(err) == (
        "InvalidTagKey.Malformed: Tag.1.Key is empty; "
        "SnapshotName too short (InvalidSnapshotName.Malformed); Tag.2.Key is too long"
    )


def test_an_unknown_code_has_no_status_and_is_not_the_contracts():
    spec = classify("Brand.New")
    assert (spec.status, spec.seed, spec.message) == (0, False, "")
    assert EcsError("Brand.New", "x").status == 0


def test_rows_and_violations_are_immutable_and_error_options_named():
    with pytest.raises(AttributeError):
        ERRORS["Throttling"].disposition = Disposition.FAIL  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Violation("DiskId", "is required", "MissingParameter").code = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        EcsError("Throttling", "x", 403)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "status", "keeps"),
    [
        ("InternalError", 500, True),  # 5xx: the token's fate is open, a retry must reuse it
        ("ServiceUnavailable", 503, True),
        ("Throttling", 599, True),
        ("IdempotentProcessing", 403, True),  # our earlier request with this token is running
        ("Throttling", 499, False),  # any other answer is definitive: a new token generation
        ("IncorrectInstanceStatus", 400, False),
        ("Brand.New", None, False),  # no status at all: not a 5xx
        ("Brand.New", 0, False),
    ],
)
def test_an_answer_keeps_the_token_only_when_its_fate_is_open(code, status, keeps):
    err = EcsApiError(code, "m", status=status)
    assert (err.keeps_token, err.may_have_acted) == (keeps, keeps)


def test_a_transport_error_keeps_the_token_and_may_have_acted_unless_nothing_was_sent():
    for code, acted in [
        ("Transport.Ambiguous", True),
        ("Transport.BadResponse", True),
        ("Transport.ConnectionFailed", False),
        ("Transport.Aaa", True),  # sorts before every real code: compared by equality
        ("Transport.Zzz", True),
    ]:
        err = EcsTransportError(code, "m")
        assert (err.keeps_token, err.may_have_acted) == (True, acted), code
    connection_failed = "".join(["Transport.", "ConnectionFailed"])  # equal, not the same object
    assert not EcsTransportError(connection_failed, "m").may_have_acted


def test_only_account_and_credential_errors_are_invocation_wide():
    assert EcsError("InvalidAccountStatus.NotEnoughBalance", "m").invocation_wide
    assert EcsError("Forbidden.RAM", "m").invocation_wide
    assert not EcsError("Throttling", "m").invocation_wide
    assert not EcsError("Brand.New", "m").invocation_wide
    plain = EcsError("Throttling", "m")
    assert (plain.keeps_token, plain.may_have_acted) == (True, False)
