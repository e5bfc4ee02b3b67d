"""runtime's parts, with planners made here (no ECS, no token table).

The invocation a plan reads (``runtime.current_invocation``) is the one being run, and only
while it runs: slot tokens carry its FC service and function names, so a plan made after it in
the same thread (the local tools run several handlers in one process) must not inherit them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from devkit.emulator.testing import EcsEmulator
from snapstack.config import ConfigError
from snapstack.ecs.errors import EcsError, InvalidRequest, Violation
from snapstack.execute import Batch, DiskResult, Outcome
from snapstack.handlers import runtime
from snapstack.handlers.planning import build_intents
from snapstack.handlers.runtime import (
    BadInput,
    DependencyUnavailable,
    IncompleteRun,
    InvocationFailed,
    Plan,
    Runtime,
    current_invocation,
)
from snapstack.policy.model import Policy
from snapstack.targets import Disk
from snapstack.tokens.base import ClaimOutcome, TokenTableError

POLICY = Policy.model_validate({"name": "daily", "selector": {"all_disks": True}})


def fc_context(service: str, timeout: float = 60, credentials: Any = None) -> Any:
    return SimpleNamespace(
        request_id=f"req-{service}",
        function=SimpleNamespace(name="scheduled_backup", timeout=timeout),
        service=SimpleNamespace(name=service),
        credentials=credentials,
        region="cn-hangzhou",
    )


def seen_services(outcome: str) -> tuple[list[str], Any]:
    """A planner that notes the current invocation's service when it plans and when its pages
    are pulled, then ends as ``outcome``."""
    seen: list[str] = []

    def note() -> None:
        current = current_invocation()
        seen.append(current.service_name if current else "<none>")

    def pages() -> Iterator[Batch]:
        note()
        yield from ()

    def planner(event: Any, rt: Runtime) -> Plan:
        note()
        if outcome == "bad input":
            raise BadInput("event", "policy", "must name a policy")
        if outcome == "config error":
            raise ConfigError("SNAPSTACK_CONFIG", "policies", "not usable")
        if outcome == "invalid request":
            raise InvalidRequest(
                [Violation("Description", "must be 2-256 characters", "InvalidDescription.Malformed")]
            )
        if outcome == "ecs error":
            raise EcsError("ServiceUnavailable", "The request has failed due to a temporary failure.")
        return Plan(POLICY, pages=pages())

    return seen, planner


def run(planner: Any, service: str = "stack-a", timeout: float = 60, credentials: Any = None) -> Any:
    context = fc_context(service, timeout, credentials)
    return runtime.invoke({}, context, trigger="timer", function_dir=None, planner=planner)


def test_the_invocation_is_current_while_planned_and_streamed_and_cleared_after():
    seen, planner = seen_services("plan")
    summary = run(planner)
    assert summary["ok"] is True and summary["created"] == 0
    assert "listing_stopped" not in summary
    assert seen == ["stack-a", "stack-a"]  # the planner, then the streamed pages
    assert current_invocation() is None


@pytest.mark.parametrize("outcome", ["bad input", "invalid request", "config error", "ecs error"])
def test_an_invocation_that_ends_early_is_cleared_too(outcome):
    seen, planner = seen_services(outcome)
    if outcome in {"bad input", "invalid request"}:
        assert run(planner)["ok"] is False
    else:
        with pytest.raises((ConfigError, EcsError)):
            run(planner)
    assert seen == ["stack-a"]
    assert current_invocation() is None


def test_a_later_invocation_plans_under_its_own_names_and_an_outer_one_is_restored():
    outer = runtime.Invocation.from_fc(fc_context("outer"))
    token = runtime._current.set(outer)
    try:
        first, planner_a = seen_services("plan")
        run(planner_a, "stack-a")
        second, planner_b = seen_services("plan")
        run(planner_b, "stack-b")
        assert (first, second) == (["stack-a"] * 2, ["stack-b"] * 2)
        assert current_invocation() is outer
    finally:
        runtime._current.reset(token)


def test_prepare_lists_the_stream_as_the_invocation_and_clears_it():
    seen, planner = seen_services("plan")
    _, plan = runtime.prepare({}, fc_context("stack-p"), trigger="timer", function_dir=None, planner=planner)
    assert isinstance(plan, Plan) and plan.pages is None  # the stream was listed inside prepare
    assert seen == ["stack-p", "stack-p"]
    assert current_invocation() is None


def log_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (
            "bad input",
            {"error_code": "BadInput", "source": "event", "field": "policy", "rule": "must name a policy"},
        ),
        (
            "invalid request",
            {
                "error_code": "InvalidDescription.Malformed",
                "source": "request",
                "field": "Description",
                "rule": "must be 2-256 characters",
            },
        ),
    ],
)
def test_bad_input_returns_a_summary_of_nothing_done_and_logs_the_field_and_the_rule(capsys, outcome, error):
    _, planner = seen_services(outcome)
    capsys.readouterr()
    summary = run(planner)
    assert summary == {
        "ok": False,
        "request_id": "req-stack-a",
        "function": "scheduled_backup",
        "trigger": "timer",
        "error": error,
        "created": 0,
        "deduplicated": 0,
        "in_progress": 0,
        "deferred": 0,
        "skipped": 0,
        "denied": 0,
        "failed": 0,
        "errors": [],
        "unusable": [],
        "disks": [],
        "disks_omitted": 0,
    }
    (line,) = [line for line in log_lines(capsys.readouterr().out) if line.get("level") == "ERROR"]
    assert line["message"] == "bad input: nothing was done"
    assert {key: line[key] for key in error} == error


UNREACHABLE = [
    (
        EcsError("ServiceUnavailable", "The request has failed due to a temporary failure."),
        "ServiceUnavailable",
    ),
    (DependencyUnavailable("OSS.RequestError", "manifest: connection refused"), "OSS.RequestError"),
    (TokenTableError("token table: database is locked"), "TokenTableError"),
]


def errors(out: str) -> list[dict[str, Any]]:
    return [line for line in log_lines(out) if line.get("level") == "ERROR"]


@pytest.mark.parametrize(("error", "code"), UNREACHABLE)
def test_a_service_unreachable_while_planning_is_logged_as_the_invocation_alert_and_raised(
    capsys, error, code
):
    def planner(event: Any, rt: Runtime) -> Plan:
        raise error

    capsys.readouterr()
    with pytest.raises(type(error)):
        run(planner)
    (line,) = errors(capsys.readouterr().out)
    assert line["message"] == "invocation failed before any disk was decided"
    assert (line["alert"], line["error_code"]) == ("InvocationFailed", code)


def streaming(*pages: Batch | Exception) -> Any:
    """A planner whose stream yields ``pages`` in order, raising any exception among them."""

    def stream() -> Iterator[Batch]:
        for page in pages:
            if isinstance(page, Exception):
                raise page
            yield page

    return lambda event, rt: Plan(POLICY, pages=stream())


def decided(outcome: Outcome, disk_id: str = "d-1") -> Batch:
    return Batch(results=[DiskResult(disk_id=disk_id, outcome=outcome, token=f"ss2-{disk_id}")])


@pytest.mark.parametrize(("error", "code"), UNREACHABLE)
def test_listing_that_fails_before_any_disk_is_decided_is_logged_and_raised(capsys, error, code):
    capsys.readouterr()
    with pytest.raises(type(error)):
        run(streaming(error))
    (line,) = errors(capsys.readouterr().out)
    assert line["message"] == "invocation failed before any disk was decided"
    assert (line["alert"], line["error_code"]) == ("InvocationFailed", code)


@pytest.mark.parametrize(("error", "code"), UNREACHABLE)
def test_listing_that_fails_after_a_decided_disk_fails_the_invocation_with_the_summary_so_far(
    capsys, error, code
):
    capsys.readouterr()
    with pytest.raises(InvocationFailed) as caught:
        run(streaming(decided(Outcome.SKIPPED), error))
    assert caught.value.code == code
    summary = caught.value.summary
    assert (summary["skipped"], summary["notes"]) == (1, [f"listing failed after 1 disk(s): {error}"])
    assert "listing_stopped" not in summary  # it failed; it was not stopped at the deadline
    (line,) = errors(capsys.readouterr().out)
    assert line["message"] == "listing failed mid-run: FC retries the event"
    assert (line["alert"], line["error_code"]) == ("InvocationFailed", code)


@pytest.mark.parametrize("setting", [None, "true", "TRUE", "0", "no", "false", "False"])
def test_deferred_disks_make_fc_deliver_again_unless_told_not_to(monkeypatch, setting):
    if setting is None:
        monkeypatch.delenv("SNAPSTACK_RETRY_INCOMPLETE", raising=False)
    else:
        monkeypatch.setenv("SNAPSTACK_RETRY_INCOMPLETE", setting)
    planner = streaming(decided(Outcome.DEFERRED), decided(Outcome.CREATED, "d-2"))
    if setting is not None and setting.lower() == "false":
        summary = run(planner)
        assert (summary["ok"], summary["deferred"], summary["created"]) == (True, 1, 1)
    else:
        with pytest.raises(IncompleteRun) as caught:
            run(planner)
        assert (caught.value.summary["deferred"], caught.value.summary["created"]) == (1, 1)


@pytest.mark.parametrize(
    ("stopped", "message"),
    [
        (False, "3 disk(s) not finished; the retry does only what is missing"),
        (True, "3 disk(s) not finished; listing stopped before the end; the retry does only what is missing"),
    ],
)
def test_an_incomplete_run_says_how_many_disks_wait_and_whether_listing_stopped(stopped, message):
    summary: dict[str, Any] = {"deferred": 1, "in_progress": 2}
    if stopped:
        summary["listing_stopped"] = True
    error = IncompleteRun(summary)
    assert (str(error), error.summary) == (message, summary)


def test_an_invocation_too_near_its_deadline_lists_no_further_and_says_so(monkeypatch, tmp_path):
    """FC gives the invocation 1 s: under the executor's start margin. The page listed before
    the executor began is still reported (its disks deferred, with no call), no further page is
    listed, and the run is incomplete (FC delivers it again)."""
    disks = [Disk(disk_id=f"d-{n}", instance_id="i-1") for n in range(3)]
    intents, _ = build_intents(POLICY, disks, trigger="timer", slot_parts={"slot": "s1"}, slot="20261127")
    listed: list[int] = []

    def pages() -> Iterator[Batch]:
        for n in range(3):
            listed.append(n)
            yield Batch([intents[n]])

    with EcsEmulator() as emulator:
        monkeypatch.setenv("SNAPSTACK_TOKEN_TABLE", f"sqlite:///{tmp_path}/tokens.db")
        monkeypatch.setenv("SNAPSTACK_ECS_ENDPOINT", emulator.endpoint)
        monkeypatch.setenv("SNAPSTACK_ECS_PROTOCOL", "http")
        with pytest.raises(IncompleteRun) as caught:
            run(lambda event, rt: Plan(POLICY, pages=pages()), timeout=1, credentials=emulator.credentials)
        assert emulator.calls("CreateSnapshot") == 0
    summary = caught.value.summary
    assert (summary["listing_stopped"], summary["created"], summary["deferred"], listed) == (True, 0, 1, [0])
    assert [(d["disk_id"], d["error_code"]) for d in summary["disks"]] == [("d-0", "Invocation.TimeUp")]
    assert summary["notes"] == [
        "stopped listing after 1 disk(s): too little time left in this invocation; the next "
        "delivery lists again and settles what the token table records as done without working on it"
    ]


def test_the_metrics_count_each_outcome_and_in_progress_disks_as_deduplicated(monkeypatch, capsys):
    """In progress elsewhere is a duplicate delivery too: SnapshotsDeduplicated adds both."""
    monkeypatch.setenv("SNAPSTACK_RETRY_INCOMPLETE", "false")
    outcomes = [Outcome.DEDUPLICATED] * 2 + [Outcome.IN_PROGRESS] + [Outcome.SKIPPED] * 3
    batch = Batch(
        results=[DiskResult(disk_id=f"d-{n}", outcome=o, token=f"ss2-{n}") for n, o in enumerate(outcomes)]
    )
    capsys.readouterr()
    run(streaming(batch))
    (line,) = [line for line in log_lines(capsys.readouterr().out) if "_aws" in line]
    counts = {name: line[name] for name in ("SnapshotsDeduplicated", "SnapshotsSkipped", "SnapshotsCreated")}
    assert counts == {"SnapshotsDeduplicated": 3.0, "SnapshotsSkipped": 3.0, "SnapshotsCreated": 0.0}


WHOLE_NUMBERS = [
    (runtime.max_deliveries, "SNAPSTACK_MAX_DELIVERIES", ">= 1", setting, value)
    for setting, value in [
        (None, 4),
        ("", 4),
        ("1", 1),
        ("2", 2),
        ("12", 12),
        ("0", None),
        ("-1", None),
        ("x", None),
    ]
] + [
    (runtime.summary_disks, "SNAPSTACK_SUMMARY_DISKS", ">= 0", setting, value)
    for setting, value in [
        (None, 1000),
        ("", 1000),
        ("0", 0),
        ("1", 1),
        ("250", 250),
        ("-1", None),
        ("1.5", None),
    ]
]


@pytest.mark.parametrize(("read", "name", "bound", "setting", "value"), WHOLE_NUMBERS)
def test_the_whole_number_settings_take_their_default_or_name_the_rule(read, name, bound, setting, value):
    env = {} if setting is None else {name: setting}
    if value is None:
        with pytest.raises(ConfigError) as caught:
            read(env)
        assert (caught.value.field, caught.value.rule) == (
            name,
            f"must be a whole number {bound} (got {setting!r})",
        )
    else:
        assert read(env) == value


def test_a_token_table_opened_with_no_credentials_anywhere_keeps_its_own(monkeypatch, tmp_path):
    """SQLite needs none: an invocation with no credentials in its context or environment still
    gets its table (``snapstack plan`` on a laptop; a planner's cooldown read)."""
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SNAPSTACK_TOKEN_TABLE", f"sqlite:///{tmp_path}/tokens.db")
    table = runtime.invocation_table(runtime.Invocation.from_fc(fc_context("stack-a")))
    assert table.claim("ss2-a", "owner").outcome is ClaimOutcome.CLAIMED
