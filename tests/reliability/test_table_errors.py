"""Transient token-table errors: 1% of the table's requests are cut off, 300 disks.

The Redis token table is reached through a proxy that breaks 1% of the client's writes (half
before the server saw them, half after it acted). Each table call is retried with backoff before
it counts as an outage, so within at most four deliveries (FC's default: a first try and three
retries) every disk has exactly one snapshot and every record names it. Before the retries, one
error tripped the breaker and deferred every remaining disk: most of the run ended unfinished.
"""

from __future__ import annotations

import pytest

from devkit.emulator.testing import EcsEmulator
from devkit.local.template import Template
from devkit.redis_server import RedisServer
from tests.reliability.conftest import Runner, set_config
from tests.reliability.support import (
    TIMER_EVENT,
    FlakyProxy,
    assert_one_snapshot_each,
    assert_records_match_snapshots,
    disk_ids,
    fleet,
    policy_config,
    report,
    until_complete,
)

pytestmark = pytest.mark.slow

DISKS = 300


def test_one_percent_transient_table_errors_still_end_with_one_snapshot_each(
    stack: Template, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_config(monkeypatch, policy_config(8))
    monkeypatch.setenv("SNAPSTACK_LEASE_SECONDS", "2")
    proxy = FlakyProxy(redis_server.port, rate=0.01, seed=20261130)
    url = f"redis://127.0.0.1:{proxy.port}/0?socket_timeout=0.5&socket_connect_timeout=0.5"
    data = fleet(DISKS)
    disks = disk_ids(data)
    try:
        with EcsEmulator(fleet=data) as emu:
            run = Runner(stack, emu, url)
            results = until_complete(
                lambda: run("scheduled_backup", TIMER_EVENT.read_bytes()), max_runs=4, wait=2.2
            )
            assert not results[-1].incomplete, results[-1].summary
            assert_one_snapshot_each(emu, disks)
            assert sum(proxy.cuts.values()) > 0, "no request was cut: the run proves nothing"
            assert_records_match_snapshots(emu, redis_server.url)
            created = sum(r.summary["created"] for r in results if r.summary)
            assert created == len(disks)  # a snapshot found again is deduplicated, never counted twice
    finally:
        proxy.close()
    report(
        "transient table errors (1%)",
        {
            "disks": len(disks),
            "deliveries": len(results),
            "cut_before": proxy.cuts["before"],
            "cut_after": proxy.cuts["after"],
            "deferred_first_run": results[0].summary["deferred"] if results[0].summary else None,
        },
    )
