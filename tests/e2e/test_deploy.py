"""deploy_hook end to end: key rules, manifests read from OSS (moto), releases and the allow-list."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import quote_plus

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


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


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
        "reason": "web 1.4.2 <rollout>\n\u202eforged",
    }
    event = oss.put("releases/web/2026-11-27/manifest.json", json.dumps(manifest).encode())
    summary = run("deploy_hook", event).summary
    outcomes = by_outcome(summary)
    assert "d-web-01-data" in outcomes["created"]
    refused = {d["disk_id"]: d["error_code"] for d in summary["disks"] if d["outcome"] == "denied"}
    assert refused["d-batch-01-system"] == "NotAllowed"  # env=dev: outside the allow-list
    snap = next(s for s in ours(emulator) if s["disk_id"] == "d-web-01-data")
    assert snap["description"].endswith("web 1.4.2 <rollout> forged")  # no newline, no bidi override
    assert snap["retention_days"] == 14  # from the policy, never from the manifest


def test_the_same_object_event_twice_makes_no_second_snapshot(run, emulator, oss):
    event = oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"]}')
    assert run("deploy_hook", event).summary["created"] == 1
    again = run("deploy_hook", event).summary
    assert (again["created"], again["deduplicated"]) == (0, 1)
    assert len(ours(emulator)) == 1


def test_a_new_upload_of_a_key_that_names_no_release_is_a_new_release(run, emulator, oss):
    run("deploy_hook", oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"]}'))
    emulator.state.clock.advance(3600)  # the first snapshot completes
    second = oss.put("releases/web/manifest.json", b'{"disk_ids": ["d-web-01-data"], "reason": "v2"}')
    assert run("deploy_hook", second).summary["created"] == 1


def test_every_object_of_a_release_shares_one_snapshot_per_disk(run, emulator):
    files = ["app.tar.gz", "config.yaml", "migrations.sql", "checksums.txt"]
    first, *rest = (
        run("deploy_hook", oss_event(f"releases/web/1.4.2/{name}", f"{i:032X}", 10)).summary
        for i, name in enumerate(files)
    )
    made = ours(emulator)
    assert first["created"] == len(made) > 0 and first["deploy"] == "web-1.4.2"
    assert all(s["created"] == 0 and s["deduplicated"] == len(made) for s in rest)
    assert {s["name"] for s in made} == {f"snapstack-deploy-web-1-4-2-{s['disk_id']}" for s in made}


def test_a_new_deploy_id_snapshots_again_even_for_identical_bytes(run, emulator):
    run("deploy_hook", oss_event("releases/web/1.4.2/app.tar.gz", "C" * 32, 10))
    before = len(ours(emulator))
    emulator.state.clock.advance(3600)
    again = run("deploy_hook", oss_event("releases/web/1.4.3/app.tar.gz", "C" * 32, 10)).summary
    assert again["created"] == before and len(ours(emulator)) == 2 * before


def test_a_manifests_deploy_id_and_a_direct_request_share_the_slot(run, emulator, oss):
    body = {"deploy_id": "web-42", "disk_ids": ["d-web-01-data"], "reason": "from the manifest"}
    first = run("deploy_hook", oss.put("releases/web/42/manifest.json", json.dumps(body).encode())).summary
    assert first["created"] == 1 and first["deploy"] == "web-42"
    request = {"deploy_id": "web-42", "disk_ids": ["d-web-01-data"], "reason": "from CI"}
    again = run("deploy_hook", request).summary
    assert (again["created"], again["deduplicated"]) == (0, 1)
    assert len(ours(emulator)) == 1


def test_a_manifest_is_read_path_style_when_configured(run, emulator, oss, monkeypatch):
    monkeypatch.setenv("SNAPSTACK_OSS_PATH_STYLE", "true")
    event = oss.put("releases/web/43/manifest.json", b'{"disk_ids": ["d-web-01-data"]}')
    assert run("deploy_hook", event).summary["created"] == 1


def test_an_overwritten_manifest_event_does_nothing(run, emulator, oss):
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
        (b'{"disk_ids": ["d-web-01-data"], "tags": {"owner": "me"}}', "tags"),
        (b'{"disk_ids": ["web-01"]}', "(top level)"),
        (b"{}", "(top level)"),
        (b'{"instance_ids": "i-web-01"}', "instance_ids"),
        (b'{"disk_ids": ["d-web-01-data"], "deploy_id": "has space"}', "deploy_id"),
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


# --- object keys as OSS may deliver them --------------------------------------------------------------

KEYS = [
    "releases/web app/manifest.json",
    "releases/web+app/manifest.json",
    "releases/web/build%2B7/manifest.json",
    "releases/web/清单 v2/manifest.json",
]


@pytest.mark.parametrize("stored", KEYS)
@pytest.mark.parametrize("form_encoded", [False, True], ids=["as-stored", "form-encoded"])
def test_a_manifest_is_found_however_its_key_is_delivered(run, emulator, oss, stored, form_encoded):
    event = oss.put(stored, b'{"disk_ids": ["d-web-01-data"]}')
    if form_encoded:
        event["events"][0]["oss"]["object"]["key"] = quote_plus(stored, safe="/")
    summary = run("deploy_hook", event).summary
    assert summary["ok"] and summary["created"] == 1, summary


def test_a_manifest_that_is_really_gone_says_which_keys_were_tried(run, emulator, oss):
    event = oss.put("releases/web app/manifest.json", b'{"disk_ids": ["d-web-01-data"]}')
    event["events"][0]["oss"]["object"]["key"] = "releases/web+app/manifest.json"
    oss.bucket().delete_object("releases/web app/manifest.json")  # the event is from 2026-11-27: long ago
    summary = run("deploy_hook", event).summary
    assert summary["ok"] is False and summary["error"]["field"] == "key"
    assert "'releases/web app/manifest.json', 'releases/web+app/manifest.json'" in summary["error"]["rule"]
    assert all_calls(emulator) == 0


def test_a_manifest_not_readable_yet_is_retried_not_reported_missing(run, emulator, oss):
    body = b'{"disk_ids": ["d-web-01-data"]}'
    event = oss.put("releases/web/7/manifest.json", body)
    oss.bucket().delete_object("releases/web/7/manifest.json")  # as if the read raced the write
    event["events"][0]["eventTime"] = now_iso()
    first = run("deploy_hook", event)
    assert first.summary is None and "OSS.NoSuchKey" in first.error  # FC delivers the event again
    assert "releases/web/7/manifest.json" in first.error
    assert all_calls(emulator) == 0
    oss.put("releases/web/7/manifest.json", body)
    assert run("deploy_hook", event).summary["created"] == 1


# --- which OSS events act -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "final"),
    [
        ("ObjectCreated:PutObject", True),
        ("ObjectCreated:PostObject", True),
        ("ObjectCreated:CopyObject", True),
        ("ObjectCreated:CompleteMultipartUpload", True),
        ("ObjectCreated:InitiateMultipartUpload", False),
        ("ObjectCreated:UploadPart", False),
        ("ObjectCreated:UploadPartCopy", False),
        ("ObjectCreated:AppendObject", False),
        ("ObjectCreated:PutSymlink", False),
        ("ObjectRemoved:DeleteObject", False),
        ("ObjectModified:UpdateObjectMeta", False),
    ],
)
def test_only_an_event_for_a_complete_object_acts(run, emulator, name, final):
    event = oss_event("releases/web/1.4.2/app.tar.gz", "D" * 32, 10)
    event["events"][0]["eventName"] = name
    summary = run("deploy_hook", event).summary
    if final:
        assert summary["created"] > 0
        return
    assert summary["ok"] and summary["disks"] == []
    assert summary["notes"] == [f"releases/web/1.4.2/app.tar.gz: ignored {name}, not a final upload event"]
    assert all_calls(emulator) == 0


def test_one_bad_record_costs_only_itself(run, emulator):
    event = oss_event("releases/web/1.4.2/app.tar.gz", "E" * 32, 10)
    foreign = json.loads(json.dumps(event["events"][0]))
    foreign["oss"]["bucket"]["name"] = "someone-elses-bucket"
    event["events"].append(foreign)
    summary = run("deploy_hook", event).summary
    assert summary["ok"] and summary["created"] > 0
    assert any(n.startswith("record 1 refused") and "someone-elses-bucket" in n for n in summary["notes"])
