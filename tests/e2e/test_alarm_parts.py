"""alarm_snapshot's log lines the broader end-to-end tests leave open."""

from __future__ import annotations

import json

from .conftest import EVENTS


def test_each_unusable_batch_element_gets_one_error_line(run, emulator, capsys):
    batch = json.loads((EVENTS / "eventbridge_mns_queue_batch.json").read_text())
    batch[1]["data"]["messageBody"] = "plain text"
    summary = run("alarm_snapshot", json.dumps(batch)).summary
    assert summary["ok"] and [u["index"] for u in summary["unusable"]] == [1]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (error,) = [line for line in lines if line.get("message") == "unusable element: not acted on"]
    assert (error["level"], error["error_code"], error["index"], error["field"]) == (
        "ERROR",
        "BadEvent",
        1,
        "[1].data.messageBody",
    )
