"""Crash during audit appends (reliability-anchors C3): SIGKILL the daemon again and again
while records change state; afterwards every state change has its audit entry, nothing is
audited that did not happen, and the chain with its signed checkpoints verifies."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest

from gateway.audit.archive import verify_all
from gateway.simulator.portal import PortalState
from gateway.store.sqlite.audit import SqliteAuditRepository
from tests.audit_support import PRIVATE, SIGNER
from tests.daemons import free_port, start_daemon
from tests.integration.test_daemon_crash import (
    STEP_TIMES,
    WatchedPortal,
    feed,
    portal,
)

__all__ = ["portal"]  # the fixture, shared with the daemon crash test

EVERY = 25
KILLS = 3
AFTER_LEASE = {"attempt", "lease_released_at_start", "lease_expired"}


async def wait_for_intake(port: int, proc: asyncio.subprocess.Process) -> None:
    """Wait until the daemon answers /healthz; a refused connection means: not yet. The bound
    is generous because a busy machine can take long to start a Python process."""
    async with asyncio.timeout(90), aiohttp.ClientSession() as http:
        while True:
            assert proc.returncode is None, "the daemon exited during start-up"
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # the process is still binding its socket


def write_config(folder: Path, portal_url: str, port: int) -> Path:
    config = {
        "portal": {"base_url": portal_url, "username": "simulator", "password": "simulator"},
        "store": {"path": str(folder / "gw.db")},
        "intake": {"port": port},
        "delivery": {
            "concurrency": 4,
            "batch_size": 8,
            "portal_batch_size": 1,  # many portal calls: room for every kill to land
            "idle_poll_s": 0.05,
            "retry": {"base_delay_s": 0.05, "max_delay_s": 0.5},
        },
        "logging": {"format": "json", "level": "INFO"},
        "audit": {"checkpoint_every_entries": EVERY, "require_signing": True},
    }
    path = folder / "gateway.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


async def start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "DVC_GATEWAY_AUDIT_KEY": PRIVATE, "DVC_GATEWAY_HASH_KEY": "test-key"}
    return await start_daemon(config, log, env)


async def test_sigkill_loop_leaves_a_complete_verifiable_audit_log(
    tmp_path: Path, portal: WatchedPortal
) -> None:
    dossiers = 80
    records = feed(dossiers)
    port = free_port()
    config, log = write_config(tmp_path, portal.url, port), tmp_path / "daemon.log"

    def complete(state: PortalState) -> bool:
        return len(state.dossiers) == dossiers and all(
            held["item"]["TrangThaiHoSo"] == "9"
            and {s["ThoiDiemXuLy"] for s in state.progress.get(code, [])} == STEP_TIMES
            for code, held in state.dossiers.items()
        )

    proc = await start(config, log)
    try:
        await wait_for_intake(port, proc)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
            async with http.post(url, json=records) as response:
                assert (await response.json())["accepted"] == len(records)
        for _ in range(KILLS):
            portal.kill_after, portal.enough = portal.calls + 25, asyncio.Event()
            async with asyncio.timeout(60):
                await portal.enough.wait()
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
            assert not complete(portal.state), "a kill came after the last delivery"
            proc = await start(config, log)
            await wait_for_intake(port, proc)
        portal.predicate, portal.done = complete, asyncio.Event()
        if not complete(portal.state):
            async with asyncio.timeout(90):
                await portal.done.wait()
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0
    finally:
        if proc.returncode is None:  # a failure above: never leave the daemon running
            proc.kill()
            await proc.wait()

    repo = SqliteAuditRepository(tmp_path / "gw.db")
    try:
        report = verify_all(repo, tmp_path / "none", public_key=SIGNER.public, max_gap=EVERY)
    finally:
        repo.close()
    assert report.ok, report.finding
    assert report.checkpoints > 10
    assert report.unsigned_tail == 0  # the clean stop signed the head
    check_every_change_is_audited(tmp_path / "gw.db")
    check_logged_checkpoints_witness_the_database(log, tmp_path / "gw.db")


def check_every_change_is_audited(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT id, state FROM records").fetchall())
        attempts = conn.execute("SELECT record_id, attempt, outcome FROM attempts").fetchall()
        audit = conn.execute("SELECT record_id, event, detail FROM audit ORDER BY seq").fetchall()
    timeline: dict[int, list[str]] = defaultdict(list)
    audited_attempts = set()
    starts = [json.loads(d) for _, event, d in audit if event == "config_loaded"]
    assert len(starts) == KILLS + 1
    assert {s["signing_key_id"] for s in starts} == {SIGNER.key_id}
    for record_id, event, detail in audit:
        if record_id is not None:
            timeline[record_id].append(event)
        if event == "attempt":
            d = json.loads(detail)
            audited_attempts.add((record_id, d["attempt"], d["outcome"]))
    assert audited_attempts == set(attempts)  # each attempt row has its entry, and vice versa
    last = {"delivered": "delivered", "superseded": "superseded"}
    for record_id, state in states.items():
        events = timeline[record_id]
        assert events[:3] == ["received", "translated", "queued"], record_id
        transitions = [e for e in events if e not in ("attempt", "duplicate_ignored")]
        assert transitions[-1] == last[state], (record_id, events)
        for before, after in itertools.pairwise(events):
            if before == "leased":
                assert after in AFTER_LEASE, (record_id, events)
    kills = sum(1 for events in timeline.values() if "lease_released_at_start" in events)
    assert kills > 0, "no kill caught a record in flight"


def check_logged_checkpoints_witness_the_database(log: Path, db: Path) -> None:
    logged = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "audit_checkpoint_signed":
            logged[event["seq"]] = event["head"]
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT seq, hash FROM audit_checkpoints").fetchall())
    assert logged
    assert all(stored[seq] == head for seq, head in logged.items())


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_GATEWAY_AUDIT_KEY", raising=False)
