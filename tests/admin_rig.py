"""A whole gateway with its admin listener, against the portal simulator, in the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.app import Gateway, running
from gateway.config.schema import AdminConfig, AdminToken, DeliveryConfig, GatewayConfig
from gateway.demo import demo_config
from gateway.simulator.faults import FAULTS_KEY, Faults
from gateway.simulator.portal import SimulatorSettings, create_app

TOKENS = {
    "viewer": "viewer-token-0123456789",
    "operator": "operator-token-0123456789",
    "admin": "admin-token-0123456789abc",
}


@dataclass
class AdminRig:
    gateway: Gateway
    faults: Faults
    admin_url: str
    intake_url: str
    config: GatewayConfig

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}"}

    async def push(self, http: aiohttp.ClientSession, records: list[dict[str, Any]]) -> Any:
        async with http.post(self.intake_url, json=records) as response:
            assert response.status == 200, await response.text()
            return await response.json()


@asynccontextmanager
async def admin_gateway(
    tmp_path: Path, *, delivery: DeliveryConfig | None = None, **admin: Any
) -> AsyncIterator[AdminRig]:
    portal = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
    await portal.setup()
    await web.TCPSite(portal, "127.0.0.1", 0).start()
    port = next(a[1] for a in portal.addresses if isinstance(a, tuple))
    base = demo_config(tmp_path, f"http://127.0.0.1:{port}")
    config = replace(
        base,
        delivery=delivery or base.delivery,
        admin=AdminConfig(
            enabled=True,
            port=0,
            tokens={
                f"{role}-1": AdminToken(role=role, token=token)  # type: ignore[arg-type]
                for role, token in TOKENS.items()
            },
            **admin,
        ),
    )
    try:
        async with running(config, environ={}) as gateway:
            yield AdminRig(
                gateway,
                portal.app[FAULTS_KEY],
                f"http://127.0.0.1:{gateway.admin_port}",
                f"http://127.0.0.1:{gateway.port}/api/v1/intake/canonical",
                config,
            )
    finally:
        await portal.cleanup()
