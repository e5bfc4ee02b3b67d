"""The Tablestore emulator, driven through the real ``tablestore`` SDK.

Every call here is the SDK's own, so its request encoding, response checks (MD5, date, response
signature) and error decoding all take part. Expected error codes and messages are the service's.
"""

from __future__ import annotations

from typing import Any

import pytest
import tablestore
from tablestore import (
    INF_MAX,
    INF_MIN,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    OTSServiceError,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
)

from devkit.tablestore.testing import RunningEmulator, start_emulator
from tests.tablestore.conftest import create_table
from tests.tokens.support import FakeClock

IGNORE = RowExistenceExpectation.IGNORE
EXIST = RowExistenceExpectation.EXPECT_EXIST
NOT_EXIST = RowExistenceExpectation.EXPECT_NOT_EXIST


def service_error(call: Any, *args: Any, **kwargs: Any) -> OTSServiceError:
    """The OTSServiceError the SDK raises for ``call(*args, **kwargs)`` (fails if it succeeds)."""
    with pytest.raises(OTSServiceError) as caught:
        call(*args, **kwargs)
    return caught.value


def expect_error(error: OTSServiceError, status: int, code: str, message: str | None = None) -> None:
    assert (error.http_status, error.code) == (status, code), error
    if message is not None:
        assert error.message == message


def read(client: Any, table: str, pk: Any, **kwargs: Any) -> Any:
    """GetRow's row (or None)."""
    kwargs.setdefault("max_version", 1)
    _, row, _ = client.get_row(table, pk, **kwargs)
    return row


def values(row: Any) -> dict[str, Any]:
    """Latest value per attribute column of an SDK row."""
    found: dict[str, Any] = {}
    for name, value, *_ in row.attribute_columns:
        found.setdefault(name, value)
    return found


# -- tables ----------------------------------------------------------------------------------------


def test_table_lifecycle(client: Any) -> None:
    schema = [("region", "STRING"), ("id", "INTEGER"), ("raw", "BINARY")]
    create_table(client, "lifecycle", schema, time_to_live=86400, max_version=3, max_time_deviation=600)

    assert client.list_table() == ("lifecycle",)
    described = client.describe_table("lifecycle")
    assert described.table_meta.table_name == "lifecycle"
    assert described.table_meta.schema_of_primary_key == schema
    options = described.table_options
    assert (options.time_to_live, options.max_version, options.max_time_deviation) == (86400, 3, 600)

    again = service_error(create_table, client, "lifecycle", [("other", "STRING")])
    expect_error(again, 409, "OTSObjectAlreadyExist", "Requested table already exists.")

    client.delete_table("lifecycle")
    assert client.list_table() == ()
    gone = service_error(client.describe_table, "lifecycle")
    expect_error(gone, 404, "OTSObjectNotExist", "Requested table does not exist.")
    expect_error(service_error(client.delete_table, "lifecycle"), 404, "OTSObjectNotExist")
    expect_error(service_error(read, client, "lifecycle", [("region", "x")]), 404, "OTSObjectNotExist")


def test_describe_reports_the_service_defaults(client: Any) -> None:
    create_table(client, "defaults")
    options = client.describe_table("defaults").table_options
    assert (options.time_to_live, options.max_version, options.max_time_deviation) == (-1, 1, 86400)


@pytest.mark.parametrize(
    ("schema", "options", "message"),
    [
        ([("PK0", "STRING"), ("PK0", "INTEGER")], {}, "Duplicated primary key name: 'PK0'."),
        ([(f"k{i}", "STRING") for i in range(5)], {}, None),
        ([("1bad", "STRING")], {}, None),
        ([("pk", "STRING")], {"time_to_live": 0}, "TimeToLive cannot be 0 or less than -1."),
        ([("pk", "STRING")], {"time_to_live": -2}, "TimeToLive cannot be 0 or less than -1."),
        ([("pk", "STRING")], {"time_to_live": 86399}, None),
        ([("pk", "STRING")], {"max_version": 0}, None),
    ],
)
def test_create_table_rejects_what_the_service_rejects(
    client: Any, schema: Any, options: dict[str, int], message: str | None
) -> None:
    error = service_error(create_table, client, "bad", schema, **options)
    expect_error(error, 400, "OTSParameterInvalid", message)
    assert client.list_table() == ()


def test_minimum_ttl_is_one_day(client: Any) -> None:
    create_table(client, "daily", time_to_live=86400)
    assert client.describe_table("daily").table_options.time_to_live == 86400


def test_features_the_emulator_does_not_model_are_refused(client: Any) -> None:
    meta = tablestore.TableMeta("indexed", [("pk", "STRING")], [("c", "STRING")])
    index = tablestore.SecondaryIndexMeta("by_c", ["c"], [])
    reserved = tablestore.ReservedThroughput(tablestore.CapacityUnit(0, 0))
    error = service_error(client.create_table, meta, tablestore.TableOptions(), reserved, [index])
    expect_error(error, 400, "OTSParameterInvalid")
    assert "not supported" in error.message


# -- rows ------------------------------------------------------------------------------------------


def test_put_get_round_trip_every_type(client: Any, clock: FakeClock) -> None:
    create_table(client, "types", [("s", "STRING"), ("i", "INTEGER"), ("b", "BINARY")])
    pk = [("s", "ключ"), ("i", -7), ("b", bytearray(b"\x00\xff"))]
    columns = [
        ("str", "värde"),
        ("int", 2**62),
        ("neg", -1),
        ("dbl", 3.25),
        ("yes", True),
        ("no", False),
        ("blob", bytearray(b"\x01\x02")),
    ]
    consumed, returned = client.put_row("types", Row(pk, columns))
    assert consumed.write >= 1 and returned is None

    row = read(client, "types", pk)
    assert row.primary_key == pk
    assert values(row) == dict(columns)
    # Every cell carries its version: the (fake) clock at the write, in milliseconds.
    assert {timestamp for *_, timestamp in row.attribute_columns} == {int(clock.now * 1000)}
    assert [name for name, *_ in row.attribute_columns] == sorted(dict(columns))


def test_a_missing_row_reads_as_none(client: Any) -> None:
    create_table(client)
    assert read(client, "t", [("pk", "nothing")]) is None


def test_batch_get_row_reads_up_to_100_rows_each_on_its_own(client: Any) -> None:
    create_table(client)
    for n in range(0, 100, 2):
        client.put_row("t", Row([("pk", f"k{n:03d}")], [("n", n)]))
    request = tablestore.BatchGetRowRequest()
    request.add(
        tablestore.TableInBatchGetRowItem("t", [[("pk", f"k{n:03d}")] for n in range(100)], max_version=1)
    )
    rows = client.batch_get_row(request).get_result_by_table("t")
    assert len(rows) == 100 and all(r.is_ok for r in rows)
    assert [values(r.row)["n"] if r.row else None for r in rows] == [
        n if n % 2 == 0 else None for n in range(100)
    ]

    too_many = tablestore.BatchGetRowRequest()
    too_many.add(
        tablestore.TableInBatchGetRowItem("t", [[("pk", f"k{n}")] for n in range(101)], max_version=1)
    )
    assert service_error(client.batch_get_row, too_many).code == "OTSParameterInvalid"
    missing = tablestore.BatchGetRowRequest()
    missing.add(tablestore.TableInBatchGetRowItem("nope", [[("pk", "a")]], max_version=1))
    assert service_error(client.batch_get_row, missing).code == "OTSObjectNotExist"


def test_columns_to_get(client: Any) -> None:
    create_table(client)
    client.put_row("t", Row([("pk", "a")], [("c1", "x"), ("c2", 2)]))

    assert values(read(client, "t", [("pk", "a")], columns_to_get=["c1"])) == {"c1": "x"}
    assert read(client, "t", [("pk", "a")], columns_to_get=["nope"]) is None


def test_put_row_replaces_the_whole_row(client: Any) -> None:
    create_table(client)
    client.put_row("t", Row([("pk", "a")], [("old", 1), ("kept", 1)]))
    client.put_row("t", Row([("pk", "a")], [("kept", 2)]))
    assert values(read(client, "t", [("pk", "a")])) == {"kept": 2}


def test_a_row_with_only_a_primary_key_exists(client: Any) -> None:
    create_table(client)
    client.put_row("t", Row([("pk", "bare")], []))
    row = read(client, "t", [("pk", "bare")])
    assert row.primary_key == [("pk", "bare")] and row.attribute_columns == []


@pytest.mark.parametrize(
    ("pk", "message"),
    [
        ([("other", "x")], "Validate PK name fail. Input: other, Meta: pk."),
        ([("pk", "x"), ("extra", 1)], "Validate PK size fail. Input: 2, Meta: 1."),
        ([("pk", 5)], "Validate PK type fail. Input: VT_INTEGER, Meta: VT_STRING."),
    ],
)
def test_every_row_operation_checks_the_primary_key(client: Any, pk: Any, message: str) -> None:
    create_table(client)
    calls = [
        lambda: read(client, "t", pk),
        lambda: client.put_row("t", Row(pk, [("c", 1)])),
        lambda: client.update_row("t", Row(pk, {"put": [("c", 1)]}), Condition(IGNORE)),
        lambda: client.delete_row("t", Row(pk), Condition(IGNORE)),
    ]
    for call in calls:
        expect_error(service_error(call), 400, "OTSInvalidPK", message)


def test_update_row_puts_deletes_and_increments(client: Any, clock: FakeClock) -> None:
    create_table(client, max_version=3)
    pk = [("pk", "a")]
    client.put_row("t", Row(pk, [("keep", "k"), ("drop", 1), ("n", 40)]))
    first_version = int(clock.now * 1000)
    clock.advance(1)
    client.update_row("t", Row(pk, {"put": [("keep", "k"), ("v", "old")]}), None)
    clock.advance(1)
    client.update_row(
        "t", Row(pk, {"put": [("v", "new")], "delete_all": ["drop"], "increment": [("n", 2)]}), None
    )

    row = read(client, "t", pk)
    assert values(row) == {"keep": "k", "n": 42, "v": "new"}

    versions = [(name, value) for name, value, _ in read(client, "t", pk, max_version=3).attribute_columns]
    assert versions == [("keep", "k"), ("keep", "k"), ("n", 42), ("n", 40), ("v", "new"), ("v", "old")]
    # "delete" removes the one version named by its timestamp.
    client.update_row("t", Row(pk, {"delete": [("keep", None, first_version + 1000)]}), None)
    assert [v for n, v, _ in read(client, "t", pk, max_version=3).attribute_columns if n == "keep"] == ["k"]


def test_an_update_of_only_deletes_does_not_create_a_row(client: Any) -> None:
    create_table(client)
    client.update_row("t", Row([("pk", "ghost")], {"delete_all": ["c"]}), Condition(IGNORE))
    assert read(client, "t", [("pk", "ghost")]) is None


def test_update_row_can_return_the_primary_key(client: Any) -> None:
    create_table(client)
    _, row = client.update_row(
        "t",
        Row([("pk", "a")], {"put": [("c", 1)]}),
        Condition(IGNORE),
        return_type=tablestore.ReturnType.RT_PK,
    )
    assert row.primary_key == [("pk", "a")]


def test_auto_increment_primary_key(client: Any) -> None:
    create_table(client, "seq", [("part", "STRING"), ("id", "INTEGER", tablestore.PK_AUTO_INCR)])
    returned = [
        client.put_row(
            "seq",
            Row([("part", "p"), ("id", tablestore.PK_AUTO_INCR)], [("n", n)]),
            None,
            tablestore.ReturnType.RT_PK,
        )[1]
        for n in range(3)
    ]
    ids = [row.primary_key[1][1] for row in returned]
    assert ids == sorted(set(ids))
    assert values(read(client, "seq", returned[2].primary_key)) == {"n": 2}


def test_explicit_versions_and_max_versions(client: Any, clock: FakeClock) -> None:
    create_table(client, max_version=2, max_time_deviation=3600)
    now_ms = int(clock.now * 1000)
    for offset in (3, 1, 2):
        client.update_row("t", Row([("pk", "a")], {"put": [("c", offset, now_ms - offset * 1000)]}), None)
    cells = read(client, "t", [("pk", "a")], max_version=5).attribute_columns
    # Only the two newest versions are kept, newest first.
    assert cells == [("c", 1, now_ms - 1000), ("c", 2, now_ms - 2000)]

    too_old = service_error(client.put_row, "t", Row([("pk", "b")], [("c", 1, now_ms - 3601 * 1000)]))
    expect_error(too_old, 400, "OTSParameterInvalid")


# -- conditions ------------------------------------------------------------------------------------

ROW_CONDITIONS = [
    # (operation, expectation, row exists beforehand, succeeds)
    ("put", IGNORE, False, True),
    ("put", IGNORE, True, True),
    ("put", EXIST, True, True),
    ("put", EXIST, False, False),
    ("put", NOT_EXIST, False, True),
    ("put", NOT_EXIST, True, False),
    ("update", IGNORE, False, True),
    ("update", EXIST, True, True),
    ("update", EXIST, False, False),
    ("update", NOT_EXIST, False, True),
    ("update", NOT_EXIST, True, False),
    ("delete", IGNORE, False, True),
    ("delete", IGNORE, True, True),
    ("delete", EXIST, True, True),
    ("delete", EXIST, False, False),
]


@pytest.mark.parametrize(("operation", "expectation", "exists", "succeeds"), ROW_CONDITIONS)
def test_row_existence_conditions(
    client: Any, operation: str, expectation: str, exists: bool, succeeds: bool
) -> None:
    create_table(client)
    pk = [("pk", "a")]
    if exists:
        client.put_row("t", Row(pk, [("c", "before")]))
    before = read(client, "t", pk)
    condition = Condition(expectation)
    calls = {
        "put": lambda: client.put_row("t", Row(pk, [("c", "after")]), condition),
        "update": lambda: client.update_row("t", Row(pk, {"put": [("c", "after")]}), condition),
        "delete": lambda: client.delete_row("t", Row(pk), condition),
    }
    if succeeds:
        calls[operation]()
        after = read(client, "t", pk)
        assert after is None if operation == "delete" else values(after) == {"c": "after"}
    else:
        error = service_error(calls[operation])
        expect_error(error, 403, "OTSConditionCheckFail", "Condition check failed.")
        after = read(client, "t", pk)
        assert (after is None) == (before is None) and (after is None or values(after) == values(before))


def test_delete_row_refuses_expect_not_exist(client: Any) -> None:
    create_table(client)
    error = service_error(client.delete_row, "t", Row([("pk", "a")]), Condition(NOT_EXIST))
    expect_error(error, 400, "OTSParameterInvalid")


SINGLE_COLUMN = [
    # (comparator, condition value, passes against n = 5)
    (ComparatorType.EQUAL, 5, True),
    (ComparatorType.EQUAL, 6, False),
    (ComparatorType.NOT_EQUAL, 6, True),
    (ComparatorType.NOT_EQUAL, 5, False),
    (ComparatorType.GREATER_THAN, 4, True),
    (ComparatorType.GREATER_THAN, 5, False),
    (ComparatorType.GREATER_EQUAL, 5, True),
    (ComparatorType.GREATER_EQUAL, 6, False),
    (ComparatorType.LESS_THAN, 6, True),
    (ComparatorType.LESS_THAN, 5, False),
    (ComparatorType.LESS_EQUAL, 5, True),
    (ComparatorType.LESS_EQUAL, 4, False),
    (ComparatorType.EQUAL, "5", False),  # no conversion between types
    (ComparatorType.EQUAL, 5.0, False),
]


@pytest.mark.parametrize(("comparator", "value", "passes"), SINGLE_COLUMN)
def test_single_column_conditions(client: Any, comparator: str, value: Any, passes: bool) -> None:
    create_table(client)
    pk = [("pk", "a")]
    client.put_row("t", Row(pk, [("n", 5)]))
    condition = Condition(IGNORE, SingleColumnCondition("n", value, comparator))
    if passes:
        client.put_row("t", Row(pk, [("n", 5), ("done", True)]), condition)
        assert values(read(client, "t", pk))["done"] is True
    else:
        expect_error(
            service_error(client.put_row, "t", Row(pk, [("n", 0)]), condition), 403, "OTSConditionCheckFail"
        )
        assert values(read(client, "t", pk)) == {"n": 5}


def test_missing_column_passes_only_if_asked(client: Any) -> None:
    create_table(client)
    pk = [("pk", "a")]
    client.put_row("t", Row(pk, [("n", 5)]))
    lenient = Condition(EXIST, SingleColumnCondition("absent", 1, ComparatorType.EQUAL, pass_if_missing=True))
    strict = Condition(EXIST, SingleColumnCondition("absent", 1, ComparatorType.EQUAL, pass_if_missing=False))
    client.update_row("t", Row(pk, {"put": [("m", 1)]}), lenient)
    expect_error(
        service_error(client.update_row, "t", Row(pk, {"put": [("m", 2)]}), strict),
        403,
        "OTSConditionCheckFail",
    )


def test_composite_conditions(client: Any) -> None:
    create_table(client)
    pk = [("pk", "a")]
    client.put_row("t", Row(pk, [("n", 5), ("s", "x")]))

    def composite(operator: str, *subs: Any) -> Condition:
        condition = CompositeColumnCondition(operator)
        for sub in subs:
            condition.add_sub_condition(sub)
        return Condition(EXIST, condition)

    n_is_5 = SingleColumnCondition("n", 5, ComparatorType.EQUAL)
    s_is_y = SingleColumnCondition("s", "y", ComparatorType.EQUAL)
    passing = [
        composite(LogicalOperator.OR, n_is_5, s_is_y),
        composite(LogicalOperator.NOT, s_is_y),
        composite(LogicalOperator.AND, n_is_5, composite(LogicalOperator.NOT, s_is_y).column_condition),
    ]
    failing = [composite(LogicalOperator.AND, n_is_5, s_is_y), composite(LogicalOperator.NOT, n_is_5)]
    for condition in passing:
        client.update_row("t", Row(pk, {"put": [("hit", 1)]}), condition)
    for condition in failing:
        expect_error(
            service_error(client.update_row, "t", Row(pk, {"put": [("hit", 2)]}), condition),
            403,
            "OTSConditionCheckFail",
        )


def test_get_row_column_filter(client: Any) -> None:
    create_table(client)
    client.put_row("t", Row([("pk", "a")], [("n", 5)]))
    matching = SingleColumnCondition("n", 5, ComparatorType.EQUAL)
    other = SingleColumnCondition("n", 6, ComparatorType.EQUAL)
    assert read(client, "t", [("pk", "a")], column_filter=matching) is not None
    assert read(client, "t", [("pk", "a")], column_filter=other) is None


# -- GetRange --------------------------------------------------------------------------------------


def fill(client: Any, count: int) -> list[list[tuple[str, Any]]]:
    create_table(client, "r", [("part", "STRING"), ("n", "INTEGER")])
    keys = [[("part", part), ("n", n)] for part in ("a", "b") for n in range(count // 2)]
    for key in keys:
        client.put_row("r", Row(key, [("v", key[1][1])]))
    return keys


def test_get_range_pages_with_next_start_primary_key(client: Any) -> None:
    keys = fill(client, 12)
    start, end = [("part", INF_MIN), ("n", INF_MIN)], [("part", INF_MAX), ("n", INF_MAX)]

    seen: list[Any] = []
    pages = 0
    while start:
        _, start, rows, _ = client.get_range("r", "FORWARD", start, end, limit=5, max_version=1)
        seen.extend(row.primary_key for row in rows)
        pages += 1
    assert seen == keys and pages == 3

    backward = client.xget_range(
        "r", "BACKWARD", end, [("part", INF_MIN), ("n", INF_MIN)], tablestore.CapacityUnit(0, 0)
    )
    assert [row.primary_key for row in backward] == keys[::-1]


def test_get_range_bounds_are_inclusive_start_exclusive_end(client: Any) -> None:
    fill(client, 8)
    _, _, rows, _ = client.get_range(
        "r", "FORWARD", [("part", "a"), ("n", 1)], [("part", "b"), ("n", 1)], max_version=1
    )
    assert [row.primary_key for row in rows] == [
        [("part", "a"), ("n", 1)],
        [("part", "a"), ("n", 2)],
        [("part", "a"), ("n", 3)],
        [("part", "b"), ("n", 0)],
    ]


def test_get_range_caps_a_page_and_says_where_to_go_on() -> None:
    with start_emulator(max_rows_per_page=3) as running:
        client = running.client()
        fill(client, 8)
        start = [("part", INF_MIN), ("n", INF_MIN)]
        _, next_start, rows, _ = client.get_range("r", "FORWARD", start, [("part", INF_MAX), ("n", INF_MAX)])
        assert len(rows) == 3 and next_start == [("part", "a"), ("n", 3)]


@pytest.mark.parametrize(
    ("direction", "keys", "limit", "message"),
    [
        ("FORWARD", ("b", "a"), None, "Begin key must less than end key in FORWARD"),
        ("FORWARD", ("a", "a"), None, "Begin key must less than end key in FORWARD"),
        ("BACKWARD", ("a", "b"), None, "Begin key must more than end key in BACKWARD"),
        ("FORWARD", ("a", "b"), 0, "The limit must be greater than 0."),
    ],
)
def test_get_range_rejects_bad_ranges(
    client: Any, direction: str, keys: tuple[str, str], limit: int | None, message: str
) -> None:
    create_table(client)
    start, end = [("pk", keys[0])], [("pk", keys[1])]
    error = service_error(client.get_range, "t", direction, start, end, limit=limit)
    expect_error(error, 400, "OTSParameterInvalid", message)


# -- TTL -------------------------------------------------------------------------------------------


def test_rows_older_than_the_ttl_read_as_absent(client: Any, clock: FakeClock) -> None:
    create_table(client, time_to_live=86400)
    pk = [("pk", "a")]
    client.put_row("t", Row(pk, [("c", 1)]))
    clock.advance(86400)
    assert read(client, "t", pk) is not None

    clock.advance(1)
    assert read(client, "t", pk) is None
    _, _, rows, _ = client.get_range("t", "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], max_version=1)
    assert rows == []
    expect_error(
        service_error(client.update_row, "t", Row(pk, {"put": [("c", 2)]}), Condition(EXIST)),
        403,
        "OTSConditionCheckFail",
    )
    client.put_row("t", Row(pk, [("c", 3)]), Condition(NOT_EXIST))
    assert values(read(client, "t", pk)) == {"c": 3}


def test_ttl_expires_cells_by_their_own_versions(client: Any, clock: FakeClock) -> None:
    create_table(client, time_to_live=86400)
    pk = [("pk", "a")]
    client.put_row("t", Row(pk, [("old", 1)]))
    clock.advance(50000)
    client.update_row("t", Row(pk, {"put": [("new", 2)]}), None)
    clock.advance(50000)
    assert values(read(client, "t", pk)) == {"new": 2}


# -- authentication --------------------------------------------------------------------------------


def test_a_wrong_secret_fails_the_signature(running: RunningEmulator) -> None:
    client = tablestore.OTSClient(
        running.endpoint, running.emulator.access_key_id, "not-the-secret", running.instance
    )
    expect_error(service_error(client.list_table), 403, "OTSAuthFailed", "Signature mismatch.")


def test_an_unknown_access_key_is_refused(running: RunningEmulator) -> None:
    client = tablestore.OTSClient(running.endpoint, "LTAInobody", "whatever", running.instance)
    expect_error(service_error(client.list_table), 403, "OTSAuthFailed", "The AccessKeyID does not exist.")


def test_another_instance_is_not_found(running: RunningEmulator) -> None:
    emulator = running.emulator
    client = tablestore.OTSClient(
        running.endpoint, emulator.access_key_id, emulator.access_key_secret, "elsewhere"
    )
    expect_error(service_error(client.list_table), 403, "OTSAuthFailed", "The instance is not found.")


def test_sts_credentials_need_their_token(running: RunningEmulator) -> None:
    running.emulator.add_credential("STS.temp", "temp-secret", "temp-token")
    without = tablestore.OTSClient(running.endpoint, "STS.temp", "temp-secret", running.instance)
    expect_error(service_error(without.list_table), 403, "OTSAuthFailed")
    with_token = tablestore.OTSClient(
        running.endpoint, "STS.temp", "temp-secret", running.instance, sts_token="temp-token"
    )
    assert with_token.list_table() == ()


def test_sign_v4_clients_are_accepted(running: RunningEmulator) -> None:
    client = running.client(region="cn-hangzhou")
    create_table(client)
    client.put_row("t", Row([("pk", "a")], [("c", 1)]))
    assert values(read(client, "t", [("pk", "a")])) == {"c": 1}


# -- the server ------------------------------------------------------------------------------------


def test_a_stopped_emulator_refuses_connections_and_restarts_with_its_data(running: RunningEmulator) -> None:
    client = running.client(retry_policy=tablestore.NoRetryPolicy())
    create_table(client)
    client.put_row("t", Row([("pk", "a")], [("c", 1)]))

    running.emulator.stop()
    with pytest.raises(Exception, match="Connection refused"):
        client.list_table()

    running.emulator.start()
    assert values(read(client, "t", [("pk", "a")])) == {"c": 1}
