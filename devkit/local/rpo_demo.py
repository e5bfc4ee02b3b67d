"""``snapstack demo --rpo``: after the demo's two runs, an RPO breach and its repair.

On the emulator's virtual clock: a day and a half passes with no backup (every daily disk breaches
the 30-hour RPO); the timer fires again; ECS reports one of the new snapshots ``failed``; the
reconciler retries that slot with a new ClientToken generation; and the RPO check then reports
only the disk that can never be backed up (its instance is locked for security). The report
(``snapstack report``) ends it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.emulator.models import iso
from devkit.local.output import function_output
from devkit.local.runner import invoke

if TYPE_CHECKING:
    from devkit.emulator.testing import EcsEmulator
    from devkit.local.session import LocalRun

FAILED_DISK = "d-web-01-data"  # whose new snapshot ECS reports failed


@dataclass(frozen=True)
class _Stack:
    """The demo's running stack (template, ECS target, token table, log threshold) and its emulator."""

    run: LocalRun
    emulator: EcsEmulator

    def invoke(self, function: str, payload: str) -> dict[str, Any]:
        """``function`` with a timer event fired now, on the emulator's virtual clock."""
        event = {
            "triggerTime": iso(self.emulator.state.clock.now()),
            "triggerName": "demo",
            "payload": payload,
        }
        run = self.run
        with function_output(run.threshold):  # log lines to stderr, as every local command
            result = invoke(
                run.template,
                function,
                json.dumps(event).encode(),
                run.target,
                token_table=run.token_table,
                env=run.env,
            )
        if result.summary is None:
            raise RuntimeError(result.error or f"{function} returned nothing")
        return result.summary

    def reconcile(self, when: str) -> None:
        """One reconciler run, told in a line, and its RPO breaches."""
        summary = self.invoke("reconciler", '{"policy": "daily"}')
        parts = []
        if summary["reconcile"]["reopened"]:
            parts.append(f"{summary['reconcile']['reopened']} snapshot failed at ECS, retried in its slot")
        retried = [d for d in summary["disks"] if d.get("verdict") == "repaired"]
        parts += [f"{d['disk_id']}: created {d['snapshot_id']}" for d in retried]
        parts.append(f"{len(summary['rpo']['breaches'])} RPO breach(es)")
        print(f"{when}: reconciler -> {'; '.join(parts)}")
        for breach in summary["rpo"]["breaches"]:
            print(f"  {breach['disk_id']:<20} {breach['reason']}")
        print()


def run(local: LocalRun, emulator: EcsEmulator) -> None:
    """Print the story of the module docstring, on ``local``'s stack and ``emulator``."""
    stack = _Stack(local, emulator)
    template, target, token_table = local.template, local.target, local.token_table
    clock = emulator.state.clock
    print("RPO: the reconciler checks each policy's disks against its RPO (daily: 30h)\n")
    clock.advance(36 * 3600)
    stack.reconcile("36h later, no backup since")
    backup = stack.invoke("scheduled_backup", '{"policy": "daily"}')
    print(f"the timer fires: scheduled_backup -> {backup['created']} created, {backup['failed']} failed")
    (failed,) = [d["snapshot_id"] for d in backup["disks"] if d["disk_id"] == FAILED_DISK]
    emulator.state.patch_snapshot(failed, status="failed")
    print(f"ECS reports {FAILED_DISK}'s new snapshot {failed} failed\n")
    for _ in range(2):
        clock.advance(180)
        stack.reconcile("3m later")
    from devkit.commands.report import gather, render

    options = argparse.Namespace(
        policy="daily",
        config=None,
        template=Path(template.root) / "template.yml",
        token_table=token_table,
        endpoint=target.endpoint,
        region=target.region,
        access_key_id=target.access_key_id,
        access_key_secret=target.access_key_secret,
        now=iso(clock.now()),
    )
    rows, now = gather(options)
    print(f"snapstack report --policy daily:\n{render(rows, now)}")
