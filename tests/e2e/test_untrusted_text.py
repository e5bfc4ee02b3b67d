"""Event text reaches snapshot metadata cleaned on every trigger, not only deploys (issue #10 item 3)."""

from __future__ import annotations

import json

from .conftest import EVENTS, ours


def test_an_alarms_rule_id_is_cleaned_before_it_reaches_a_description(run, emulator):
    alarm = json.loads((EVENTS / "cms_threshold_alarm.json").read_text())
    alarm["ruleId"] = "disk-high\r\nFAKE LOG LINE\u202e\u2066" + "r" * 300
    summary = run("alarm_snapshot", alarm).summary
    assert summary["ok"] and summary["created"] > 0, summary
    for snap in ours(emulator):
        description = snap["description"]
        assert not any(c in description for c in "\r\n\u202e\u2066")
        assert "disk-high FAKE LOG LINE" in description and len(description) <= 256
