"""The four roads to the portal, against one simulator: configuration for each, and an
in-process rig (real worker, real route, real SQLite store, simulator on loopback, fake clock).

Every road reaches the same simulated portal (``/mapi``, the X-Road REST forwarder, the
X-Road SOAP security server, the LGSP), so one portal state shows what each road delivered.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.config.schema import (
    DeliveryConfig,
    GatewayConfig,
    LgspConfig,
    PortalConfig,
    RoutesConfig,
    XRoadMemberConfig,
    XRoadRestConfig,
    XRoadSoapConfig,
)
from gateway.delivery.worker import DeliveryWorker
from gateway.routes.router import RouterRoute, build_router
from gateway.simulator.faults import FAULTS_KEY, Faults
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore

ROUTES = ("dvcqg-rest", "xroad-rest", "xroad-soap", "lgsp")


def routes_section(route: str, portal_url: str) -> dict[str, Any]:
    """The ``routes`` configuration section that sends every agency by ``route``."""
    return {
        "default": route,
        "xroad_rest": {"forwarder_url": portal_url},
        "xroad_soap": {
            "security_server_url": f"{portal_url}/xroad",
            "client": {"member_code": "000.00.00.H56", "subsystem_code": "motcua"},
        },
        "lgsp": {
            "base_url": f"{portal_url}/lgsp",
            "consumer_key": "lgsp-demo-key",
            "consumer_secret": "lgsp-demo-secret",
        },
    }


def gateway_config(route: str, portal: PortalConfig) -> GatewayConfig:
    url = portal.base_url
    routes = RoutesConfig(
        default=route,  # type: ignore[arg-type]
        xroad_rest=XRoadRestConfig(forwarder_url=url),
        xroad_soap=XRoadSoapConfig(
            security_server_url=f"{url}/xroad",
            client=XRoadMemberConfig(member_code="000.00.00.H56", subsystem_code="motcua"),
        ),
        lgsp=LgspConfig(
            base_url=f"{url}/lgsp", consumer_key="lgsp-demo-key", consumer_secret="lgsp-demo-secret"
        ),
    )
    return GatewayConfig(portal=portal, routes=routes)


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class WireRig:
    store: SqliteStore
    worker: DeliveryWorker
    route: RouterRoute
    faults: Faults
    state: PortalState
    clock: FakeClock

    async def accept(self, *records: Any) -> None:
        items = [Incoming("t", r, f"{self.clock()}-{i}") for i, r in enumerate(records)]
        await self.store.accept(items, now=self.clock(), validate=validate_for_portal)

    async def states(self) -> dict[str, int]:
        rows = await self.store.query("SELECT state, COUNT(*) FROM records GROUP BY state")
        return {str(state): int(n) for state, n in rows}

    async def rounds(self, n: int, step_s: float = 1_000.0) -> None:
        """``n`` worker rounds, the fake clock moved past every backoff between them."""
        for _ in range(n):
            await self.worker.run_once()
            self.clock.now += step_s

    def strict(self) -> dict[str, Any]:
        report: dict[str, Any] = self.state.snapshot()["strict"]
        return report


@asynccontextmanager
async def wire_rig(
    tmp_path: Path,
    route: str,
    delivery: DeliveryConfig,
    settings: SimulatorSettings | None = None,
    **portal: Any,
) -> AsyncIterator[WireRig]:
    app = create_app(settings or SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    portal_config = PortalConfig(
        base_url=f"http://127.0.0.1:{port}",
        username="simulator",
        password="simulator",
        timeout_s=5.0,
        **portal,
    )
    clock = FakeClock()
    store = await SqliteStore.open(tmp_path / "gw.db", now=clock())
    router = build_router(gateway_config(route, portal_config))
    worker = DeliveryWorker(
        store, router, delivery, clock=clock, rng=random.Random(4), sleep=clock.sleep
    )
    try:
        yield WireRig(store, worker, router, app[FAULTS_KEY], app[STATE_KEY], clock)
    finally:
        await router.close()
        await store.close()
        await runner.cleanup()
