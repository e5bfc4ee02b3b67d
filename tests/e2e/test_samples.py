"""Every sample event in events/ through its function: it acts once, however often it arrives."""

from __future__ import annotations

import json
import threading

import pytest

from .conftest import EVENTS, all_calls, ours

SAMPLES = sorted(p for p in EVENTS.iterdir() if p.name != "README.md")
NOT_AN_ALARM = {"mns_topic_stream_raw.txt"}  # a plain STREAM body: the alarm function refuses it


def function_for(name: str) -> str:
    if name.startswith("timer"):
        return "scheduled_backup"
    return "deploy_hook" if name.startswith(("oss_", "deploy_")) else "alarm_snapshot"


def test_every_sample_has_a_test():
    assert len(SAMPLES) >= 15


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_a_sample_delivered_twice_at_once_and_again_makes_each_snapshot_once(run, emulator, oss, sample):
    event = sample.read_bytes()
    if sample.name.startswith("oss_"):  # the manifest the event points at, stored for real
        data = json.loads(event)
        obj = data["events"][0]["oss"]["object"]
        stored = oss.put(obj["key"], b'{"instance_ids": ["i-web-01"], "reason": "sample deploy"}')
        obj.update(stored["events"][0]["oss"]["object"])
        event = json.dumps(data).encode()
    function = function_for(sample.name)

    results = []
    threads = [threading.Thread(target=lambda: results.append(run(function, event))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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
