"""Every sample event in events/ through its function: it acts once, however often it arrives."""

from __future__ import annotations

import pytest

from devkit.local.oss import objects_in

from .conftest import BUCKET, EVENTS, all_calls, deliver_at_once, ours

SAMPLES = sorted(p for p in EVENTS.iterdir() if p.is_file() and p.name != "README.md")
NOT_AN_ALARM = {"mns_topic_stream_raw.txt"}  # a plain STREAM body: the alarm function refuses it
#: Sample name prefix -> the function whose trigger delivers that shape (events/README.md).
FUNCTION_BY_PREFIX = {
    "timer": "scheduled_backup",
    "oss_": "deploy_hook",
    "deploy_": "deploy_hook",
    "cms_": "alarm_snapshot",
    "eventbridge_": "alarm_snapshot",
    "mns_": "alarm_snapshot",
}


def function_for(name: str) -> str:
    (function,) = [f for prefix, f in FUNCTION_BY_PREFIX.items() if name.startswith(prefix)]
    return function


def test_every_sample_has_a_test(stack):
    # The test below runs once per file in events/; each file goes to exactly one function, by the
    # trigger shape its name gives, and every function of template.yml gets samples.
    functions = {}
    for sample in SAMPLES:
        matching = [f for prefix, f in FUNCTION_BY_PREFIX.items() if sample.name.startswith(prefix)]
        assert len(matching) == 1, f"{sample.name}: no trigger shape (or several) in FUNCTION_BY_PREFIX"
        functions.setdefault(matching[0], []).append(sample.name)
    # prune snapshots nothing (it deletes): its timer events run in tests/retention; the reconciler
    # snapshots only what other functions' slots left open: its timer events run in tests/operate.
    others = {"prune", "reconcile"}
    assert set(functions) == {spec.name for spec in stack.functions.values() if spec.trigger not in others}
    assert set(NOT_AN_ALARM) <= {p.name for p in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_a_sample_delivered_twice_at_once_and_again_makes_each_snapshot_once(run, emulator, oss, sample):
    event = sample.read_bytes()  # unchanged: the sample objects its eTag names are stored as shipped
    for bucket, key, file in objects_in(EVENTS / "objects"):
        assert bucket == BUCKET
        oss.bucket().put_object(key, file.read_bytes())
    function = function_for(sample.name)

    results = deliver_at_once(run, function, event, 2)
    again = run(function, event)

    if sample.name in NOT_AN_ALARM:
        assert all(r.summary["ok"] is False and r.error is None for r in [*results, again])
        assert all_calls(emulator) == 0
        return
    assert all(r.error is None and r.summary["ok"] for r in [*results, again])
    made = ours(emulator)
    assert made, "the sample should snapshot something in the sample fleet"
    assert sum(r.summary["created"] for r in results) == len(made)
    assert len({s["disk_id"] for s in made}) == len(made)  # never two snapshots of one disk
    assert again.summary["created"] == 0
