"""End to end, with real processes: the portal simulator pushes portal-hosted dossiers (with
repeats, lost answers and broken bodies) to a gateway daemon that is SIGKILLed and started
again meanwhile; each dossier reaches the reference sink exactly once (an HTTP server, a
PostgreSQL and a MariaDB table); the local system then reports their status through intake
and the reports reach the simulated portal with ``DongBoTrangThaiHoSo``, in order;
``audit show MAHOSO`` tells both directions."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.canonical import record_to_json
from gateway.cli import main
from gateway.model import DossierStatus
from gateway.simulator.hosted import hosted_body, push_dossiers
from tests.daemons import free_port, recording_portal, start_daemon, wait_for_intake
from tests.factories import dossier, step
from tests.pg import pg_database
from tests.sink_targets import fetch, sink_database

DOSSIERS = 500
SERVED = 100
"""Dossiers the simulated portal serves for the daemon to pull (DanhSachHoSo)."""
TOKEN = "portal-push-token"


class Vendor:
    """The vendor's HTTP endpoint: keeps the first body per Idempotency-Key, counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.stored: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.json()
        self.stored.setdefault(request.headers["Idempotency-Key"], body["dossier_code"])
        return web.json_response({"ok": True})


@asynccontextmanager
async def sink_target(kind: str) -> AsyncIterator[tuple[dict[str, Any], Callable[[], Any]]]:
    """The sink section of the configuration, and how to read what the vendor holds."""
    if kind == "http":
        vendor = Vendor()
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_post("/hoso", vendor.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hoso"

        async def held_http() -> list[str]:
            return sorted(vendor.stored)

        try:
            yield {"plugin": "http", "http": {"url": url, "timeout_s": 4}}, held_http
        finally:
            await runner.cleanup()
        return
    async with sink_database(kind) as dsn:

        async def held_sql() -> list[str]:
            rows = await fetch(kind, dsn, "SELECT ma_ho_so FROM dvc_inbound_dossier")
            return sorted(r[0] for r in rows)

        yield {"plugin": "sql", "sql": {"engine": kind, "dsn": dsn, "timeout_s": 4}}, held_sql


@asynccontextmanager
async def gateway_store(engine: str, folder: Path) -> AsyncIterator[dict[str, Any]]:
    """The daemon's own store section: an SQLite file, or a fresh PostgreSQL database."""
    if engine == "sqlite":
        yield {"engine": "sqlite", "path": str(folder / "gw.db")}
        return
    async with pg_database() as dsn:
        yield {"engine": "postgresql", "dsn": dsn}


def config_for(
    folder: Path, portal_url: str, port: int, inbound_port: int, sink: Any, store: Any
) -> Path:
    config = {
        "portal": {"base_url": portal_url, "username": "simulator", "password": "simulator"},
        "store": store,
        "intake": {"port": port},
        "delivery": {"idle_poll_s": 0.05, "lease_s": 3, "retry": {"base_delay_s": 0.05,
                                                                  "max_delay_s": 0.5}},
        "inbound": {
            "enabled": True,
            "port": inbound_port,
            "token": "${INBOUND_TOKEN}",
            "sink": sink,
            "idle_poll_s": 0.05,
            "lease_s": 5,
            "retry": {"base_delay_s": 0.05, "max_delay_s": 0.5},
            "pull": {"enabled": True, "agency": "000.00.00.H56", "window_s": 172800,
                     "start_at": "2026-11-27T00:00:00+07:00", "settle_s": 0, "interval_s": 0.2},
        },
        "logging": {"format": "json", "level": "WARNING"},
    }  # fmt: skip
    path = folder / "gateway.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


async def until(check: Callable[[], Any], what: str, timeout_s: float = 120) -> None:
    """Poll a condition the test cannot be told about (another process's database)."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - another process: nothing to be told by
            await asyncio.sleep(0.1)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("kind", "engine"),
    [("http", "sqlite"), ("postgresql", "sqlite"), ("mysql", "sqlite"), ("http", "postgresql")],
)
async def test_pushed_dossiers_reach_the_sink_once_through_a_kill_and_reports_go_back_in_order(
    tmp_path: Path, kind: str, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INBOUND_TOKEN", TOKEN)  # the daemons and the audit commands read it
    env = {**os.environ}
    port, inbound_port = free_port(), free_port()
    log = tmp_path / "daemon.log"
    async with (
        recording_portal() as portal,
        sink_target(kind) as (sink, held),
        gateway_store(engine, tmp_path) as store,
    ):
        rng = random.Random(9)
        for body in (hosted_body(10_000 + i, rng, datetime(2026, 11, 27)) for i in range(SERVED)):
            portal.state.hosted.served[body["MaHoSo"]] = body
        config = config_for(tmp_path, portal.url, port, inbound_port, sink, store)
        proc = await start_daemon(config, log, env)
        await wait_for_intake(port, proc)
        half = asyncio.Event()
        answered: set[str] = set()

        def on_answer(code: str, answer: int) -> None:
            answered.add(code)
            if len(answered) >= DOSSIERS // 2:
                half.set()

        book = portal.state.hosted
        url = f"http://127.0.0.1:{inbound_port}/nps/createdossierfromdvcqg"
        pushing = asyncio.create_task(
            push_dossiers(url, TOKEN, book, count=DOSSIERS, timeout_s=120, on_answer=on_answer)
        )
        await half.wait()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        proc = await start_daemon(config, log, env)
        await wait_for_intake(port, proc)
        pushed = await pushing
        codes = sorted(book.pushed)
        assert len(codes) == DOSSIERS
        assert sorted(set(pushed.created) | set(pushed.duplicate)) == codes
        assert len(pushed.refused) == 3  # the broken bodies, refused and stored nowhere
        everything = sorted([*codes, *book.served])

        async def all_held() -> bool:
            return len(await held()) >= DOSSIERS + SERVED

        await until(all_held, "every dossier at the vendor")
        assert await held() == everything  # each exactly once, pushed or pulled

        # the portal struggles from now on: errors, throttling, answers lost after applying
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{portal.url}/_sim/faults",
                      json={"mode": "random", "failure_rate": 0.2, "seed": 5}) as response,
        ):  # fmt: skip
            assert response.status == 200

        # the local one-stop system reports their status through intake
        records = []
        for code in codes:
            records.append(record_to_json(dossier(code)))
            records.append(record_to_json(step(code, minutes=5)))
            records.append(record_to_json(step(code, minutes=9, status=DossierStatus.FINISHED)))
        intake = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
        async with aiohttp.ClientSession() as http:
            for first in range(0, len(records), 300):
                async with http.post(intake, json=records[first : first + 300]) as response:
                    assert response.status == 200
        done = portal.when(lambda: sum(len(r) for r in book.reports.values()) >= 3 * DOSSIERS)
        async with asyncio.timeout(120):
            await done.wait()
        portal_faults = await _faults(portal.url)
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0
        sample = codes[DOSSIERS // 2]  # the audit, read while the store still exists
        # the commands run their own event loop (PostgreSQL): on a thread of their own
        assert await asyncio.to_thread(main, ["audit", "verify", "--config", str(config)]) == 0
        events = await asyncio.to_thread(_timeline, sample, config)
    for code in codes:
        assert [r["TrangThai"] for r in book.reports[code]] == ["2", "4", "9"]
    assert book.out_of_order == []
    faults = portal_faults.injected
    assert sum(faults.values()) > 0, faults  # the reports went through a struggling portal
    assert not set(codes) & set(portal.state.dossiers)  # never sent with DongBoHoSoMC
    for event in ("inbound_received", "sink_delivered", "status_report_queued",
                  "status_report_delivered"):  # fmt: skip
        assert event in events, (event, events)


def _timeline(code: str, config: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", "show", code, "--config", str(config)]) == 0
    return out.getvalue()


@dataclass
class _Injected:
    injected: dict[str, int]


async def _faults(url: str) -> _Injected:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/_sim/faults") as response:
        return _Injected(dict((await response.json())["injected"]))
