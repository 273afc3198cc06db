"""Delivery attempts in the audit log and in the logs, against the portal simulator on loopback.

The simulator sits behind a switch that answers HTTP 503 while the portal is "down"; it also
keeps the exact bytes of every message, so the audited request digest can be checked
against what really arrived.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway import logs
from gateway.audit.chain import AuditEntry, verify_log
from gateway.config.schema import DeliveryConfig, PortalConfig, RetryConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.routes.dvcqg_rest import DvcqgRestRoute
from gateway.simulator.portal import SimulatorSettings, create_app
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore
from tests.audit_support import SIGNER, policy
from tests.factories import dossier

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PERSONAL = ("0912345678", "tuyet.nguyen@example.vn", "038190012345")


@dataclass
class SwitchedPortal:
    url: str = ""
    down: bool = False
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
async def portal() -> AsyncIterator[SwitchedPortal]:
    switched = SwitchedPortal()
    app = create_app(SimulatorSettings())

    @web.middleware
    async def switch(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/mapi/g":
            switched.bodies.append(await request.read())
            if switched.down:
                return web.Response(status=503, text="bảo trì")
        return await handler(request)

    app.middlewares.append(switch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    switched.url = f"http://127.0.0.1:{port}"
    yield switched
    await runner.cleanup()


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_attempts_are_audited_and_outages_logged_on_transitions(
    tmp_path: Path, portal: SwitchedPortal
) -> None:
    stream = io.StringIO()
    logs.configure("json", "DEBUG", stream=stream)
    clock = [100.0]
    store = await SqliteStore.open(tmp_path / "gw.db", now=clock[0], audit=policy())
    route = DvcqgRestRoute(
        PortalConfig(base_url=portal.url, username="simulator", password="simulator")
    )
    config = DeliveryConfig(retry=RetryConfig(base_delay_s=1, max_delay_s=2))
    worker = DeliveryWorker(store, route, config, clock=lambda: clock[0])
    try:
        codes = [f"000.00.00.H56-261102-0000{i}" for i in range(3)]
        items = [Incoming("canonical", dossier(code), f"raw-{code}") for code in codes]
        await store.accept(items, now=clock[0], validate=validate_for_portal)
        portal.down = True
        for _ in range(2):  # two failing rounds: one transition
            assert await worker.run_once() == 3
            clock[0] += 10
        portal.down = False
        assert await worker.run_once() == 3
        entries = await store.audit_entries()
        checkpoints = await store.audit_checkpoints()
    finally:
        await route.close()
        await store.close()
        logs.reset()

    report = verify_log(entries, checkpoints, public_key=SIGNER.public, max_gap=10)
    assert report.ok, report.finding
    attempts = [e for e in entries if e.event == "attempt"]
    assert len(attempts) == 9
    failed = [e.detail for e in attempts if e.detail["outcome"] == "retry"]
    assert {(d["http_status"], d["message"]) for d in failed} == {(503, "portal answered HTTP 503")}
    # Each attempt names the exact bytes of the portal call that carried it (one call may
    # carry several records; look-ups after an ambiguous failure are calls of their own).
    assert {e.detail["request_digest"] for e in attempts} <= {
        hashlib.sha256(body).hexdigest() for body in portal.bodies
    }
    assert_masked_bodies(attempts)
    assert any(e.detail["request_items"] == 3 for e in attempts)  # one call carried all three
    transitions = [e.event for e in entries if e.record_id == 1 and e.event != "attempt"]
    assert transitions == [
        "received",
        "translated",
        "queued",
        "leased",
        "retry_scheduled",
        "leased",
        "retry_scheduled",
        "leased",
        "delivered",
    ]

    lines = events(stream)
    names = [line["event"] for line in lines]
    assert names.count("portal_unavailable") == 1
    assert names.count("portal_recovered") == 1
    assert names.index("portal_unavailable") < names.index("portal_recovered")
    routed = [line for line in lines if line["logger"] == "gateway.routes.dvcqg_rest"]
    assert routed, "the route logged nothing"
    assert all("ma_ho_so" in line for line in routed)  # per-record context reaches the route
    assert not [p for p in PERSONAL if p in stream.getvalue()]


def assert_masked_bodies(attempts: list[AuditEntry]) -> None:
    for entry in attempts:
        body = entry.detail["request_body"]
        assert not [p for p in PERSONAL if p in body], body
        sent = json.loads(body)
        assert sent["session"] == "<redacted>"
        # one portal call may carry several records: each entry keeps its own items only
        assert {item["MaHoSo"] for item in sent["data"]} == {entry.dossier_code}
        assert entry.detail["request_items"] >= len(sent["data"])
        for item in sent["data"]:
            assert item["SoDienThoai"].startswith("<personal")
            assert item["Email"].startswith("<personal")
            assert item["ChuHoSo"].startswith("<personal")
