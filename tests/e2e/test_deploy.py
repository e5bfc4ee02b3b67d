"""deploy_hook end to end: key rules, manifests read from OSS (moto), and the allow-list."""

from __future__ import annotations

import json

import pytest

from .conftest import all_calls, oss_event, ours


def by_outcome(summary):
    out = {}
    for d in summary["disks"]:
        out.setdefault(d["outcome"], set()).add(d["disk_id"])
    return out


def fleet_disks(emulator, **tags):
    return {
        d["disk_id"]
        for d in emulator.state.dump()["disks"]
        if all(d.get("tags", {}).get(k) == v for k, v in tags.items())
    }


def test_a_key_rule_snapshots_the_apps_disks_inside_the_allow_list(run, emulator):
    summary = run("deploy_hook", oss_event("releases/web/web-1.4.2.tar.gz", "A" * 32, 10)).summary
    web = fleet_disks(emulator, app="web")
    allowed = fleet_disks(emulator, app="web", env="prod")
    decided = {d["disk_id"] for d in summary["disks"]}
    assert decided == web
    denied = {d["disk_id"] for d in summary["disks"] if d.get("error_code") == "NotAllowed"}
    assert denied == web - allowed and denied  # e.g. disks tagged app=web without env=prod
    made = {s["disk_id"] for s in ours(emulator)}
    assert "d-web-01-data" in made and not made & denied


def test_a_manifest_names_targets_and_an_outside_disk_is_refused(run, emulator, oss):
    manifest = {
        "instance_ids": ["i-web-01"],
        "disk_ids": ["d-batch-01-system"],
        "reason": "web 1.4.2 <rollout>",
    }
    event = oss.put("releases/web/2026-11-27/manifest.json", json.dumps(manifest).encode())
    summary = run("deploy_hook", event).summary
    outcomes = by_outcome(summary)
    assert "d-web-01-data" in outcomes["created"]
    refused = {d["disk_id"]: d["error_code"] for d in summary["disks"] if d["outcome"] == "denied"}
    assert refused["d-batch-01-system"] == "NotAllowed"  # env=dev: outside the allow-list
    snap = next(s for s in ours(emulator) if s["disk_id"] == "d-web-01-data")
    assert snap["description"].endswith("web 1.4.2 rollout")  # the reason, stripped of unsafe characters
    assert snap["retention_days"] == 14  # from the policy, never from the manifest


def test_the_same_object_event_twice_makes_no_second_snapshot(run, emulator, oss):
    event = oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"]}')
    assert run("deploy_hook", event).summary["created"] == 1
    again = run("deploy_hook", event).summary
    assert (again["created"], again["deduplicated"]) == (0, 1)
    assert len(ours(emulator)) == 1


def test_a_new_upload_of_the_same_key_is_a_new_slot(run, emulator, oss):
    run("deploy_hook", oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"]}'))
    emulator.state.clock.advance(3600)  # the first snapshot completes
    second = oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"], "reason": "v2"}')
    assert run("deploy_hook", second).summary["created"] == 1


def test_an_event_for_an_overwritten_object_does_nothing(run, emulator, oss):
    stale = oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"]}')
    oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-02-data"]}')
    summary = run("deploy_hook", stale).summary
    assert summary["ok"] and summary["disks"] == [] and "changed since" in summary["notes"][0]
    assert emulator.calls("CreateSnapshot") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "(body)"),
        (b'{"disk_ids": ["d-web-01-data"], "retention_days": 9999}', "retention_days"),
        (b'{"disk_ids": ["web-01"]}', "(top level)"),
        (b"{}", "(top level)"),
        (b'{"instance_ids": "i-web-01"}', "instance_ids"),
    ],
)
def test_a_bad_manifest_is_rejected_with_no_ecs_call(run, emulator, oss, body, field):
    summary = run("deploy_hook", oss.put("releases/web/manifest.json", body)).summary
    assert summary["ok"] is False and summary["error"]["field"] == field
    assert all_calls(emulator) == 0


def test_an_oversized_manifest_is_not_even_read(run, emulator, oss):
    big = json.dumps({"disk_ids": ["d-web-01-data"], "reason": "x" * 100}).encode() + b" " * 70_000
    summary = run("deploy_hook", oss.put("releases/web/manifest.json", big)).summary
    assert summary["ok"] is False and summary["error"]["field"] == "size"
    assert all_calls(emulator) == 0


def test_a_key_no_rule_covers_is_a_note_not_an_error(run, emulator):
    summary = run("deploy_hook", oss_event("uploads/other/file.bin", "B" * 32, 3)).summary
    assert summary["ok"] and summary["disks"] == [] and "no key rule" in summary["notes"][0]
    assert all_calls(emulator) == 0
