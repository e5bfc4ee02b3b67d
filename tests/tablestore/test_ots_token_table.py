"""The Tablestore token table against the emulator, through the real SDK.

Covers the state machine's transitions on a fake clock, races between threads, expiry and purge,
the stored row layout, configuration (URL, credentials) and failure modes (service down or hung).
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tablestore

from devkit.tablestore.testing import RunningEmulator, start_emulator
from snapstack.tokens import TokenTableAuthError, open_table
from snapstack.tokens.base import (
    ClaimOutcome,
    LeaseLost,
    TokenRecord,
    TokenState,
    TokenTable,
    TokenTableError,
    TokenTableFatal,
    TokenTableUnavailable,
)
from snapstack.tokens.tablestore import (
    SDK_LOGGER,
    TablestoreTokenTable,
    _NativeCodecNotice,
    parse_url,
    silence_native_codec_notice,
)
from tests.tokens.support import FakeClock, MovingClock, race

LEASE = 30.0
TTL = 3600.0
TOKEN = "ss1-0123456789abcdef0123456789abcdef"


@pytest.fixture
def make_table(running: RunningEmulator, clock: FakeClock) -> Iterator[Callable[..., TablestoreTokenTable]]:
    """Token tables on one emulator table, on the shared fake clock unless told otherwise."""
    opened: list[TablestoreTokenTable] = []

    def make(**kwargs: Any) -> TablestoreTokenTable:
        kwargs = {
            "lease_seconds": LEASE,
            "record_ttl_seconds": TTL,
            "clock": clock,
            "clock_skew_seconds": 0.0,
            **kwargs,
        }
        table = running.token_table("tokens", **kwargs)
        opened.append(table)
        return table

    yield make
    for table in opened:
        table.close()


@pytest.fixture
def table(make_table: Callable[..., TablestoreTokenTable]) -> TablestoreTokenTable:
    return make_table()


# -- transitions -----------------------------------------------------------------------------------


def test_first_claim(table: TokenTable, clock: FakeClock) -> None:
    result = table.claim(TOKEN, "a", meta={"disk": "d-1"})

    assert result.outcome is ClaimOutcome.CLAIMED and result.owned
    record = result.record
    assert (record.state, record.owner, record.attempts) == (TokenState.CLAIMED, "a", 1)
    assert record.version == int(clock.now * 1000)
    assert (record.lease_until, record.expires_at) == (clock.now + LEASE, clock.now + TTL)
    assert table.get(TOKEN) == record


def test_a_live_lease_makes_others_busy(table: TokenTable, clock: FakeClock) -> None:
    first = table.claim(TOKEN, "a").record
    clock.advance(LEASE - 1)

    result = table.claim(TOKEN, "b")
    assert result.outcome is ClaimOutcome.BUSY and not result.owned
    assert result.record == first == table.get(TOKEN)


def test_an_expired_lease_is_taken_over(table: TokenTable, clock: FakeClock) -> None:
    first = table.claim(TOKEN, "a", meta={"disk": "d-1"}).record
    clock.advance(LEASE)

    result = table.claim(TOKEN, "b", meta={"attempt": "2"})
    assert result.outcome is ClaimOutcome.TAKEOVER and result.owned
    record = result.record
    assert (record.owner, record.version, record.attempts) == ("b", first.version + 1, 2)
    assert record.lease_until == clock.now + LEASE
    assert record.meta == {"disk": "d-1", "attempt": "2"}
    assert table.get(TOKEN) == record
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-late")


def test_complete_then_done_and_idempotent(table: TokenTable, clock: FakeClock) -> None:
    first = table.claim(TOKEN, "a").record
    clock.advance(1)

    done = table.complete(TOKEN, "a", "s-1")
    assert (done.state, done.snapshot_id, done.version, done.lease_until) == (
        TokenState.CREATED,
        "s-1",
        first.version + 1,
        0.0,
    )
    assert table.complete(TOKEN, "a", "s-1") == done
    assert table.complete(TOKEN, "someone-else", "s-1") == done  # the same snapshot: nothing to do
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-2")

    clock.advance(LEASE * 10)
    result = table.claim(TOKEN, "b")
    assert result.outcome is ClaimOutcome.DONE and result.record == done


def test_a_retryable_failure_is_retried(table: TokenTable) -> None:
    table.claim(TOKEN, "a")
    failed = table.fail(TOKEN, "a", "Throttling", retryable=True)
    assert (failed.state, failed.error_code, failed.retryable) == (TokenState.FAILED, "Throttling", True)

    result = table.claim(TOKEN, "b")
    assert result.outcome is ClaimOutcome.RETRY and result.owned
    assert (result.record.error_code, result.record.retryable, result.record.attempts) == (None, None, 2)
    stored = table.get(TOKEN)
    assert stored is not None and stored.error_code is None and stored.retryable is None


def test_a_permanent_failure_stays_failed(table: TokenTable) -> None:
    table.claim(TOKEN, "a")
    table.fail(TOKEN, "a", "InvalidDiskId.NotFound", retryable=False)

    result = table.claim(TOKEN, "b")
    assert result.outcome is ClaimOutcome.FAILED and not result.owned
    assert result.record.error_code == "InvalidDiskId.NotFound"


def test_only_the_owner_completes_or_fails(table: TokenTable) -> None:
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "a", "s-1")  # never claimed
    table.claim(TOKEN, "a")
    with pytest.raises(LeaseLost):
        table.complete(TOKEN, "b", "s-1")
    with pytest.raises(LeaseLost):
        table.fail(TOKEN, "b", "X", retryable=True)
    assert table.complete(TOKEN, "a", "s-1").state is TokenState.CREATED


def test_compare_and_set_wins_once_per_version(make_table: Callable[..., TablestoreTokenTable]) -> None:
    table, other = make_table(), make_table()
    table.claim(TOKEN, "a")
    current = table.get(TOKEN)
    assert current is not None
    # Another writer moves the record on between this owner's read and its write.
    assert other._compare_and_set(
        current.version, current.model_copy(update={"version": current.version + 1})
    )
    assert not table._compare_and_set(current.version, current.model_copy(update={"version": 99}))


def test_an_integer_clock_still_compares_as_numbers(make_table: Callable[..., TablestoreTokenTable]) -> None:
    # Tablestore compares values only within one type: every time must be stored as a DOUBLE.
    now = [1_800_000_000]
    table = make_table(clock=lambda: now[0], lease_seconds=10, record_ttl_seconds=100)
    table.claim(TOKEN, "a")
    now[0] += 10
    assert table.claim(TOKEN, "b").outcome is ClaimOutcome.TAKEOVER
    now[0] += 100
    assert table.purge() == 1


# -- races -----------------------------------------------------------------------------------------


def claim(table: TokenTable, owner: str) -> ClaimOutcome:
    return table.claim(TOKEN, owner).outcome


def test_eight_threads_one_claim(make_table: Callable[..., TablestoreTokenTable]) -> None:
    tables = [make_table() for _ in range(8)]
    assert race(tables, claim) == {"claimed": 1, "busy": 7}
    record = tables[0].get(TOKEN)
    assert record is not None and (record.version, record.attempts) == (int(tables[0].clock() * 1000), 1)


def test_eight_threads_one_takeover(
    make_table: Callable[..., TablestoreTokenTable], clock: FakeClock
) -> None:
    tables = [make_table() for _ in range(8)]
    first = tables[0].claim(TOKEN, "first").record
    clock.advance(LEASE)

    assert race(tables, claim) == {"takeover": 1, "busy": 7}
    record = tables[0].get(TOKEN)
    assert record is not None and (record.version, record.attempts) == (first.version + 1, 2)


def test_eight_threads_one_retry(make_table: Callable[..., TablestoreTokenTable]) -> None:
    tables = [make_table() for _ in range(8)]
    tables[0].claim(TOKEN, "first")
    tables[0].fail(TOKEN, "first", "Throttling", retryable=True)

    assert race(tables, claim) == {"retry": 1, "busy": 7}


def test_eight_threads_replace_one_expired_record(
    make_table: Callable[..., TablestoreTokenTable], clock: FakeClock
) -> None:
    tables = [make_table() for _ in range(8)]
    tables[0].claim(TOKEN, "first")
    tables[0].complete(TOKEN, "first", "s-old")
    clock.advance(TTL)  # the record has expired: it counts as absent

    assert race(tables, claim) == {"claimed": 1, "busy": 7}
    record = tables[0].get(TOKEN)
    assert record is not None and record.state is TokenState.CLAIMED and record.snapshot_id is None


def test_replacing_an_expired_record_gives_up_after_four_lost_rounds(
    make_table: Callable[..., TablestoreTokenTable], clock: FakeClock
) -> None:
    """Put-if-absent over an expired row is a compare-and-set on its version; while another writer
    keeps moving that version (between the read and the replacing write), it gives up: False."""
    other = make_table()
    expired = other.claim(TOKEN, "a").record
    clock.advance(TTL)

    def move() -> None:
        current = other._get(TOKEN)
        assert current is not None
        assert other._compare_and_set(
            current.version, current.model_copy(update={"version": current.version + 1})
        )

    moving = MovingClock(clock, move)
    table = make_table(clock=moving)
    fresh = expired.model_copy(update={"owner": "b", "expires_at": clock.now + TTL})
    moving.moving = True
    assert table._put_if_absent(fresh) is False
    moving.moving = False

    assert moving.moves == 4
    stored = other._get(TOKEN)
    assert stored is not None and (stored.owner, stored.version) == ("a", expired.version + 4)


@pytest.mark.parametrize("change", ["deleted", "expired_now", "expired_before"])
def test_a_claim_whose_record_goes_between_its_two_reads_starts_over(
    make_table: Callable[..., TablestoreTokenTable], running: RunningEmulator, clock: FakeClock, change: str
) -> None:
    """Put-if-absent reads the clock after its insert failed on a live record, before the claim
    reads that record: there another writer deletes it, or replaces it with one that has expired
    (at that instant, or before). The claim starts over and takes the slot afresh."""
    other = make_table()
    live = other.claim(TOKEN, "a").record

    def move() -> None:
        if moving.moves != 2:  # the claim's own reading, then the one after the failed insert
            return
        if change == "deleted":
            condition = tablestore.Condition(tablestore.RowExistenceExpectation.IGNORE)
            running.client().delete_row(other.table, [("token", TOKEN)], condition)
        else:
            expires = clock.now if change == "expired_now" else clock.now - 1
            gone = live.model_copy(update={"version": live.version + 1, "expires_at": expires})
            assert other._compare_and_set(live.version, gone)

    moving = MovingClock(clock, move)
    table = make_table(clock=moving)
    moving.moving = True
    result = table.claim(TOKEN, "b")
    moving.moving = False

    assert moving.moves >= 2  # the other writer did act
    assert (result.outcome, result.record.owner, result.record.attempts) == (ClaimOutcome.CLAIMED, "b", 1)
    assert table.get(TOKEN) == result.record


# -- expiry and purge ------------------------------------------------------------------------------


def test_expired_records_read_as_absent_and_are_purged(table: TokenTable, clock: FakeClock) -> None:
    table.claim("old", "a")
    clock.advance(TTL / 2)
    table.claim("new", "a")
    assert [r.token for r in table.records()] == ["new", "old"]

    clock.advance(TTL / 2)
    assert table.get("old") is None and table.get("new") is not None
    assert [r.token for r in table.records()] == ["new"]
    assert table.purge() == 1
    assert table.purge() == 0
    assert table.claim("old", "b").outcome is ClaimOutcome.CLAIMED


def test_purge_keeps_a_record_renewed_since_the_scan(table: TablestoreTokenTable, clock: FakeClock) -> None:
    table.claim(TOKEN, "a")
    clock.advance(TTL)
    table.claim(TOKEN, "b")  # replaces the expired record with a live one
    assert not table._delete_if_expired(TOKEN, clock.now)
    assert table.get(TOKEN) is not None


def test_records_filters_by_state(table: TokenTable) -> None:
    table.claim("a", "x")
    table.claim("b", "x")
    table.complete("b", "x", "s-b")
    assert [r.token for r in table.records(state=TokenState.CREATED)] == ["b"]
    assert [r.token for r in table.records(state=TokenState.CLAIMED)] == ["a"]


def test_scan_follows_the_service_pages(clock: FakeClock) -> None:
    with start_emulator(max_rows_per_page=3) as running:
        table = running.token_table(clock=clock)
        for n in range(10):
            table.claim(f"t{n:02}", "x")
        assert sorted(r.token for r in table.records()) == [f"t{n:02}" for n in range(10)]


# -- stored layout ---------------------------------------------------------------------------------


def test_one_row_per_record_with_typed_columns(table: TablestoreTokenTable, running: RunningEmulator) -> None:
    claimed = table.claim(TOKEN, "a", meta={"policy": "p-1", "disk": "d-1"}).record
    table.fail(TOKEN, "a", "Throttling", retryable=True, generation=2, in_doubt=True, detail="throttled")

    _, row, _ = running.client().get_row(table.table, [("token", TOKEN)], max_version=1)
    columns = {name: value for name, value, _ in row.attribute_columns}
    assert columns == {
        "state": "failed",
        "owner": "a",
        "version": claimed.version + 1,
        "attempts": 1,
        "generation": 2,
        "in_doubt": True,
        "detail": "throttled",
        "lease_until": 0.0,
        "error_code": "Throttling",
        "retryable": True,
        "meta": '{"disk": "d-1", "policy": "p-1"}',  # sorted: the same meta is the same cell
        "created_at": columns["created_at"],
        "updated_at": columns["updated_at"],
        "expires_at": columns["expires_at"],
    }
    assert all(isinstance(columns[name], float) for name in ("created_at", "updated_at", "expires_at"))
    assert "snapshot_id" not in columns


def test_a_foreign_row_is_an_error(table: TablestoreTokenTable, running: RunningEmulator) -> None:
    running.client().put_row(table.table, tablestore.Row([("token", TOKEN)], [("something", "else")]))
    with pytest.raises(TokenTableError, match="not a token record"):
        table.get(TOKEN)


def test_ensure_table_is_idempotent_and_checks_the_key(running: RunningEmulator) -> None:
    table = running.token_table("twice")
    table.ensure_table()
    described = running.client().describe_table("twice")
    assert (described.table_options.time_to_live, described.table_options.max_version) == (-1, 1)
    reserved = described.reserved_throughput_details.capacity_unit
    assert (reserved.read, reserved.write) == (0, 0)  # on demand: no capacity reserved and paid for

    schema = tablestore.TableMeta("wrong", [("id", "INTEGER")])
    reserved = tablestore.ReservedThroughput(tablestore.CapacityUnit(0, 0))
    running.client().create_table(schema, tablestore.TableOptions(), reserved)
    with pytest.raises(TokenTableError, match="primary key"):
        running.token_table("wrong")
    longer = tablestore.TableMeta("longer", [("token", "STRING"), ("extra", "STRING")])
    running.client().create_table(longer, tablestore.TableOptions(), reserved)
    with pytest.raises(TokenTableError, match="primary key"):
        running.token_table("longer")


@pytest.mark.parametrize("code", ["OTSParameterInvalid", "OTSInvalidPK"])
def test_ensure_table_reports_why_creating_the_table_failed(running: RunningEmulator, code: str) -> None:
    """Only "it exists already" sends ensure_table on to check the table; any other refusal is
    the answer (not the "does not exist" a check of the missing table would give)."""
    running.emulator.fail_next(400, code)
    with pytest.raises(TokenTableError, match=code) as caught:
        running.token_table("refused")
    assert not isinstance(caught.value, TokenTableFatal)


def test_a_missing_table_is_an_error_not_an_outage(running: RunningEmulator) -> None:
    table = TablestoreTokenTable(running.url("never_created"), **running.credentials)
    with pytest.raises(TokenTableFatal, match="OTSObjectNotExist"):  # the invocation stops: FC retries it
        table.get(TOKEN)


# -- configuration ---------------------------------------------------------------------------------


def test_url_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FC_REGION", raising=False)
    monkeypatch.delenv("ALIBABA_CLOUD_REGION_ID", raising=False)
    assert parse_url("tablestore://Inst/tokens?endpoint=https://Inst.cn-hangzhou.ots.aliyuncs.com") == (
        "https://Inst.cn-hangzhou.ots.aliyuncs.com",
        "Inst",
        "tokens",
    )
    # A repeated endpoint: the last one wins, as a later flag overrides an earlier one.
    assert (
        parse_url("tablestore://Inst/tokens?endpoint=http://first&endpoint=http://last")[0] == "http://last"
    )
    with pytest.raises(ValueError, match="FC_REGION"):
        parse_url("tablestore://inst/tokens")
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-beijing")
    assert parse_url("tablestore://inst/tokens")[0] == "https://inst.cn-beijing.ots.aliyuncs.com"
    monkeypatch.setenv("FC_REGION", "cn-shanghai")
    assert parse_url("tablestore://inst/tokens")[0] == "https://inst.cn-shanghai.ots.aliyuncs.com"
    for bad in (
        "redis://inst/tokens",
        "tablestores://inst/tokens",
        "tablestore:///tokens",
        "tablestore://inst",
        "tablestore://inst/a/b",
    ):
        with pytest.raises(ValueError, match="tablestore://INSTANCE/TABLE"):
            parse_url(bad)


def test_credentials_come_from_the_environment(
    running: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = running.table_url()
    for name in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TokenTableAuthError, match="no credentials"):
        TablestoreTokenTable(url).claim(TOKEN, "a")  # refused at the first operation, not built

    for name, value in running.environment().items():
        monkeypatch.setenv(name, value)
    table = open_table(url)
    assert isinstance(table, TablestoreTokenTable)
    assert table.claim(TOKEN, "a").outcome is ClaimOutcome.CLAIMED


def test_sts_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with start_emulator(
        access_key_id="STS.role", access_key_secret="sts-secret", security_token="sts-token"
    ) as running:
        url = running.table_url()
        for name, value in running.environment().items():
            monkeypatch.setenv(name, value)
        assert TablestoreTokenTable(url).claim(TOKEN, "a").owned
        # An explicit key pair is used as given: it does not pick up the environment's token.
        explicit = TablestoreTokenTable(url, access_key_id="STS.role", access_key_secret="sts-secret")
        with pytest.raises(TokenTableError, match="OTSAuthFailed"):
            explicit.get(TOKEN)


def test_wrong_credentials_are_an_error_not_an_outage(running: RunningEmulator) -> None:
    url = running.table_url()
    table = TablestoreTokenTable(url, access_key_id=running.emulator.access_key_id, access_key_secret="wrong")
    with pytest.raises(TokenTableError, match="Signature mismatch") as caught:
        table.claim(TOKEN, "a")
    assert not isinstance(caught.value, TokenTableUnavailable)


# -- outages ---------------------------------------------------------------------------------------


def test_a_stopped_service_is_refused_as_unavailable_then_recovers(
    table: TokenTable, running: RunningEmulator
) -> None:
    table.claim(TOKEN, "a")
    running.emulator.stop()

    for call in (lambda: table.claim("other", "a"), lambda: table.get(TOKEN), table.records, table.purge):
        # Refused, not timed out: no wait for an answer.
        with pytest.raises(TokenTableUnavailable, match=r"unreachable.*[Rr]efused"):
            call()

    running.emulator.start()
    record = table.get(TOKEN)
    assert record is not None and record.owner == "a"


@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


class _BadGateway(http.server.BaseHTTPRequestHandler):
    """What a proxy in front of the service answers when the service is away: 502 and a page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_an_answer_that_is_not_the_services_is_unavailable(running: RunningEmulator) -> None:
    """An answer that is not the service's (a proxy's error page) is unusable: the SDK refuses it
    (a client error with an HTTP status), and the table calls that an outage, not a bug."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway) as proxy:
        thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        thread.start()
        table = TablestoreTokenTable(
            f"tablestore://{running.instance}/tokens?endpoint=http://127.0.0.1:{proxy.server_address[1]}",
            **running.credentials,
        )
        try:
            with pytest.raises(TokenTableUnavailable, match="HTTP status: 502"):
                table.claim(TOKEN, "a")
        finally:
            proxy.shutdown()
            thread.join()


def test_a_hung_service_times_out_as_unavailable(hung_endpoint: str, running: RunningEmulator) -> None:
    table = TablestoreTokenTable(
        f"tablestore://{running.instance}/tokens?endpoint={hung_endpoint}",
        socket_timeout=0.3,
        **running.credentials,
    )
    with pytest.raises(TokenTableUnavailable, match=r"[Tt]imed out"):
        table.claim(TOKEN, "a")


def test_records_round_trip_every_field(table: TokenTable, clock: FakeClock) -> None:
    record = TokenRecord(
        token=TOKEN,
        state=TokenState.FAILED,
        owner="host:1:abc",
        version=7,
        attempts=3,
        lease_until=clock.now + 0.125,
        snapshot_id="s-123",
        error_code="E",
        retryable=False,
        meta={"k": "v", "unicode": "ü"},
        created_at=clock.now - 1.5,
        updated_at=clock.now,
        expires_at=clock.now + TTL,
    )
    assert table._put_if_absent(record)
    assert table.get(TOKEN) == record


# -- what the SDK is given, and rows the table did not write ------------------------------------------


def test_the_sdk_client_gets_the_documented_timeout_and_retry_caps(running: RunningEmulator) -> None:
    client = TablestoreTokenTable(running.table_url(), **running.credentials)._client
    policy = client.retry_policy
    assert (client.socket_timeout, policy.max_retry_times, policy.max_retry_delay) == (3.0, 2, 1)
    assert TablestoreTokenTable(running.table_url(), **running.credentials).clock_skew == 15.0


def test_rotated_credentials_sign_the_next_request(running: RunningEmulator) -> None:
    """FC hands each invocation its STS credentials: a change takes effect at once, either way."""
    key_id, secret = running.emulator.access_key_id, running.emulator.access_key_secret
    table = TablestoreTokenTable(running.table_url(), access_key_id=key_id, access_key_secret="m-wrong")
    with pytest.raises(TokenTableAuthError):
        table.get(TOKEN)
    table.use_credentials(key_id, secret, None)  # (the pairs sort after, then before, the one in use)
    assert table.get(TOKEN) is None
    table.use_credentials(key_id, secret, None)  # the same again: the same client
    client = table._client
    table.use_credentials(key_id, "a-revoked", None)
    with pytest.raises(TokenTableAuthError):
        table.get(TOKEN)
    assert table._client is not client


def test_an_id_without_a_secret_is_no_credentials(
    running: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", running.emulator.access_key_id)
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", raising=False)
    with pytest.raises(TokenTableAuthError, match="no credentials"):
        TablestoreTokenTable(running.table_url()).get(TOKEN)


def test_a_refused_conditional_write_is_an_error_not_a_lost_condition(running: RunningEmulator) -> None:
    """Only OTSConditionCheckFail means "the condition did not hold" (False); a refusal of our
    credentials or a missing table is raised, whether its code sorts before or after it."""
    record = TokenRecord(
        token=TOKEN, state=TokenState.CLAIMED, owner="a", created_at=1.0, updated_at=1.0, expires_at=2.0
    )
    refused = TablestoreTokenTable(
        running.table_url(), access_key_id=running.emulator.access_key_id, access_key_secret="wrong"
    )
    with pytest.raises(TokenTableAuthError):  # OTSAuthFailed
        refused._compare_and_set(1, record)
    missing = TablestoreTokenTable(running.url("never_created"), **running.credentials)
    with pytest.raises(TokenTableError, match="OTSObjectNotExist"):
        missing._delete_if_expired(TOKEN, 3.0)


def test_a_row_without_version_or_expiry_is_never_overwritten_or_purged(
    table: TablestoreTokenTable, running: RunningEmulator
) -> None:
    running.client().put_row(table.table, tablestore.Row([("token", TOKEN)], [("something", "else")]))
    record = TokenRecord(
        token=TOKEN, state=TokenState.CLAIMED, owner="a", created_at=1.0, updated_at=1.0, expires_at=2.0
    )

    assert table._compare_and_set(1, record) is False
    assert table._delete_if_expired(TOKEN, 3.0) is False
    _, row, _ = running.client().get_row(table.table, [("token", TOKEN)], max_version=1)
    assert [(name, value) for name, value, _ in row.attribute_columns] == [("something", "else")]


def test_only_the_sdks_native_codec_notice_is_filtered(caplog: pytest.LogCaptureFixture) -> None:
    silence_native_codec_notice()
    silence_native_codec_notice()  # idempotent: one filter per logger
    for name in ("tablestore.encoder", "tablestore.decoder"):
        logger = logging.getLogger(name)
        assert sum(isinstance(f, _NativeCodecNotice) for f in logger.filters) == 1
        with caplog.at_level(logging.INFO, logger=name):
            logger.info("Native C++ encoder not available, using Python implementation")
            logger.info("Native codec loaded")
            logger.info("Python encoder not available")
    assert [r.getMessage() for r in caplog.records] == [
        "Native codec loaded",
        "Python encoder not available",
    ] * 2


def test_the_sdks_error_log_is_quiet_unless_configured(running: RunningEmulator) -> None:
    sdk_logger = logging.getLogger(SDK_LOGGER)
    saved = sdk_logger.level
    try:
        sdk_logger.setLevel(logging.NOTSET)
        TablestoreTokenTable(running.table_url(), **running.credentials)
        assert sdk_logger.level == logging.CRITICAL
        sdk_logger.setLevel(logging.DEBUG)  # an operator asked for it: kept
        TablestoreTokenTable(running.table_url(), **running.credentials)
        assert sdk_logger.level == logging.DEBUG
    finally:
        sdk_logger.setLevel(saved)


@pytest.mark.parametrize(
    ("status", "code", "outage"),
    [
        (503, "OTSSomethingNew", True),  # a 5xx is the service's trouble, whatever its code
        (500, "OTSSomethingNew", True),
        (499, "OTSSomethingNew", False),  # below 500 and no code we know: an error, not an outage
        (403, "OTSCapacityUnitExhausted", True),  # a "not now" code, whatever its status
    ],
)
def test_a_service_error_is_an_outage_by_its_status_or_its_code(
    table: TablestoreTokenTable, running: RunningEmulator, status: int, code: str, outage: bool
) -> None:
    running.emulator.fail_next(status, code)  # PutRow: a write, which the SDK does not retry

    with pytest.raises(TokenTableError, match=code) as caught:
        table.claim(TOKEN, "a")

    assert isinstance(caught.value, TokenTableUnavailable) is outage
    assert table.claim(TOKEN, "a").outcome is ClaimOutcome.CLAIMED  # one answer only
