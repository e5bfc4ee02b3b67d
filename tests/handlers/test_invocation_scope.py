"""The invocation a plan reads (``runtime.current_invocation``) is the one being run, and only
while it runs: slot tokens carry its FC service and function names, so a plan made after it in
the same thread (the local tools run several handlers in one process) must not inherit them."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from snapstack.config import ConfigError
from snapstack.execute import Batch
from snapstack.handlers import runtime
from snapstack.handlers.runtime import BadInput, Plan, Runtime, current_invocation
from snapstack.policy.model import Policy

POLICY = Policy.model_validate({"name": "daily", "selector": {"all_disks": True}})


def fc_context(service: str) -> Any:
    return SimpleNamespace(
        request_id=f"req-{service}",
        function=SimpleNamespace(name="scheduled_backup", timeout=60),
        service=SimpleNamespace(name=service),
        credentials=None,
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
        return Plan(POLICY, pages=pages())

    return seen, planner


def run(planner: Any, service: str = "stack-a") -> Any:
    return runtime.invoke({}, fc_context(service), trigger="timer", function_dir=None, planner=planner)


def test_the_invocation_is_current_while_planned_and_streamed_and_cleared_after():
    seen, planner = seen_services("plan")
    summary = run(planner)
    assert summary["ok"] is True and summary["created"] == 0
    assert seen == ["stack-a", "stack-a"]  # the planner, then the streamed pages
    assert current_invocation() is None


@pytest.mark.parametrize("outcome", ["bad input", "config error"])
def test_an_invocation_that_ends_early_is_cleared_too(outcome):
    seen, planner = seen_services(outcome)
    if outcome == "config error":
        with pytest.raises(ConfigError):
            run(planner)
    else:
        assert run(planner)["ok"] is False
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
