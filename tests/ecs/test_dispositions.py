"""Every contract code's disposition, pinned from the seed (tests/contract.py), not from ecs/errors.py."""

from __future__ import annotations

import pytest

from snapstack.ecs.errors import EcsApiError, EcsError, classify
from snapstack.ecs.request import CreateSnapshotRequest
from tests.contract import DISPOSITIONS, INVOCATION, RETRY, seed_rows

REQ = CreateSnapshotRequest(disk_id="d-bp1test", client_token="tok-1")
CODES = sorted(DISPOSITIONS)


def test_the_table_holds_exactly_the_contracts_codes_with_their_status():
    assert {code: status for status, code, _ in seed_rows()} == {
        code: status for code, (status, _) in DISPOSITIONS.items()
    }


@pytest.mark.parametrize("code", CODES)
def test_the_taxonomy_gives_each_code_the_seeds_disposition(code):
    status, disposition = DISPOSITIONS[code]
    spec = classify(code)
    assert (spec.disposition.value, spec.status, spec.seed) == (disposition, status, True)
    assert spec.scope == ("invocation" if code in INVOCATION else "request")
    assert EcsError(code, "m").retryable is (disposition == RETRY)


@pytest.mark.parametrize("code", CODES)
def test_the_client_retries_exactly_the_retry_codes(server, make_client, code):
    status, disposition = DISPOSITIONS[code]
    server.answers = [server.error(status, code), server.ok(SnapshotId="s-after")]
    if disposition == RETRY:
        assert make_client().create_snapshot(REQ).attempts == 2
        return
    with pytest.raises(EcsApiError) as info:
        make_client().create_snapshot(REQ)
    assert (info.value.code, info.value.disposition.value, info.value.attempts) == (code, disposition, 1)
    assert len(server.requests) == 1
