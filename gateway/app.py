"""The composition root: opens every resource in order and closes them in reverse.

``Gateway.running(config)`` is one ``async with``: store, route, delivery worker, intake
server. Leaving it (on SIGTERM in the daemon) stops intake first, lets the delivery round in
flight finish within ``grace_s``, then closes the route and the store. Records still leased
when the grace period ends are released by the store at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from adapters import registry
from gateway.backpressure import Backpressure
from gateway.config import GatewayConfig, load_config
from gateway.delivery import DeliveryWorker
from gateway.errors import ConfigError
from gateway.intake import Intake, IntakeSource
from gateway.routes.dvcqg_rest import DvcqgRestRoute
from gateway.store.engines import AnyStore, open_store
from gateway.store.postgres import PostgresStore

log = structlog.get_logger("gateway.app")


@dataclass
class Gateway:
    """A running gateway; tests and the demo reach its parts through it."""

    config: GatewayConfig
    store: AnyStore
    worker: DeliveryWorker
    intake: Intake
    port: int
    """The port intake listens on (useful when the configuration asked for port 0)."""


def build_sources(config: GatewayConfig) -> dict[str, IntakeSource]:
    """Instantiate each configured source's adapter (raises ConfigError naming it)."""
    return {
        name: IntakeSource(
            name, registry.create(src.adapter, src.options, f"intake.sources.{name}"), src.token
        )
        for name, src in config.intake.sources.items()
    }


@contextlib.asynccontextmanager
async def running(
    config: GatewayConfig,
    *,
    grace_s: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Gateway]:
    """Run the whole gateway for the duration of the ``async with`` block."""
    sources = build_sources(config)
    store = await open_store(config.store, now=clock(), max_rescues=config.delivery.max_rescues)
    route = DvcqgRestRoute(config.portal)
    worker = DeliveryWorker(store, route, config.delivery, clock=clock)
    if isinstance(store, PostgresStore):
        await store.listen(worker.wake)  # records queued by any process wake this worker
    disk = config.store.path.parent if config.store.engine == "sqlite" else None
    busy = Backpressure(store, config.intake, disk, clock)
    intake = Intake(
        store, sources, config.intake, on_commit=worker.wake, clock=clock, busy=busy.reason
    )
    runner = web.AppRunner(intake.app(), access_log=None, handle_signals=False)
    stop = asyncio.Event()
    delivery_task: asyncio.Task[None] | None = None
    try:
        await runner.setup()
        site = web.TCPSite(runner, config.intake.host, config.intake.port)
        await site.start()
        port = _bound_port(runner)
        delivery_task = asyncio.create_task(worker.run(stop), name="delivery")
        log.info(
            "gateway_started",
            intake=f"http://{config.intake.host}:{port}",
            store=config.store.engine,
            portal=config.portal.base_url,
        )
        yield Gateway(config, store, worker, intake, port)
    finally:
        intake.accepting = False
        await runner.cleanup()
        stop.set()
        if delivery_task is not None:
            try:
                await asyncio.wait_for(delivery_task, grace_s)
            except TimeoutError:
                log.warning("delivery_cut_at_grace_period", grace_s=grace_s)
        await worker.route.close()
        await store.close()
        log.info("gateway_stopped")


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("intake is not listening")  # pragma: no cover


async def reload(gateway: Gateway, path: Path) -> bool:
    """SIGHUP: read the configuration again and switch intake sources (adapters, mappings),
    the route and the delivery settings without stopping. Nothing stored is touched; a bad
    file is refused (every problem logged) and the running configuration stays."""
    try:
        config = load_config(path)
        sources = build_sources(config)
    except ConfigError as exc:
        log.error("reload_refused", problems=[str(p) for p in exc.problems])
        return False
    fixed = [
        name
        for name in ("store", "logging")
        if getattr(config, name) != getattr(gateway.config, name)
    ]
    if (config.intake.host, config.intake.port) != (gateway.config.intake.host, gateway.port):
        fixed.append("intake.host/port")
    if fixed:
        log.warning("reload_needs_restart", sections=fixed)
    gateway.intake.use(sources)
    gateway.worker.use(DvcqgRestRoute(config.portal), config.delivery)
    gateway.config = config
    log.info("reloaded", sources=sorted(sources))
    return True
