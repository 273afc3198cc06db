"""The composition root: opens every resource in order and closes them in reverse.

``Gateway.running(config)`` is one ``async with``: store, route (the router over every
configured road to the portal), delivery worker, intake server, pulling sources (each a named
task, ``source:<name>``). Leaving it (on SIGTERM in the daemon) stops the pulling sources (the
batch in flight commits or not, as a whole), then intake, lets the delivery round in flight
finish within ``grace_s``, then closes the route and the store. Records still leased
when the grace period ends are released by the store at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from adapters import registry
from gateway.admin.api import AdminApi, AdminDeps
from gateway.admin.metrics import Metrics
from gateway.admin.queries import Reader
from gateway.admin.server import admin_app
from gateway.audit.archive import archive_periodically
from gateway.audit.chain import AuditPolicy, policy_from_config, seal_periodically
from gateway.audit.config_digest import config_digest
from gateway.config.loading import load_config
from gateway.config.schema import GatewayConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import ConfigError
from gateway.inbound.pulling import fetch_on
from gateway.inbound.running import Inbound, running_inbound
from gateway.inbound.transports import Delivered
from gateway.inbound.worker import Send
from gateway.indicators.f766 import compute, parse_period
from gateway.indicators.reading import histories
from gateway.model import PORTAL_TZ
from gateway.routes.router import build_router
from gateway.routes.status_report import send_status_report
from gateway.sources.backpressure import Backpressure
from gateway.sources.configured import build_pull_sources
from gateway.sources.installed import InstalledAdapters
from gateway.sources.intake import Intake, IntakeSource, portal_validator
from gateway.sources.pulling import PullLoop
from gateway.store.engines import AnyStore, open_audit_repository, open_store
from gateway.store.inbound import ClaimedJob
from gateway.store.postgres import schema as pg_schema
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite import schema as sqlite_schema

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
    sources: dict[str, PullLoop] = field(default_factory=dict)
    """The pulling sources (SQL polling, file drop) by name."""
    metrics: Metrics = field(default_factory=Metrics)
    admin: AdminApi | None = None
    admin_port: int | None = None
    """The port the admin API and console listen on (None: ``admin.enabled`` is false)."""
    on_reload: list[Callable[[GatewayConfig], None]] = field(default_factory=list)
    installed: InstalledAdapters = field(default_factory=InstalledAdapters)
    """Adapter packages installed since the start are made loadable on SIGHUP."""
    inbound: Inbound | None = None
    """Dossiers pushed down by the portal (None: ``inbound.enabled`` is false)."""


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
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[Gateway]:
    """Run the whole gateway for the duration of the ``async with`` block. Keys (audit
    signing, join hashes) come from ``environ``, by default the process environment."""
    sources = build_sources(config)
    audit = policy_from_config(config.audit, os.environ if environ is None else environ)
    store = await open_store(
        config.store, now=clock(), max_rescues=config.delivery.max_rescues, audit=audit
    )
    route = build_router(config)
    worker = DeliveryWorker(
        store, route, config.delivery, clock=clock, audit_body_bytes=audit.max_body_bytes
    )
    if isinstance(store, PostgresStore):
        await store.listen(worker.wake)  # records queued by any process wake this worker
    disk = config.store.path.parent if config.store.engine == "sqlite" else None
    busy = Backpressure(store, config.intake, disk, clock)
    validate = portal_validator(route.tables)
    intake = Intake(
        store,
        sources,
        config.intake,
        on_commit=worker.wake,
        clock=clock,
        validate=validate,
        prepare=route.tables.map_raw_status,
        busy=busy.reason,
    )
    runner = web.AppRunner(intake.app(), access_log=None, handle_signals=False)
    current: list[GatewayConfig] = [config]
    deps = _operators(current, store, worker, intake, clock)
    admin_runner: web.AppRunner | None = None
    stop = asyncio.Event()
    sources_stop = asyncio.Event()
    delivery_task: asyncio.Task[None] | None = None
    source_tasks: list[asyncio.Task[None]] = []
    sealing: asyncio.Future[Any] | None = None
    try:
        sealing = await _start_audit(store, audit, config, stop, clock)
        pulls = build_pull_sources(
            config, store, on_commit=worker.wake, clock=clock, validate=validate
        )
        await runner.setup()
        await web.TCPSite(runner, config.intake.host, config.intake.port).start()
        port = _bound_port(runner)
        admin, admin_runner, admin_port = await _start_admin(config, deps)
        delivery_task = asyncio.create_task(worker.run(stop), name="delivery")
        source_tasks = [
            asyncio.create_task(loop.run(sources_stop), name=f"source:{name}")
            for name, loop in pulls.items()
        ]
        log.info(
            "gateway_started",
            intake=f"http://{config.intake.host}:{port}",
            store=config.store.engine,
            portal=config.portal.base_url,
        )
        gateway = Gateway(
            config, store, worker, intake, port, pulls, deps.metrics, admin, admin_port,
            on_reload=[lambda new: current.__setitem__(0, new)],
        )  # fmt: skip
        async with running_inbound(
            config.inbound,
            store.inbound,
            report=_reporter(worker),
            owner=worker.owner,
            fetch=fetch_on(lambda: worker.route, config.inbound.pull.agency),
            note=store.note,
            clock=clock,
            grace_s=grace_s,
        ) as gateway.inbound:
            yield gateway
    finally:
        deps.draining = True  # /healthz and /readyz answer 503 from now on
        sources_stop.set()
        await _stop_sources(source_tasks, grace_s)
        intake.accepting = False
        await runner.cleanup()
        stop.set()
        await _stop_delivery(delivery_task, grace_s)
        await worker.route.close()
        if admin_runner is not None:
            await admin_runner.cleanup()
        if sealing is not None:
            await sealing
        await _close_store(store, worker.owner, clock)
        log.info("gateway_stopped")


def _reporter(worker: DeliveryWorker) -> Send:
    """Status reports of portal-hosted dossiers go on the worker's current road (a reload may
    change it)."""

    async def report(job: ClaimedJob) -> Delivered:
        sent = await send_status_report(worker.route, job.payload)
        return Delivered({"http_status": sent.http_status, "portal_code": sent.portal_code})

    return report


async def _close_store(store: AnyStore, owner: str, clock: Callable[[], float]) -> None:
    """Hand back the leases of a round cut at the grace period (another process, or the next
    start, takes them at once), sign the audit head, close."""
    try:
        released = await store.release(owner, clock())
        if released:
            log.info("leases_released", records=released, owner=owner)
        await store.seal_audit(clock())  # no entry of this run stays unsigned
    finally:
        await store.close()


async def _stop_delivery(task: asyncio.Task[None] | None, grace_s: float) -> None:
    """Let the delivery round in flight finish within the grace period."""
    if task is None:
        return
    try:
        await asyncio.wait_for(task, grace_s)
    except TimeoutError:
        log.warning("delivery_cut_at_grace_period", grace_s=grace_s)


async def _stop_sources(tasks: list[asyncio.Task[None]], grace_s: float) -> None:
    """Let each source finish its batch in flight (reverse start order), then cancel."""
    for task in reversed(tasks):
        try:
            await asyncio.wait_for(task, grace_s)
        except TimeoutError:
            log.warning("source_cut_at_grace_period", task=task.get_name(), grace_s=grace_s)


async def _start_audit(
    store: AnyStore,
    audit: AuditPolicy,
    config: GatewayConfig,
    stop: asyncio.Event,
    clock: Callable[[], float],
) -> asyncio.Future[Any]:
    """Audit the configuration this run starts with; seal and archive in the background."""
    await store.audit_system(
        "config_loaded",
        {
            "config_digest": config_digest(config),
            "signing_key_id": audit.signer.key_id if audit.signer else "",
        },
        now=clock(),
    )
    return asyncio.gather(
        seal_periodically(store.seal_audit, audit.checkpoint_every_s, stop, clock),
        _retention(config, stop, clock),
    )


async def _retention(
    config: GatewayConfig, stop: asyncio.Event, clock: Callable[[], float]
) -> None:
    """Move old audit entries to archive files every ``audit.archive_every_s`` (0: never).

    On PostgreSQL every process sharing the database runs this. The writable repository holds
    the database's one archive lock for the whole run (see ``gateway/store/postgres/audit.py``), so
    two processes never archive the same range: the one that finds the lock taken skips the
    round. The processes must share one ``audit.archive_dir``, where the files are found."""
    if config.audit.archive_every_s <= 0:
        return
    await archive_periodically(
        lambda: open_audit_repository(config.store, writable=True),
        config.audit.archive_dir,
        retention_s=config.audit.retention_days * 86400,
        interval_s=config.audit.archive_every_s,
        stop=stop,
        clock=clock,
    )


def _operators(
    current: list[GatewayConfig],
    store: AnyStore,
    worker: DeliveryWorker,
    intake: Intake,
    clock: Callable[[], float],
) -> AdminDeps:
    """Metrics fed by the worker and intake, and what the admin API reads (``current[0]`` is
    the configuration in force: a reload replaces it)."""
    metrics = Metrics(clock)
    worker.observers.append(metrics.observe_call)
    intake.observers.append(metrics.observe_intake)
    return AdminDeps(
        config=lambda: current[0],
        store=store,
        reader=Reader(store, numbered=isinstance(store, PostgresStore), clock=clock),
        worker=worker,
        metrics=metrics,
        open_audit=lambda: open_audit_repository(current[0].store),
        schema_current=lambda: schema_current(store),
        indicators=lambda: month_indicators(store, clock),
        clock=clock,
    )


async def _start_admin(
    config: GatewayConfig, deps: AdminDeps
) -> tuple[AdminApi | None, web.AppRunner | None, int | None]:
    """The admin listener, when ``admin.enabled``."""
    if not config.admin.enabled:
        return None, None, None
    app, api = admin_app(deps)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.admin.host, config.admin.port).start()
    log.info("admin_started", admin=f"http://{config.admin.host}:{_bound_port(runner)}")
    return api, runner, _bound_port(runner)


async def schema_current(store: AnyStore) -> bool:
    """Whether the store's schema is at the version this code expects."""
    if isinstance(store, PostgresStore):
        rows = await store.query("SELECT MAX(version) FROM schema_migrations")
        return rows[0][0] is not None and int(rows[0][0]) == pg_schema.LATEST
    rows = await store.query("SELECT value FROM meta WHERE key = 'schema_version'")
    return bool(rows) and int(rows[0][0]) == sqlite_schema.SCHEMA_VERSION


async def month_indicators(
    store: AnyStore, clock: Callable[[], float]
) -> list[tuple[str, float | None, float | None]]:
    """The Decision 766 figures of the current month, for the metrics."""
    now = datetime.fromtimestamp(clock(), PORTAL_TZ)
    period = parse_period(now.strftime("%Y-%m"))
    table = compute(await histories(store), period, as_of=now)
    return [(i.code, i.ratio if i.value is None else i.value, i.points) for i in table]


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("intake is not listening")  # pragma: no cover


ADAPTER_HINT = (
    "an adapter installed while the gateway runs is loaded on SIGHUP; if it is still not "
    "found or fails to load (installed into another environment, or it replaced a module "
    "already imported), restart the gateway"
)


async def reload(gateway: Gateway, path: Path) -> bool:
    """SIGHUP: read the configuration again and switch intake sources (adapters, mappings),
    the route and the delivery settings without stopping. Nothing stored is touched; a bad
    file is refused (every problem logged) and the running configuration stays. Adapter
    packages installed since the start (also ``pip install -e``) are looked for first."""
    added = gateway.installed.refresh()
    if added:
        log.info("adapter_packages_found", path_files=added)
    try:
        config = load_config(path)
        sources = build_sources(config)
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems]
        if any(".adapter:" in p or ".options:" in p for p in problems):
            log.error("reload_refused", problems=problems, hint=ADAPTER_HINT)
        else:
            log.error("reload_refused", problems=problems)
        return False
    fixed = [
        name
        for name in ("store", "logging")
        if getattr(config, name) != getattr(gateway.config, name)
    ]
    if (config.intake.host, config.intake.port) != (
        gateway.config.intake.host,
        gateway.port,
    ):
        fixed.append("intake.host/port")
    if fixed:
        log.warning("reload_needs_restart", sections=fixed)
    try:
        route = build_router(config)
    except ConfigError as exc:
        log.error("reload_refused", problems=[str(p) for p in exc.problems])
        return False
    gateway.intake.use(
        sources, validate=portal_validator(route.tables), prepare=route.tables.map_raw_status
    )
    gateway.worker.use(route, config.delivery)
    gateway.config = config
    for listener in gateway.on_reload:
        listener(config)
    if gateway.admin is not None:
        gateway.admin.reload()
    await gateway.store.audit_system(
        "config_reloaded",
        {"config_digest": config_digest(config), "path": str(path)},
        now=time.time(),
    )
    log.info("reloaded", sources=sorted(sources))
    return True
