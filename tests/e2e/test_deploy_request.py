"""deploy_hook called directly (decision D4): it only narrows the allow-list; one snapshot per deploy."""

from __future__ import annotations

import contextlib
import io
import json
import threading

import pytest

from .conftest import EVENTS, ROOT, all_calls, ours

WEB01_PROD = {"d-web-01-system", "d-web-01-data"}


def request(deploy_id="web-1.4.2", **targets):
    return {"deploy_id": deploy_id, "reason": "pre-deploy", **(targets or {"instance_ids": ["i-web-01"]})}


def created(summary):
    return {d["disk_id"] for d in summary["disks"] if d["outcome"] == "created"}


def test_the_sample_request_snapshots_its_instances_disks(run, emulator):
    summary = run("deploy_hook", (EVENTS / "deploy_invoke.json").read_bytes()).summary
    assert summary["ok"] and created(summary) == WEB01_PROD
    assert summary["trigger"] == "deploy" and summary["deploy"] == "web-1.4.2-build-7"
    names = {s["name"] for s in ours(emulator)}
    assert names == {f"snapstack-deploy-web-1-4-2-build-7-{d}" for d in WEB01_PROD}


def test_a_request_only_narrows_the_allow_list(run, emulator):
    summary = run(
        "deploy_hook",
        request(disk_ids=["d-web-01-data", "d-batch-01-system"], disk_tags={"app": "api"}),
    ).summary
    assert created(summary) == {"d-web-01-data"}
    refused = {d["disk_id"] for d in summary["disks"] if d.get("error_code") == "NotAllowed"}
    assert refused == {"d-batch-01-system", "d-api-01-system", "d-new-01-system"}  # dev, staging
    snap = ours(emulator)[0]
    assert snap["retention_days"] == 14 and snap["description"].endswith(": pre-deploy")


def test_the_same_deploy_id_twice_makes_one_snapshot_per_disk(run, emulator):
    first = run("deploy_hook", request()).summary
    again = run("deploy_hook", request()).summary  # a re-run CI job, an FC async retry
    assert created(first) == WEB01_PROD
    assert (again["created"], again["deduplicated"]) == (0, len(WEB01_PROD))
    assert len(ours(emulator)) == len(WEB01_PROD)


def test_the_same_deploy_id_at_once_makes_one_snapshot_per_disk(run, emulator):
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(run("deploy_hook", request()))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.error is None for r in results)
    assert sum(r.summary["created"] for r in results) == len(WEB01_PROD) == len(ours(emulator))


def test_a_new_deploy_id_is_a_new_release(run, emulator):
    run("deploy_hook", request("web-1.4.2"))
    emulator.state.clock.advance(3600)
    assert created(run("deploy_hook", request("web-1.4.3")).summary) == WEB01_PROD
    assert len(ours(emulator)) == 2 * len(WEB01_PROD)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"retention_days": 3650}, "retention_days"),
        ({"tags": {"owner": "ci"}}, "tags"),
        ({"snapshot_name": "mine"}, "snapshot_name"),
        ({"selector": {"all_disks": True}}, "selector"),
        ({"deploy_id": "two words"}, "deploy_id"),
        ({"instance_ids": []}, "$"),
    ],
)
def test_what_an_invoker_may_not_choose_is_bad_input(run, emulator, extra, field):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        summary = run("deploy_hook", request() | extra).summary
    assert summary["ok"] is False and summary["error"]["field"] == field
    errors = [json.loads(line) for line in out.getvalue().splitlines() if '"level":"ERROR"' in line]
    assert len(errors) == 1 and errors[0]["field"] == field
    assert all_calls(emulator) == 0


def test_an_untrusted_reason_is_cleaned_before_ecs_sees_it(run, emulator):
    reason = "ok\n\u202eevil\x1b[2J" + "x" * 300
    run("deploy_hook", request(disk_ids=["d-web-01-data"]) | {"reason": reason[:500]})
    description = ours(emulator)[0]["description"]
    assert "\n" not in description and "\u202e" not in description and "\x1b" not in description
    assert description.endswith(": ok evil[2J" + "x" * 90)  # cut to 100 characters


def test_the_readme_command_prints_what_the_readme_shows(tmp_path, capfd, monkeypatch):
    """README "Configuration": ``snapstack local invoke deploy_hook --event events/deploy_invoke.json``."""
    from devkit.cli import main

    monkeypatch.chdir(ROOT)
    argv = ["local", "invoke", "deploy_hook", "--event", "events/deploy_invoke.json"]
    assert main([*argv, "--token-table", f"sqlite:///{tmp_path}/t.db"]) == 0
    shown = [line for line in capfd.readouterr().out.splitlines() if not line.startswith("{")]
    assert "deploy_hook: 2 created, 7 denied" in shown
    readme = (ROOT / "README.md").read_text()
    assert " ".join(argv) in readme and "deploy_hook: 2 created, 7 denied" in readme
    rows = {line.split()[0]: line.split()[1] for line in shown if line.startswith("d-")}
    assert rows["d-web-01-data"] == rows["d-web-01-system"] == "created"
    assert list(rows.values()).count("denied") == 7
