"""The local tooling as a user runs it: snapstack local invoke, snapstack plan."""

from __future__ import annotations

from devkit.cli import main

from .conftest import EVENTS, ROOT


def endpoint_args(emulator):
    creds = emulator.credentials
    return [
        "--template",
        str(ROOT / "template.yml"),
        "--endpoint",
        emulator.endpoint,
        "--access-key-id",
        creds.access_key_id,
        "--access-key-secret",
        creds.access_key_secret,
    ]


def test_local_invoke_prints_the_logs_and_the_summary(emulator, tmp_path, capfd):
    argv = [
        "local",
        "invoke",
        "scheduled_backup",
        "--event",
        str(EVENTS / "timer.json"),
        "--token-table",
        f"sqlite:///{tmp_path}/t.db",
        *endpoint_args(emulator),
    ]
    assert main(argv) == 0
    out = capfd.readouterr().out
    assert '"message":"snapshot decision"' in out  # the structured log lines
    assert "scheduled_backup: 7 created, 1 failed" in out
    assert emulator.calls("CreateSnapshot") == 8


def test_local_invoke_reports_bad_input_with_exit_1(emulator, tmp_path, capfd):
    bad = tmp_path / "bad.json"
    bad.write_text('{"triggerTime": "not a time", "triggerName": "x"}')
    argv = [
        "local",
        "invoke",
        "scheduled_backup",
        "--event",
        str(bad),
        "--token-table",
        f"sqlite:///{tmp_path}/t.db",
        *endpoint_args(emulator),
    ]
    assert main(argv) == 1
    assert "triggerTime" in capfd.readouterr().out
    assert emulator.calls("CreateSnapshot") == 0


def test_plan_lists_the_disks_and_creates_nothing(emulator, capfd):
    assert main(["plan", "--event", str(EVENTS / "timer.json"), *endpoint_args(emulator)]) == 0
    out = capfd.readouterr().out
    assert "policy daily: 8 disk(s) to snapshot" in out
    assert "d-web-01-data" in out and "snapstack-daily-20261128-d-web-01-data" in out
    assert emulator.calls("CreateSnapshot") == 0 and emulator.calls("DescribeDisks") >= 1


def test_plan_for_an_alarm_names_the_refused_disks(emulator, capfd):
    argv = [
        "plan",
        "--function",
        "alarm_snapshot",
        "--event",
        str(EVENTS / "cms_threshold_alarm.form"),
        *endpoint_args(emulator),
    ]
    assert main(argv) == 0
    out = capfd.readouterr().out
    assert "policy alarm: 2 disk(s) to snapshot" in out and "NotAllowed" in out
    assert emulator.calls("CreateSnapshot") == 0
