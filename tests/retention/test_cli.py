"""``snapstack prune`` as a user runs it, and the README's Retention section, command by command."""

from __future__ import annotations

import json
import re

from devkit import exitcodes
from devkit.cli import main
from devkit.emulator.testing import EcsEmulator

from .conftest import RETENTION_FLEET, ROOT

FLEET = ["--fleet", str(RETENTION_FLEET)]


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n## Retention\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_dry_run_prints_what_the_command_prints(monkeypatch, capsys) -> None:
    section = readme_section()
    command, shown = re.search(
        r"```\n(\.venv/bin/snapstack prune [^\n]*)\n```\n\nprints:\n\n```\n(.*?)\n```", section, re.S
    ).groups()
    monkeypatch.chdir(ROOT)
    assert main(command.split()[1:]) == exitcodes.OK
    captured = capsys.readouterr()
    assert captured.out.strip() == shown.strip()
    assert '"message":"snapshot deletion"' in captured.err  # the log lines go to stderr
    assert '"message"' not in captured.out


def test_apply_deletes_and_says_so(capsys) -> None:
    assert main(["prune", "--policy", "daily", *FLEET, "--apply"]) == exitcodes.OK
    out = capsys.readouterr().out
    assert out.startswith("policy daily (Asia/Shanghai), applied: 2 disk(s), 23 snapshot(s)")
    assert "s-daily-01-08             2024-05-25 02:00  beyond-retention  -> deleted" in out
    assert out.rstrip().endswith("deletions: deleted 9, gone 0, failed 0, dry_run 0, breaker 0")


def test_json_lists_every_decision(capsys) -> None:
    assert main(["prune", "--policy", "daily", *FLEET, "--json"]) == exitcodes.OK
    plan = json.loads(capsys.readouterr().out)
    assert (plan["mode"], plan["dry_run"], plan["kept"]) == ("dry_run", 9, 14)
    cloned = next(d for d in plan["decisions"] if d["snapshot_id"] == "s-daily-01-cloned")
    assert cloned == {
        "disk_id": "d-ret-01-data",
        "snapshot_id": "s-daily-01-cloned",
        "created": "2024-05-02T18:00:00+00:00",
        "action": "keep",
        "rules": ["in-use:disk"],
    }


def test_a_tripped_breaker_exits_failed(tmp_path, capsys) -> None:
    config = json.loads((ROOT / "functions" / "prune" / "snapstack.json").read_text())
    config["policies"][0]["retention"]["breaker"] = {"max_count": 3}
    path = tmp_path / "prune.json"
    path.write_text(json.dumps(config))
    assert main(["prune", "--policy", "daily", *FLEET, "--config", str(path), "--apply"]) == exitcodes.FAILED
    out = capsys.readouterr().out
    assert "breaker tripped, nothing deleted: 9 deletions planned, more than max_count 3" in out


def endpoint(emu: EcsEmulator) -> list[str]:
    creds = emu.credentials
    return [
        "--endpoint",
        emu.endpoint,
        "--access-key-id",
        creds.access_key_id,
        "--access-key-secret",
        creds.access_key_secret,
        "--now",
        "2024-06-01T00:00:00Z",
    ]


def test_a_failed_deletion_exits_failed(emulator: EcsEmulator, capsys) -> None:
    emulator.faults.configure(
        {
            "apis": {
                "DeleteSnapshot": {
                    "errors": [{"code": "SnapshotCreatedImage", "match": {"SnapshotId": "s-daily-01-00"}}]
                }
            }
        }
    )
    assert main(["prune", "--policy", "daily", *endpoint(emulator), "--apply"]) == exitcodes.FAILED
    out = capsys.readouterr().out
    assert (
        "s-daily-01-00             2024-05-17 02:00  beyond-retention  -> failed SnapshotCreatedImage" in out
    )
    assert "deletions: deleted 8, gone 0, failed 1" in out


def test_an_unknown_policy_is_a_usage_error(capsys) -> None:
    assert main(["prune", "--policy", "hourly", *FLEET]) == exitcodes.USAGE
    assert "no policy 'hourly' (configured: daily)" in capsys.readouterr().err


def test_a_configuration_without_retention_is_bad_input(tmp_path, capsys) -> None:
    path = tmp_path / "prune.json"
    path.write_text(json.dumps({"policies": [{"name": "daily", "selector": {"all_disks": True}}]}))
    assert main(["prune", "--policy", "daily", *FLEET, "--config", str(path)]) == exitcodes.BAD_INPUT
    assert "have no retention" in capsys.readouterr().err


def test_ecs_out_of_reach_is_a_tool_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SNAPSTACK_RETRY_MAX_ATTEMPTS", "1")
    args = ["--endpoint", "127.0.0.1:9", "--access-key-id", "k", "--access-key-secret", "s"]
    assert main(["prune", "--policy", "daily", *args]) == exitcodes.TOOL_ERROR
    assert "reading ECS failed: Transport.ConnectionFailed" in capsys.readouterr().err


def test_the_readme_local_invoke_runs_the_function(tmp_path, monkeypatch, capsys) -> None:
    (command,) = re.findall(r"\.venv/bin/snapstack (local invoke prune [^\n]*)", readme_section())
    monkeypatch.chdir(tmp_path)  # its token table (and first-run marker) lands in ./.snapstack
    args = [str(ROOT / a) if a.startswith(("events/", "devkit/")) else a for a in command.split()]
    assert main([*args, "--template", str(ROOT / "template.yml")]) == exitcodes.OK
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads("\n".join(lines[len(lines) - lines[::-1].index("{") - 1 :]))  # the last document
    (daily,) = summary["policies"]
    assert (daily["policy"], daily["mode"], daily["dry_run"]) == ("daily", "dry_run", 9)
