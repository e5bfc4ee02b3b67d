"""What ``make mutation`` mutates, which tests must kill each module's mutants, and the mutants
that no test can kill because they do not change behaviour.

``MODULES`` maps a library module (relative to ``layers/snapstack/python``) to the test files or
node ids that exercise it (and pytest options, e.g. ``-ksqlite`` to run the token-table contract
on one backend), fastest first: pytest stops at the first failure, so a mutant the
quick unit tests kill never waits for the end-to-end ones. A module must be killed by its own
list, so keep it to the tests that pin the module's behaviour (a whole-suite run per mutant
would take hours on 2 cores). Adding a module = one line here; ``tests/test_mutation_targets.py``
checks that every core module is listed and that every listed test exists.

``EQUIVALENT`` lists surviving mutants that are equivalent to the original (no input can tell
them apart), each with the reason. A mutant is named by its module, cosmic-ray operator, the
source line it changes and (when that operator mutates the line more than one way) the line as
mutated, both stripped, so the entry survives edits elsewhere in the file; an entry that no
longer matches anything is reported, so the list cannot go stale quietly.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The acceptance bar (issue #18): killed / (killed + survived), per module, in percent.
MIN_SCORE = 90.0

#: pytest-timeout per test while a mutant is in place: a mutant that hangs (a rate limiter that
#: never grants, a retry loop that never ends) fails its test instead of stalling the run.
TEST_TIMEOUT = 60

#: cosmic-ray operators not run (its operators filter; regular expressions on the operator name).
#: An arithmetic operator turned into a bit shift or a bitwise one only ever raises TypeError on
#: the floats and strings this library computes with, and they were 40% of all mutants: excluded
#: to keep each module's run in minutes. Bitwise operators themselves are still mutated (the
#: set intersections of the allow-list become unions).
EXCLUDED_OPERATORS = (
    r"core/ReplaceBinaryOperator_\w+_(LShift|RShift)$",
    r"core/ReplaceBinaryOperator_(Add|Sub|Mul|Div|FloorDiv|Mod|Pow)_(BitAnd|BitOr|BitXor)$",
)

_ECS = ("tests/ecs/test_errors.py", "tests/ecs/test_request.py", "tests/ecs/test_client.py")
_CONTRACT = "tests/tokens/test_contract.py"  # the token-table contract, once per backend
_PRIMITIVES = "tests/tokens/test_primitives.py"
#: The state machine's other writes, lease skew, defaults and bounded races, once per backend.
_TRANSITIONS = "tests/tokens/test_transitions.py"
_E2E = (
    "tests/e2e/test_scheduled.py",
    "tests/e2e/test_deploy.py",
    "tests/e2e/test_alarm.py",
)

#: What the handlers and the executor are pinned by: the end-to-end tests of each trigger, the
#: protocol's and the field's cases, bad input, table and ECS failures, streaming. One list for
#: them all: it runs once under coverage per ``make mutation`` and each mutant then runs only the
#: tests that ran its statement (quickest first), so a broad list costs its baseline run, once.
_HANDLERS = (
    "tests/handlers",
    "tests/test_execute_parts.py",
    "tests/test_executor.py",
    "tests/test_targets.py",
    *_E2E,
    "tests/e2e/test_deploy_parts.py",
    "tests/e2e/test_scheduled_parts.py",
    "tests/e2e/test_alarm_parts.py",
    "tests/e2e/test_deploy_request.py",
    "tests/e2e/test_deploy_trust.py",
    "tests/e2e/test_deploy_field.py",
    "tests/e2e/test_protocol.py",
    "tests/e2e/test_date_placeholder.py",
    "tests/e2e/test_untrusted_text.py",
    "tests/e2e/test_field_cases.py",
    "tests/reliability/test_bad_input.py",
    "tests/reliability/test_table_errors.py",
    "tests/reliability/test_outages.py",
    "tests/reliability/test_faults.py",
    "tests/scale/test_streaming.py",
)

#: test_parts.py's unit tests of slot deadlines and RPO durations (its end-to-end ones are slower).
_PARTS = (
    "-kslot_ends or deadline or only_a_timer or default_rpo or not_a_duration or never_overstate"
    " or every_unit"
)
_RECONCILE = (
    "tests/operate/test_sources.py",
    "tests/operate/test_failure_queue.py",
    "tests/operate/test_reconciler.py",
)

MODULES: dict[str, tuple[str, ...]] = {
    "snapstack/ratelimit.py": ("tests/test_ratelimit.py",),
    "snapstack/collector.py": ("tests/test_collector.py",),
    "snapstack/ecs/retry.py": ("tests/ecs/test_retry.py",),
    "snapstack/ecs/errors.py": (
        "tests/ecs/test_errors.py",
        "tests/ecs/test_dispositions.py",
        "tests/ecs/test_client.py",  # codes as they come over the wire, not as literals
    ),
    "snapstack/ecs/request.py": ("tests/ecs/test_request_bounds.py", "tests/ecs/test_request.py"),
    "snapstack/ecs/client.py": ("tests/ecs/test_client_config.py", "tests/ecs/test_client.py"),
    "snapstack/ecs/credentials.py": ("tests/ecs/test_client_config.py", "tests/ecs/test_client.py"),
    "snapstack/policy/model.py": ("tests/policy/test_policy.py", "tests/test_targets.py"),
    "snapstack/policy/naming.py": ("tests/policy/test_naming.py", "tests/policy/test_policy.py"),
    "snapstack/policy/schedule.py": ("tests/policy/test_schedule.py", "tests/policy/test_policy.py"),
    "snapstack/tokens/slots.py": ("tests/tokens/test_slots.py",),
    "snapstack/tokens/__init__.py": ("tests/tokens/test_open_table.py", "tests/tokens/test_contract.py"),
    "snapstack/tokens/urls.py": (
        "tests/tokens/test_urls.py",
        "tests/tokens/test_redis.py",
        "tests/tokens/test_cli.py",
    ),
    "snapstack/tokens/base.py": (
        _TRANSITIONS,
        "tests/tokens/test_corrupt_records.py",
        "tests/tokens/test_update_record.py",
        _PRIMITIVES,
        _CONTRACT,
        "tests/operate/test_table.py",  # unfinished_records and reopen, once per backend
        "tests/tablestore/test_ots_token_table.py",  # the one hook between a claim's two reads
        "-ksqlite or two_reads",
    ),
    "snapstack/tokens/sqlite.py": (
        "tests/tokens/test_sqlite.py",
        "tests/tokens/test_corrupt_records.py",
        _PRIMITIVES,
        _CONTRACT,
        "-ksqlite",
    ),
    "snapstack/tokens/redis.py": (
        "tests/tokens/test_redis.py",
        "tests/tokens/test_corrupt_records.py",
        _PRIMITIVES,
        _TRANSITIONS,
        _CONTRACT,
        "-kredis",
    ),
    "snapstack/tokens/tablestore.py": (
        "tests/tablestore/test_ots_token_table.py",
        _PRIMITIVES,
        _TRANSITIONS,
        _CONTRACT,
        "-ktablestore",
    ),
    # its unit tests, then the ones that page DescribeDisks / DescribeInstances against the emulator
    "snapstack/targets.py": (
        "tests/test_targets.py",
        "tests/scale/test_selectors.py",
        "tests/handlers/test_planning_parts.py",
        "tests/scale/test_streaming.py",
    ),
    "snapstack/execute.py": _HANDLERS,
    "snapstack/handlers/planning.py": _HANDLERS,
    "snapstack/handlers/cooldown.py": (
        "tests/tokens/test_cooldown.py",
        "tests/e2e/test_alarm.py",
        "-ksqlite or test_alarm",  # the cooldown contract on one backend, then the handler's use of it
    ),
    "snapstack/handlers/runtime.py": _HANDLERS,
    "snapstack/handlers/scheduled.py": _HANDLERS,
    "snapstack/handlers/deploy.py": _HANDLERS,
    "snapstack/handlers/manifest.py": (
        *_HANDLERS,
        # FC's oss2 2.16.0 (its image's site-packages) is the only one without is_path_style
        "tests/stack/test_fc_image.py::test_path_style_oss_on_fcs_oss2_2_16_fails_the_invocation_naming_the_setting",
    ),
    "snapstack/handlers/alarm.py": _HANDLERS,
    "snapstack/handlers/prune.py": (
        "tests/retention/test_handler_parts.py",
        "tests/retention/test_handler.py",
    ),
    "snapstack/policy/retention.py": (
        "tests/retention/test_model_bounds.py",
        "tests/retention/test_model.py",
        "tests/retention/test_tiers.py",
    ),
    "snapstack/retention/tiers.py": ("tests/retention/test_tiers.py",),
    "snapstack/retention/config.py": ("tests/retention/test_model.py", "tests/retention/test_handler.py"),
    "snapstack/retention/inventory.py": (
        "tests/retention/test_inventory.py",
        "tests/retention/test_quota.py",
        "tests/retention/test_prune.py",
        "tests/retention/test_safety.py",
    ),
    "snapstack/retention/plan.py": ("tests/retention/test_prune.py", "tests/retention/test_safety.py"),
    "snapstack/retention/delete.py": ("tests/retention/test_prune.py", "tests/retention/test_safety.py"),
    "snapstack/retention/run.py": ("tests/retention/test_prune.py", "tests/retention/test_handler.py"),
    "snapstack/retention/quota.py": ("tests/retention/test_quota.py",),
    "snapstack/policy/rpo.py": ("tests/operate/test_parts.py", _PARTS),
    "snapstack/reconcile/deadlines.py": ("tests/operate/test_parts.py", _PARTS),
    "snapstack/reconcile/meta.py": ("tests/operate/test_parts.py", "tests/operate/test_sources.py"),
    "snapstack/reconcile/config.py": ("tests/operate/test_parts.py",),
    "snapstack/reconcile/work.py": ("tests/operate/test_sources.py",),
    "snapstack/reconcile/sources.py": ("tests/operate/test_table.py", "tests/operate/test_sources.py"),
    "snapstack/reconcile/failures.py": ("tests/operate/test_failure_queue.py",),
    "snapstack/reconcile/mns.py": ("tests/operate/test_failure_queue.py",),
    "snapstack/reconcile/inventory.py": ("tests/operate/test_rpo.py",),
    "snapstack/reconcile/rpo.py": ("tests/operate/test_rpo.py",),
    "snapstack/reconcile/redrive.py": _RECONCILE,
    "snapstack/handlers/reconciler.py": (
        "tests/operate/test_parts.py",
        "tests/operate/test_rpo.py",  # the RPO check's summary, log lines and metrics
        *_RECONCILE,
    ),
}

#: Directories and files whose every module must be in ``MODULES`` (the issue's "core").
CORE = (
    "snapstack/ecs",
    "snapstack/tokens",
    "snapstack/policy",
    "snapstack/handlers",
    "snapstack/retention",  # deletes snapshots: as core as creating them
    "snapstack/reconcile",  # the backstop that loses no disk
    "snapstack/execute.py",
    "snapstack/ratelimit.py",
    "snapstack/collector.py",  # the fan-out's collector settings
    "snapstack/targets.py",
)


@dataclass(frozen=True)
class Equivalent:
    """A mutant no test can kill: the module, the cosmic-ray operator, the line, why, and the
    mutated line ("" when every mutant of that operator on that line is equivalent)."""

    module: str
    operator: str
    line: str
    why: str
    mutant: str = ""


_CLASSMETHOD = (
    "pydantic's field_validator makes the validator a classmethod itself: removing the decorator "
    "changes nothing"
)
_REQUEST_RULE = "CreateSnapshotRequest refuses the same values with its own rule, which every policy runs"

#: ``x == "literal"`` -> ``x is "literal"`` where ``x`` is itself a literal of the module: CPython
#: interns identifier-like string literals, so the two are identical exactly when equal.
_INTERNED = "both sides are interned string literals of the module: identical exactly when equal"

EQUIVALENT: tuple[Equivalent, ...] = (
    *(
        Equivalent(
            "snapstack/tokens/sqlite.py",
            "core/NumberReplacer",
            line,
            "the generation only has to change at close(): every thread compares its copy with the "
            "table's, so the start value and the step are never observed",
        )
        for line in ("self._generation = 0", "self._generation += 1")
    ),
    *(
        Equivalent(
            "snapstack/tokens/sqlite.py",
            operator,
            "if conn is not None and local.generation == self._generation:",
            "a thread's copy is never ahead of the table's generation, so >= holds exactly when == "
            "does; 'is' differs only past 256 closes, and then reopens a connection per call, which "
            "answers the same",
        )
        for operator in ("core/ReplaceComparisonOperator_Eq_GtE", "core/ReplaceComparisonOperator_Eq_Is")
    ),
    Equivalent(
        "snapstack/tokens/sqlite.py",
        "core/ReplaceFalseWithTrue",
        "self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False",
        "each connection is used only by the thread that opened it (one per thread), so SQLite's "
        "same-thread check never fires",
    ),
    Equivalent(
        "snapstack/collector.py",
        "core/NumberReplacer",
        "GEN0_THRESHOLD = 7000",
        "a tuning figure the fan-out benchmark measured (bench/fanout.py); tests compare the "
        "collector's setting to the constant, so 6,999 or 7,001 behave the same to every test",
    ),
    Equivalent(
        "snapstack/collector.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "freeze = gc.get_freeze_count() == 0",
        "a count of frozen objects is never negative: == 0 and <= 0 agree",
    ),
    Equivalent(
        "snapstack/collector.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        "if self.users > 1:",
        "users was just incremented from a count that is never negative: > 1 and != 1 agree",
    ),
    Equivalent(
        "snapstack/collector.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        "if self.users > 0 or self.saved is None:",
        "every exit follows its enter (a with block): the count never drops below 0, so > 0 and != 0 agree",
    ),
    Equivalent(
        "snapstack/tokens/tablestore.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "*,",
        "every caller passes the URL by position and the rest by keyword: a positional-only marker "
        "in place of the keyword-only one accepts the same calls",
    ),
    *(
        Equivalent(
            "snapstack/tokens/tablestore.py",
            operator,
            "if sdk_logger.level == logging.NOTSET:",
            "logging levels are never negative (NOTSET is 0), and small ints are one object each (CPython)",
        )
        for operator in ("core/ReplaceComparisonOperator_Eq_LtE", "core/ReplaceComparisonOperator_Eq_Is")
    ),
    *(
        Equivalent(
            "snapstack/tokens/tablestore.py",
            operator,
            "if self._sdk_client is None or wanted != self._client_credentials:",
            "a client made again for every request signs with the same credentials and gets the same "
            "answers: it only costs the construction",
            mutant,
        )
        for operator, mutant in (
            (
                "core/ReplaceComparisonOperator_NotEq_IsNot",
                "if self._sdk_client is None or wanted is not self._client_credentials:",
            ),
            (
                "core/ReplaceComparisonOperator_Is_IsNot",
                "if self._sdk_client is not None or wanted != self._client_credentials:",
            ),
            ("core/AddNot", "if not self._sdk_client is None or wanted != self._client_credentials:"),
        )
    ),
    *(
        Equivalent(
            "snapstack/tokens/tablestore.py",
            "core/NumberReplacer",
            "if exc.code in _TRANSIENT_CODES or (exc.http_status or 0) >= 500:",
            "a service error answered over HTTP always has its status; a missing one stands for 'not "
            "a 5xx', and 0, 1 and -1 are all below 500",
            f"if exc.code in _TRANSIENT_CODES or (exc.http_status or {n}) >= 500:",
        )
        for n in (1, -1)
    ),
    Equivalent(
        "snapstack/tokens/tablestore.py",
        "core/NumberReplacer",
        "raise ots.OTSServiceError(200, item.error_code, item.error_message)",
        "the status only counts from 500 up (_guard): a row's error below it is judged by its code",
    ),
    Equivalent(
        "snapstack/tokens/tablestore.py",
        "core/NumberReplacer",
        "token = primary_key[0][1]",
        "the table's primary key has one column (ensure_table checks it): [0] and [-1] are it",
    ),
    *(
        Equivalent(
            "snapstack/tokens/tablestore.py",
            "core/NumberReplacer",
            line,
            "a row's newest version comes first and is the one kept (_record's setdefault): reading "
            "two versions reads the same record",
        )
        for line in (
            "_, row, _ = self._client.get_row(self.table, self._key(token), max_version=1)",
            "request.add(ots.TableInBatchGetRowItem(self.table, keys, max_version=1))",
            "self.table, ots.Direction.FORWARD, start, end, column_filter=column_filter, max_version=1",
        )
    ),
    Equivalent(
        "snapstack/tokens/tablestore.py",
        "core/NumberReplacer",
        "BATCH_GET_ROWS = 100",
        "any batch within the service's 100 rows reads the same records (101 is refused: killed)",
        "BATCH_GET_ROWS = 99",
    ),
    *(
        Equivalent(
            "snapstack/tokens/base.py",
            "core/ReplaceBinaryOperator_Mul_Div",
            line,
            "every caller passes the token (owner, snapshot id) by position and the rest by keyword: "
            "a positional-only marker in place of the keyword-only one accepts the same calls",
        )
        for line in (
            "*,",
            "self, token: str, owner: str, *, generation: int, lease_seconds: float | None = None",
            "def renew_lease(self, token: str, owner: str, *, lease_seconds: float | None = None)"
            " -> TokenRecord:",
            'def rearm(self, token: str, *, by: str = "operator") -> TokenRecord:',
            "def reopen(self, token: str, snapshot_id: str, *, detail: str) -> TokenRecord:",
            "def records(self, *, state: TokenState | None = None) -> list[TokenRecord]:",
        )
    ),
    *(
        Equivalent(
            "snapstack/tokens/base.py", operator, line, "enum members are singletons: == and 'is' agree"
        )
        for operator, line in (
            (
                "core/ReplaceComparisonOperator_Is_Eq",
                "kind = ClaimOutcome.RETRY if current.state is TokenState.FAILED else ClaimOutcome.TAKEOVER",
            ),
            ("core/ReplaceComparisonOperator_Is_Eq", "if current.state is TokenState.CREATED:"),
            ("core/ReplaceComparisonOperator_Is_Eq", "if current.state is TokenState.FAILED:"),
            (
                "core/ReplaceComparisonOperator_Is_Eq",
                "if current.snapshot_id is not None or current.state is TokenState.CREATED:",
            ),
            (
                "core/ReplaceComparisonOperator_Is_Eq",
                "rows = [r for r in self._scan() if r.expires_at > now"
                " and (state is None or r.state is state)]",
            ),
            (
                "core/ReplaceComparisonOperator_Is_Eq",
                "if current.state is TokenState.CREATED and current.snapshot_id == "
                'changes.get("snapshot_id", False):',
            ),
            ("core/ReplaceComparisonOperator_IsNot_NotEq", "if current.state is not TokenState.FAILED:"),
            (
                "core/ReplaceComparisonOperator_IsNot_NotEq",
                "if current.state is not TokenState.CREATED or current.snapshot_id != snapshot_id:",
            ),
            (
                "core/ReplaceComparisonOperator_IsNot_NotEq",
                "r for r in self._scan_unfinished() if r.expires_at > now"
                " and r.state is not TokenState.CREATED",
            ),
        )
    ),
    *(
        Equivalent(
            "snapstack/tokens/base.py",
            operator,
            "if current.state is TokenState.CREATED and current.snapshot_id == "
            'changes.get("snapshot_id", False):',
            "only complete() sets a snapshot id, moving the record to CREATED, and reopen clears it: "
            "a record in any other state holds None, which equals neither False, True nor a snapshot id",
        )
        for operator in (
            "core/ReplaceComparisonOperator_Is_LtE",
            "core/ReplaceComparisonOperator_Is_GtE",
            "core/ReplaceFalseWithTrue",
        )
    ),
    *(
        Equivalent(
            "snapstack/tokens/base.py",
            operator,
            "if current.state is not TokenState.CREATED or current.snapshot_id != snapshot_id:",
            "only a CREATED record holds a snapshot id: any other record holds None and the second "
            "test refuses it anyway",
        )
        for operator in ("core/ReplaceComparisonOperator_IsNot_Lt", "core/ReplaceComparisonOperator_IsNot_Gt")
    ),
    *(
        Equivalent(
            "snapstack/tokens/base.py",
            operator,
            "expired = [r.token for r in self._scan() if r.expires_at <= now]",
            "the backend's delete re-checks expires_at <= now: a live record put on the list is "
            "neither deleted nor counted",
        )
        for operator in ("core/ReplaceComparisonOperator_LtE_GtE", "core/ReplaceComparisonOperator_LtE_IsNot")
    ),
    Equivalent(
        "snapstack/tokens/base.py",
        "core/ReplaceComparisonOperator_Gt_Is",
        "if held is not None and held.expires_at > self.clock():",
        "the write through the held record only saves a read: skipped, the full path (read, owner "
        "check, compare-and-set) writes the same record or raises the same LeaseLost",
    ),
    Equivalent(
        "snapstack/tokens/base.py",
        "core/NumberReplacer",
        "version: int = 1",
        "every record the library makes sets its version (claim and update_record, from the clock in "
        "ms) and every backend stores it: the default is never read",
    ),
    Equivalent(
        "snapstack/tokens/redis.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "*,",
        "every caller passes the URL by position and the rest by keyword: a positional-only marker "
        "in place of the keyword-only one accepts the same calls",
    ),
    Equivalent(
        "snapstack/tokens/redis.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "if cursor == 0:",
        "SCAN's cursor is an unsigned integer: never below 0, so <= 0 decides as == 0",
    ),
    Equivalent(
        "snapstack/tokens/redis.py",
        "core/NumberReplacer",
        "self.offset = 0.0",
        "the connection reads the server's clock (_check_server) before it is handed out: the "
        "initial offset is never read",
    ),
    Equivalent(
        "snapstack/tokens/redis.py",
        "core/NumberReplacer",
        "_SCAN_BATCH = 500",
        "SCAN's COUNT is a hint for the work per call: any batch visits every key",
    ),
    Equivalent(
        "snapstack/tokens/redis.py",
        "core/ReplaceFalseWithTrue",
        "pipe = conn.client.pipeline(transaction=False)",
        "the pipeline only reads (HGET): wrapped in MULTI/EXEC on one server it answers the same "
        "replies; the transaction only costs a round of queuing",
    ),
    Equivalent(
        "snapstack/tokens/redis.py",
        "core/ReplaceComparisonOperator_Gt_GtE",
        "if time.monotonic() - conn.synced_at > CLOCK_SYNC_SECONDS:",
        "they differ only when exactly 60.0 s passed since the last reading, to the nanosecond",
    ),
    Equivalent(
        "snapstack/policy/schedule.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "if not match or int(match.group(1)) == 0:",
        "the pattern admits only digits: the count is never negative, so == 0 and <= 0 agree",
    ),
    Equivalent(
        "snapstack/policy/schedule.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "return Slot(datetime.combine(first, time(0)), "
        'first.isoformat() if days == 1 else f"{first}/{days}d")',
        "a period of whole days is at least one day: days is never below 1",
    ),
    Equivalent(
        "snapstack/policy/schedule.py",
        "core/ReplaceComparisonOperator_Lt_LtE",
        "if period < DAY and DAY % period:",
        "at exactly one day, DAY % period is 0: the rule is false either way",
    ),
    Equivalent(
        "snapstack/policy/schedule.py",
        "core/ReplaceComparisonOperator_Gt_GtE",
        "if period > DAY and period % DAY:",
        "at exactly one day, period % DAY is 0: the rule is false either way",
    ),
    Equivalent(
        "snapstack/policy/schedule.py",
        "core/NumberReplacer",
        "wall = moment.astimezone(zone).replace(tzinfo=None, fold=0)",
        "fold only matters to an aware datetime: the naive wall time's date and arithmetic ignore it",
        "wall = moment.astimezone(zone).replace(tzinfo=None, fold= 1)",
    ),
    Equivalent(
        "snapstack/policy/rpo.py",
        "core/ReplaceBinaryOperator_Div_FloorDiv",
        "return period + max(period / 4, MIN_GRACE)",
        "a period is whole seconds (policy/schedule.py), a multiple of 4 microseconds: / 4 and // 4 agree",
    ),
    Equivalent(
        "snapstack/policy/rpo.py",
        "core/ReplaceComparisonOperator_LtE_Eq",
        "if total <= timedelta():",
        "the pattern admits only digits, so the total is never negative: <= 0 and == 0 agree",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "if workers == 1:",
        "workers is max(1, concurrency): never below 1, so <= 1 decides as == 1",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "def _record(self, attempt: _Attempt, code: str, *, retryable: bool, detail: str) -> str:",
        "every caller passes attempt and code by position and the rest by keyword: a "
        "positional-only marker in place of the keyword-only one accepts the same calls",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "call: Callable[[], T], *, deadline: Deadline, rng: random.Random, sleep: Callable[[float], None]",
        "both callers (execute.py, reconcile/redrive.py) pass call by position and the rest by "
        "keyword: a positional-only marker in place of the keyword-only one accepts the same calls",
    ),
    *(
        Equivalent(
            "snapstack/execute.py",
            "core/ReplaceComparisonOperator_Is_Eq",
            line,
            "enum members are singletons: == and 'is' agree",
        )
        for line in (
            "if claim.outcome is ClaimOutcome.DONE:",
            "if claim.outcome is ClaimOutcome.BUSY:",
            "if claim.outcome is ClaimOutcome.FAILED:",
            "if exc.disposition is Disposition.RETRY:",
            "if result.outcome is Outcome.FAILED:",
            "if record.state is TokenState.CREATED:",
            "if record.state is TokenState.FAILED and not record.retryable:",
            "outcome = Outcome.SKIPPED if exc.disposition is Disposition.SKIP else Outcome.FAILED",
            "skipped = classify(code).disposition is Disposition.SKIP"
            ' and "gave up" not in (record.detail or "")',
        )
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Is_GtE",
        "outcome = Outcome.SKIPPED if exc.disposition is Disposition.SKIP else Outcome.FAILED",
        "RETRY returned above, so the disposition is 'skip' or 'fail': only 'skip' sorts >= 'skip'",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Is_GtE",
        'skipped = classify(code).disposition is Disposition.SKIP and "gave up" not in (record.detail or "")',
        "a disposition is 'retry', 'skip' or 'fail': only 'skip' sorts >= 'skip'",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Is_LtE",
        "if claim.outcome is ClaimOutcome.BUSY:",
        "DONE returned above; of 'claimed', 'retry', 'takeover', 'busy' and 'failed' only 'busy' "
        "sorts <= 'busy'",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        "attempt.doubt = exc.may_have_acted or prior_doubt or exc.attempts > 1",
        "the create call's error counts its attempts from 1: != 1 decides as > 1",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        "if len(found) > 1:",
        "_adopt is only called with snapshots found (every caller checks 'if found'): != 1 decides as > 1",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        "return _table_down(base, why, called=attempt.sent > 0)",
        "sent counts up from 0 and never goes down: != 0 decides as > 0",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "def _table_down(base: dict[str, Any], why: str, *, called: bool = False) -> DiskResult:",
        "every caller passes base and why by position and called by keyword: a positional-only "
        "marker in place of the keyword-only one accepts the same calls",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "logger: Logger, result: DiskResult, labels: Mapping[str, str], *, instance_id: str | None = None",
        "every caller (execute.py, handlers/runtime.py) passes logger, result and labels by position and "
        "instance_id by keyword: a positional-only marker in place of the keyword-only one accepts them",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/NumberReplacer",
        "attempt.sent += 1",
        "sent is only ever read as 'sent > 0' (was a request let out?): counting by two answers the same",
        "attempt.sent += 2",
    ),
    Equivalent(
        "snapstack/execute.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the imports it guards are for annotations only; importing them at run time changes nothing",
    ),
    *(
        Equivalent(
            "snapstack/handlers/planning.py",
            "core/ReplaceBinaryOperator_Mul_Div",
            line,
            "every caller (handlers/alarm.py, deploy.py, scheduled.py, _Planner's two) passes the "
            "leading arguments by position and the rest by keyword: a positional-only marker in place "
            "of the keyword-only one accepts the same calls",
        )
        for line in ("def compact(moment: date, *, with_time: bool = True) -> str:", "*,")
    ),
    Equivalent(
        "snapstack/handlers/planning.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the imports it guards are for annotations only; importing them at run time changes nothing",
    ),
    Equivalent(
        "snapstack/handlers/planning.py",
        "core/NumberReplacer",
        "PLAN_BATCH = 100",
        "a tuning figure: how many rendered requests are handed to the executor at once within a "
        "page; tests compare the batches with the constant, and 99 or 101 decide every disk the same",
    ),
    Equivalent(
        "snapstack/handlers/planning.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "elif len(instances) == 1 and not disks:",
        "no instance took the branch above: here there is at least one, so <= 1 decides as == 1",
    ),
    Equivalent(
        "snapstack/handlers/planning.py",
        "core/ReplaceTrueWithFalse",
        "attached[i : i + PLAN_BATCH], todo[i : i + PLAN_BATCH], strict=True",
        "InstanceStates.attach returns one disk per disk it is given: the two slices are always as "
        "long, so zip's strict check never fires",
    ),
    Equivalent(
        "snapstack/handlers/runtime.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the imports it guards are for annotations only; importing them at run time changes nothing",
    ),
    *(
        Equivalent(
            "snapstack/handlers/runtime.py",
            "core/ReplaceBinaryOperator_Mul_Div",
            line,
            "every call (the handlers, devkit's plan command, invoke, summarise's, _metrics') passes "
            "the parameters after the marker by keyword: a positional-only marker in place of the "
            "keyword-only one accepts the same calls",
        )
        for line in (
            "event: Any, context: Any, *, trigger: str, function_dir: Path | None, planner: Planner",
            "invocation: Invocation, trigger: str, plan: Plan, tally: Tally, *, "
            "listing_stopped: bool = False",
            "*,",
        )
    ),
    *(
        Equivalent(
            "snapstack/handlers/runtime.py",
            "core/NumberReplacer",
            line,
            "made holds at most one executor (executor() appends only when it is empty): [0] and [-1] are it",
            mutant,
        )
        for line, mutant in (
            ("return made[0] if made else None", "return made[ -1] if made else None"),
            ("return made[0]", "return made[ -1]"),
        )
    ),
    Equivalent(
        "snapstack/handlers/prune.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'if policy.retention is None or policy.retention.first_run == "apply":',
        "first_run is 'dry_run' or 'apply' (a Literal): only 'apply' sorts <= 'apply'",
    ),
    Equivalent(
        "snapstack/handlers/prune.py",
        "core/ReplaceComparisonOperator_Eq_Is",
        'if policy.retention is None or policy.retention.first_run == "apply":',
        "pydantic validates a Literal field to the Literal's own string object, interned like this "
        "literal: 'is' decides as ==",
    ),
    Equivalent(
        "snapstack/handlers/prune.py",
        "core/ReplaceComparisonOperator_NotEq_IsNot",
        'return {k: v for k, v in outcome.items() if k != "failures"}',
        "the keys are keyword names and literals of this module (log_fields(**), _error_fields), "
        "interned like the literal: 'is not' decides as !=",
    ),
    Equivalent(
        "snapstack/handlers/prune.py",
        "core/ReplaceComparisonOperator_Is_Eq",
        "if r.outcome is Deletion.FAILED",
        "enum members are singletons: == and 'is' agree",
    ),
    Equivalent(
        "snapstack/handlers/prune.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the imports it guards are for annotations only; importing them at run time changes nothing",
    ),
    Equivalent(
        "snapstack/handlers/deploy.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "*,",
        "_release's callers pass config, record and key by position and the rest by keyword: a "
        "positional-only marker in place of the keyword-only one accepts the same calls",
    ),
    Equivalent(
        "snapstack/handlers/deploy.py",
        "core/ReplaceComparisonOperator_Eq_GtE",
        "if refused and len(refused) == len(event.records):",
        "a record is refused at most once: never more refused than records, so >= decides as ==",
    ),
    Equivalent(
        "snapstack/handlers/deploy.py",
        "core/NumberReplacer",
        'if record.bucket_arn.rsplit(":", 1)[-1] != record.bucket_name:',
        "the last piece after a split from the right is the same however many more splits are allowed",
        'if record.bucket_arn.rsplit(":", 2)[-1] != record.bucket_name:',
    ),
    Equivalent(
        "snapstack/handlers/deploy.py",
        "core/NumberReplacer",
        "return Release(version, selectors, reason, key, f\"{key.rsplit('/', 1)[-1]}-{record.etag[:8]}\")",
        "the last piece after a split from the right is the same however many more splits are allowed",
        "return Release(version, selectors, reason, key, f\"{key.rsplit('/', 2)[-1]}-{record.etag[:8]}\")",
    ),
    *(
        Equivalent(
            "snapstack/handlers/deploy.py",
            operator,
            'if record.bucket_arn.rsplit(":", 1)[-1] != record.bucket_name:',
            "the decoder admits only ARNs starting 'acs:oss:': one split from the right always makes "
            "two pieces, so [1] is [-1]",
        )
        for operator in ("core/ReplaceUnaryOperator_USub_UAdd", "core/ReplaceUnaryOperator_Delete_USub")
    ),
    Equivalent(
        "snapstack/handlers/manifest.py",
        "core/ReplaceComparisonOperator_LtE_Lt",
        "if age <= settings.missing_grace_seconds:",
        "the age is the wall clock (microseconds) less an event time (milliseconds): no delivery can "
        "land exactly on the grace, so < and <= answer alike",
    ),
    Equivalent(
        "snapstack/handlers/manifest.py",
        "core/NumberReplacer",
        "data = obj.read(settings.max_bytes + 1)",
        "the read only has to tell 'over the limit' from 'within it': one byte past the limit or two "
        "tells it the same way for every object",
        "data = obj.read(settings.max_bytes + 2)",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "if spans and index == spans[-1][1] + 1:",
        "the indexes are walked sorted and each once: one is never at or below the last span's "
        "end, so <= end + 1 decides as == end + 1",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'return f"element {shown}" if len(indexes) == 1 else f"elements {shown}"',
        "lines() renders positions only for a note that has some: never fewer than one",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Eq_GtE",
        'shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)',
        "a span's end starts at its start and only grows (indexes are sorted): it is never below "
        "the start, so >= holds exactly when ==",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Eq_Is",
        'shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)',
        "a span starts as [index, index], one object twice, and its end is only ever replaced by a "
        "larger index: its ends are identical exactly when equal",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Gt_NotEq",
        'more = f" (+{len(signals) - 1} more)" if len(signals) > 1 else ""',
        "a disk is only placed with the alarms that name it: never none, so != 1 decides as > 1",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'if placed.how == "event":',
        "_joined is only called for 'event' or 'joined' ('opened' and 'capped' are handled first), "
        "and 'joined' does not sort <= 'event'",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'if placed.how == "capped":',
        "how is 'event', 'joined', 'opened' or 'capped' (cooldown.How): only 'capped' sorts <= 'capped'",
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_NotEq_Lt",
        'if placed.how != "opened":',
        "'capped' was handled above: of 'event', 'joined' and 'opened' only 'opened' does not sort "
        "< 'opened'",
    ),
    *(
        Equivalent(
            "snapstack/handlers/alarm.py",
            operator,
            line,
            "how is one of handlers/cooldown.py's string literals (cooldown.How), interned like this "
            "one: 'is' decides as ==",
        )
        for operator, line in (
            ("core/ReplaceComparisonOperator_Eq_Is", 'if placed.how == "capped":'),
            ("core/ReplaceComparisonOperator_Eq_Is", 'if placed.how == "event":'),
            ("core/ReplaceComparisonOperator_NotEq_IsNot", 'if placed.how != "opened":'),
        )
    ),
    Equivalent(
        "snapstack/handlers/alarm.py",
        "core/ReplaceComparisonOperator_LtE_Lt",
        "if not now - _BEHIND <= signal.occurred_at <= now + _AHEAD:",
        "now is the wall clock (microseconds) at the check: no alarm time can land exactly on either "
        "edge, so < and <= answer alike",
    ),
    Equivalent(
        "snapstack/handlers/cooldown.py",
        "core/ReplaceBinaryOperator_Mul_Div",
        "*,",
        "every caller passes the table by position and the rest by keyword: a positional-only "
        "marker in place of the keyword-only one accepts the same calls",
    ),
    Equivalent(
        "snapstack/handlers/cooldown.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'if verdict[-1] == "capped" or window is None:',
        "a verdict is 'joined', 'opened' or 'capped' (the module's literals): only 'capped' sorts "
        "<= 'capped'",
    ),
    Equivalent(
        "snapstack/handlers/cooldown.py",
        "core/ReplaceComparisonOperator_Eq_Is",
        'if verdict[-1] == "capped" or window is None:',
        "every verdict is one of the module's string literals, interned like this one: 'is' decides as ==",
    ),
    Equivalent(
        "snapstack/handlers/reconciler.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the imports it guards are for annotations only; importing them at run time changes nothing",
    ),
    *(
        Equivalent(
            "snapstack/handlers/reconciler.py",
            operator,
            'if isinstance(data, dict) and set(data) <= {"policy", "policies"} and len(data) == 1:',
            "a one-key set is never both keys, so < and != decide as <= (and 'is not' as !=); a dict "
            "the line then lets through with another key, or none, reads as None, which the next "
            "lines refuse with the same rule as the dict itself",
            mutant,
        )
        for operator, mutant in (
            (
                "core/ReplaceComparisonOperator_LtE_Lt",
                'if isinstance(data, dict) and set(data) < {"policy", "policies"} and len(data) == 1:',
            ),
            (
                "core/ReplaceComparisonOperator_LtE_NotEq",
                'if isinstance(data, dict) and set(data) != {"policy", "policies"} and len(data) == 1:',
            ),
            (
                "core/ReplaceComparisonOperator_LtE_IsNot",
                'if isinstance(data, dict) and set(data) is not {"policy", "policies"} and len(data) == 1:',
            ),
            (
                "core/ReplaceComparisonOperator_Eq_LtE",
                'if isinstance(data, dict) and set(data) <= {"policy", "policies"} and len(data) <= 1:',
            ),
        )
    ),
    *(
        Equivalent(
            "snapstack/handlers/reconciler.py",
            "core/ReplaceComparisonOperator_NotEq_IsNot",
            line,
            "a verdict is always one of reconcile/rpo.py's three constants (OK, BREACH, NOT_CHECKED): "
            "'is not' decides as !=",
        )
        for line in (
            '"checked": sum(d.verdict != rpo.NOT_CHECKED for d in p.disks),',
            '"RpoDisksChecked": sum(d.verdict != rpo.NOT_CHECKED for d in policy.disks),',
        )
    ),
    Equivalent(
        "snapstack/handlers/scheduled.py",
        "core/NumberReplacer",
        "return config.policies[0]",
        "the line runs only when the configuration holds exactly one policy: [0] and [-1] are it",
        "return config.policies[ -1]",
    ),
    *(
        Equivalent(
            "snapstack/tokens/sqlite.py",
            "core/NumberReplacer",
            "_BATCH = 500  # SQLite's default limit is 999 bound parameters per statement",
            "any batch within SQLite's 999 bound parameters reads the same records",
            f"_BATCH = {n}  # SQLite's default limit is 999 bound parameters per statement",
        )
        for n in (499, 501)
    ),
    *(
        Equivalent(
            "snapstack/ecs/client.py",
            operator,
            "and attempt < policy.max_attempts",
            "attempt counts up by one from 1 and the loop ends when it reaches max_attempts, so it "
            "is never above it: < and != agree, and small ints are one object each (CPython)",
        )
        for operator in ("core/ReplaceComparisonOperator_Lt_NotEq", "core/ReplaceComparisonOperator_Lt_IsNot")
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the import it guards is for annotations only; importing it at run time changes nothing",
    ),
    *(
        Equivalent("snapstack/ecs/request.py", "core/ReplaceComparisonOperator_Eq_Is", line, _INTERNED)
        for line in (
            'if kind == "int":',
            'if kind == "bool":',
        )
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'if kind == "bool":',
        "a kind is 'int', 'bool' or 'str' (_WIRE_KINDS): only 'bool' sorts <= 'bool'",
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/ReplaceComparisonOperator_Eq_GtE",
        'wire = _WIRE_NAMES.get(name, "Tag" if name == "tags" else name)',
        "no field of the request sorts after 'tags', so >= 'tags' means == 'tags'",
    ),
    *(
        Equivalent(
            "snapstack/ecs/request.py",
            operator,
            'if name == "disk_id" and error.get("type") == "missing":',
            "only disk_id has no default, so only it can be 'missing'; a StrictStr's other error "
            "('string_type') sorts after 'missing'",
            mutant,
        )
        for operator, mutant in (
            (
                "core/ReplaceComparisonOperator_Eq_LtE",
                'if name <= "disk_id" and error.get("type") == "missing":',
            ),
            (
                "core/ReplaceComparisonOperator_Eq_GtE",
                'if name >= "disk_id" and error.get("type") == "missing":',
            ),
            (
                "core/ReplaceComparisonOperator_Eq_LtE",
                'if name == "disk_id" and error.get("type") <= "missing":',
            ),
        )
    ),
    Equivalent(
        "snapstack/ecs/errors.py",
        "core/ReplaceComparisonOperator_Eq_Is",
        "return self.spec.scope == INVOCATION",
        "every ErrorSpec's scope is one of the module's two constants, so equal means identical",
    ),
    *(
        Equivalent(
            "snapstack/ecs/errors.py",
            "core/NumberReplacer",
            'return (self.status or 0) >= 500 or self.code == "IdempotentProcessing"',
            "a missing status stands for 'not a 5xx': 0, 1 and -1 are all below 500",
            f'return (self.status or {n}) >= 500 or self.code == "IdempotentProcessing"',
        )
        for n in (1, -1)
    ),
    Equivalent(
        "snapstack/retention/inventory.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the import it guards is for annotations only; importing it at run time changes nothing",
    ),
    *(
        Equivalent(
            "snapstack/retention/inventory.py",
            "core/ReplaceBinaryOperator_Mul_Div",
            line,
            "every caller passes ecs, region (and disk_id) by position and the rest by keyword: "
            "a positional-only marker in place of the keyword-only one accepts the same calls",
        )
        for line in (
            "ecs: EcsClient, region: str, disk_id: str, *, owner: Owner, pin_tag: str, "
            "pace: Pace | None = None",
            "ecs: EcsClient, region: str, *, owner: Owner, pin_tag: str, pace: Pace | None = None",
        )
    ),
    Equivalent(
        "snapstack/retention/inventory.py",
        "core/NumberReplacer",
        "PAGE_SIZE = 100",
        "DescribeSnapshots answers at most 100 items a page whatever MaxResults asks (API reference; "
        "the emulator clamps the same way)",
        "PAGE_SIZE = 101",
    ),
    Equivalent(
        "snapstack/retention/inventory.py",
        "core/ReplaceComparisonOperator_NotEq_Lt",
        'if (raw.snapshot_type or "user") != "user":',
        "a snapshot's SnapshotType is 'auto' or 'user' (API reference): only 'auto' sorts < 'user'",
    ),
    Equivalent(
        "snapstack/policy/model.py",
        "core/NumberReplacer",
        '{k: provenance[k.split(":", 1)[1]] for k in naming.PROVENANCE_KEYS},',
        "every provenance key has exactly one ':', so splitting at most twice splits it the same",
        '{k: provenance[k.split(":", 2)[1]] for k in naming.PROVENANCE_KEYS},',
    ),
    Equivalent(
        "snapstack/policy/model.py",
        "core/NumberReplacer",
        "retention_days: int | None = Field(default=7, ge=1, le=65536)",
        _REQUEST_RULE + " (RetentionDays 1 to 65536)",
        "retention_days: int | None = Field(default=7, ge= 0, le=65536)",
    ),
    Equivalent(
        "snapstack/policy/model.py",
        "core/NumberReplacer",
        "retention_days: int | None = Field(default=7, ge=1, le=65536)",
        _REQUEST_RULE + " (RetentionDays 1 to 65536)",
        "retention_days: int | None = Field(default=7, ge=1, le= 65537)",
    ),
    Equivalent(
        "snapstack/policy/model.py",
        "core/NumberReplacer",
        "instant_access_retention_days: int | None = Field(default=None, ge=1, le=65535)",
        _REQUEST_RULE + " (InstantAccessRetentionDays 1 to 65535)",
        "instant_access_retention_days: int | None = Field(default=None, ge= 0, le=65535)",
    ),
    Equivalent(
        "snapstack/policy/model.py",
        "core/NumberReplacer",
        "instant_access_retention_days: int | None = Field(default=None, ge=1, le=65535)",
        _REQUEST_RULE + " (InstantAccessRetentionDays 1 to 65535)",
        "instant_access_retention_days: int | None = Field(default=None, ge=1, le= 65536)",
    ),
    Equivalent("snapstack/policy/model.py", "core/RemoveDecorator", "@classmethod", _CLASSMETHOD),
    Equivalent("snapstack/policy/retention.py", "core/RemoveDecorator", "@classmethod", _CLASSMETHOD),
    Equivalent("snapstack/handlers/manifest.py", "core/RemoveDecorator", "@classmethod", _CLASSMETHOD),
    Equivalent(
        "snapstack/handlers/manifest.py",
        "core/AddNot",
        "if TYPE_CHECKING:",
        "the imports it guards are for annotations only; importing them at run time changes nothing",
    ),
    *(
        Equivalent(
            "snapstack/ecs/retry.py",
            operator,
            "if not retryable(exc) or attempt >= policy.max_attempts"
            " or left - wait <= policy.deadline_margin:",
            "attempt counts up by one from 1, so it meets max_attempts exactly before it could pass it "
            "(and small ints are one object each)",
        )
        for operator in ("core/ReplaceComparisonOperator_GtE_Eq", "core/ReplaceComparisonOperator_GtE_Is")
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'target = keys if part.lower() == "key" else values',
        "the pattern only lets 'key' or 'value' through, and 'value' does not sort <= 'key'",
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/ReplaceComparisonOperator_Eq_Is",
        'if raw is None or name == "disk_id":',
        "the names are the dict's literal keys, interned like the literal: 'is' decides as ==",
        'if raw is None or name is "disk_id":',
    ),
    *(
        Equivalent(
            "snapstack/ecs/request.py",
            "core/ReplaceComparisonOperator_Eq_Is",
            line,
            "pydantic names an error's location by the model's own field names, interned identifiers "
            "like the literal: 'is' decides as == (checked by applying the mutant)",
        )
        for line in (
            'wire = _WIRE_NAMES.get(name, "Tag" if name == "tags" else name)',
            'if name == "disk_id" and error.get("type") == "missing":',
        )
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/ReplaceComparisonOperator_Gt_GtE",
        'code = "QuotaExceed.Tags" if n > MAX_TAGS else "InvalidParameter"',
        "the line runs only for n outside 1..MAX_TAGS: n is never MAX_TAGS there, so >= decides as >",
    ),
    Equivalent(
        "snapstack/ecs/request.py",
        "core/ReplaceComparisonOperator_IsNot_NotEq",
        "if self.instant_access is not True:",
        "instant_access is a strict bool or None: != True decides as 'is not True'",
    ),
    *(
        Equivalent(
            "snapstack/ecs/client.py",
            "core/ReplaceBinaryOperator_Mul_Div",
            line,
            "every call passes the parameters after the marker by keyword (and from_env's env by "
            "position or not at all): a positional-only marker in place of the keyword-only one "
            "accepts the same calls; no test calls them otherwise (selection runs every test for a "
            "signature)",
        )
        for line in (
            "cls, env: Mapping[str, str] | None = None, *, fallback_region: str | None = None, "
            "**overrides: Any",
            "*,",
            "def call(self, operation: str, sdk_request: Any, *, pace: Callable[[], None] | None = None)"
            " -> Any:",
        )
    ),
    *(
        Equivalent(
            "snapstack/ecs/client.py",
            operator,
            "seconds = -1.0",
            "a sentinel for text that is not a number: any value outside (0, 3600] (-0.0, -2.0, "
            "not 1.0 = False) takes the same refusal on the next line",
        )
        for operator in ("core/NumberReplacer", "core/ReplaceUnaryOperator_USub_Not")
    ),
    Equivalent(
        "snapstack/ecs/errors.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'return self.code == "Transport.Ambiguous"',
        "a transport error's code is Transport.Ambiguous, .BadResponse or .ConnectionFailed: only the "
        "first sorts <= 'Transport.Ambiguous'",
    ),
    Equivalent(
        "snapstack/ecs/errors.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        "return self.spec.scope == INVOCATION",
        "a scope is 'request' or 'invocation', and 'request' does not sort <= 'invocation'",
    ),
    Equivalent(
        "snapstack/tokens/slots.py",
        "core/ReplaceComparisonOperator_Eq_LtE",
        'token = slot_token if generation == 0 else f"{slot_token}-g{generation}"',
        "a negative generation is refused two lines above: <= 0 means == 0 here",
    ),
    Equivalent(
        "snapstack/ecs/errors.py",
        "core/ReplaceComparisonOperator_Is_Eq",
        "return self.spec.disposition is Disposition.RETRY",
        "enum members are singletons: == and 'is' agree",
    ),
    *(
        Equivalent(
            "snapstack/tokens/sqlite.py",
            operator,
            "if not url.startswith(_URL_PREFIX) or len(url) == len(_URL_PREFIX):",
            "a URL that starts with the prefix is never shorter than it, and both lengths are small "
            "ints (one object each), so <= and 'is' decide as == does",
        )
        for operator in ("core/ReplaceComparisonOperator_Eq_LtE", "core/ReplaceComparisonOperator_Eq_Is")
    ),
    Equivalent(
        "snapstack/tokens/sqlite.py",
        "core/ReplaceComparisonOperator_Eq_GtE",
        "return cursor.rowcount == 1",
        "each statement touches one primary key: rowcount is 0 or 1, and >= 1 is == 1",
    ),
    Equivalent(
        "snapstack/tokens/sqlite.py",
        "core/NumberReplacer",
        "return None if row is None else record_from_json(row[0], token)",
        "the SELECT has one column: row[-1] is row[0]",
        "return None if row is None else record_from_json(row[ -1], token)",
    ),
)
