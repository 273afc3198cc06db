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
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from adapters import registry
from gateway.admin.api import AdminApi, AdminDeps
from gateway.admin.metrics import Metrics
from gateway.admin.queries import Reader
from gateway.admin.server import admin_app
from gateway.audit.archive import archive_periodically
from gateway.audit.chain import AuditPolicy, policy_from_config, seal_periodically
from gateway.audit.config_digest import config_digest
from gateway.catalogue.sync import current_snapshot
from gateway.config.loading import load_config
from gateway.config.schema import GatewayConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.encoders.mapping import MappingTables
from gateway.errors import ConfigError, StoreLostError
from gateway.inbound.pulling import fetch_on
from gateway.inbound.running import Inbound, running_inbound
from gateway.inbound.transports import Delivered
from gateway.inbound.worker import Send
from gateway.indicators.f766 import ProcedureFacts, compute, parse_period
from gateway.indicators.reading import (
    catalogue_facts,
    histories,
    merged_facts,
    procedure_facts,
)
from gateway.model import PORTAL_TZ
from gateway.routes.router import build_router
from gateway.routes.status_report import send_status_report
from gateway.sources.backpressure import Backpressure
from gateway.sources.configured import build_pull_sources, record_rules
from gateway.sources.installed import InstalledAdapters
from gateway.sources.intake import Intake, IntakeSource
from gateway.sources.listener import IntakeListener
from gateway.sources.pulling import PullLoop
from gateway.store.contract import Validate
from gateway.store.engines import AnyStore, open_audit_repository, open_store
from gateway.store.inbound import ClaimedJob
from gateway.store.postgres import schema as pg_schema
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite import schema as sqlite_schema
from gateway.store.sqlite.presence import check_present
from gateway.two_way import daily_catalogue, intake_validator, nightly_reconcile

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
    listener: IntakeListener
    """Intake's server and its connection guard (counters for tests and the demo)."""
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
    new_store: bool = False,
) -> AsyncIterator[Gateway]:
    """Run the whole gateway for the duration of the ``async with`` block. Keys (audit
    signing, join hashes) come from ``environ``, by default the process environment.
    ``new_store``: create a SQLite database even where an anchor or audit archives show a
    store existed (``run --new-store``); otherwise that refuses to start."""
    sources = build_sources(config)
    audit = policy_from_config(config.audit, os.environ if environ is None else environ)
    replaced = _store_present(config, new_store=new_store)
    store = await open_store(
        config.store, now=clock(), max_rescues=config.delivery.max_rescues, audit=audit
    )
    route = build_router(config)
    worker = DeliveryWorker(
        store, route, config.delivery, clock=clock, audit_body_bytes=audit.max_body_bytes
    )
    if isinstance(store, PostgresStore):
        await store.listen(worker.wake)  # records queued by any process wake this worker
    validate = await intake_validator(config, store, route.tables)
    intake = _intake(config, store, worker, sources, clock, validate, route.tables)
    listener = IntakeListener(intake.app(), config.intake)
    current: list[GatewayConfig] = [config]
    deps = _operators(current, store, worker, intake, clock)
    admin_listener: IntakeListener | None = None
    stop = asyncio.Event()
    sources_stop = asyncio.Event()
    delivery_task: asyncio.Task[None] | None = None
    source_tasks: list[asyncio.Task[None]] = []
    sealing: asyncio.Future[Any] | None = None
    try:
        sealing = asyncio.gather(
            await _start_audit(store, audit, config, stop, clock, replaced),
            daily_catalogue(config, store, worker, intake, stop),
            nightly_reconcile(config, store, worker, stop),
        )
        pulls = build_pull_sources(
            config, store, on_commit=worker.wake, clock=clock, validate=validate
        )
        await listener.start()
        port = listener.port
        admin, admin_listener = await _start_admin(config, deps)
        admin_port = admin_listener.port if admin_listener is not None else None
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
            config,
            store,
            worker,
            intake,
            port,
            listener,
            pulls,
            metrics=deps.metrics,
            admin=admin,
            admin_port=admin_port,
            on_reload=[lambda new: current.__setitem__(0, new)],
        )
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
        await listener.stop()
        stop.set()
        await _stop_delivery(delivery_task, grace_s)
        await worker.route.close()
        if admin_listener is not None:
            await admin_listener.stop()
        if sealing is not None:
            await sealing
        await _close_store(store, worker.owner, clock)
        log.info("gateway_stopped")


def _intake(
    config: GatewayConfig,
    store: AnyStore,
    worker: DeliveryWorker,
    sources: Mapping[str, IntakeSource],
    clock: Callable[[], float],
    validate: Validate,
    tables: MappingTables,
) -> Intake:
    """Intake with its backpressure, the portal's checks (mapping tables, contracts) and the
    input rules; every commit wakes the delivery worker."""
    disk = config.store.path.parent if config.store.engine == "sqlite" else None
    busy = Backpressure(store, config.intake, disk, clock)
    return Intake(
        store,
        sources,
        config.intake,
        on_commit=worker.wake,
        clock=clock,
        validate=validate,
        prepare=tables.map_raw_status,
        busy=busy.reason,
        rules=record_rules(config.input),
        max_depth=config.input.max_json_depth,
    )


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
    except StoreLostError:
        pass  # the file is gone or replaced (logged once as store_file_lost): nothing to seal
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


def _store_present(config: GatewayConfig, *, new_store: bool) -> dict[str, Any] | None:
    """SQLite: refuse to create a missing database where a store existed (see
    :func:`~gateway.store.sqlite.presence.check_present`); what showed it, if allowed."""
    if config.store.engine != "sqlite":
        return None
    return check_present(config.store.path, config.audit.archive_dir, new_store=new_store)


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
    replaced: dict[str, Any] | None = None,
) -> asyncio.Future[Any]:
    """Audit the configuration this run starts with (and a store begun anew in place of
    one that existed: what showed it); seal and archive in the background."""
    if replaced is not None:
        log.warning("store_started_new", path=str(config.store.path), **replaced)
        await store.audit_system("store_started_new", replaced, now=clock())
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
        indicators=lambda: month_indicators(store, clock, current[0]),
        histories=lambda: histories(store),
        facts=lambda: indicator_facts(store, current[0]),
        clock=clock,
    )


ADMIN_MAX_CONNECTIONS = 32
"""Operators are few: the admin listener keeps few connections (and the intake's head and
body deadlines), so a flood of it cannot take descriptors from intake."""


async def _start_admin(
    config: GatewayConfig, deps: AdminDeps
) -> tuple[AdminApi | None, IntakeListener | None]:
    """The admin listener, when ``admin.enabled``: the same guarded server as intake."""
    if not config.admin.enabled:
        return None, None
    app, api = admin_app(deps)
    settings = replace(
        config.intake,
        host=config.admin.host,
        port=config.admin.port,
        max_connections=ADMIN_MAX_CONNECTIONS,
        backlog=ADMIN_MAX_CONNECTIONS // 2,
    )
    listener = IntakeListener(app, settings)
    await listener.start()
    log.info("admin_started", admin=f"http://{config.admin.host}:{listener.port}")
    return api, listener


async def schema_current(store: AnyStore) -> bool:
    """Whether the store's schema is at the version this code expects."""
    if isinstance(store, PostgresStore):
        rows = await store.query("SELECT MAX(version) FROM schema_migrations")
        return rows[0][0] is not None and int(rows[0][0]) == pg_schema.LATEST
    rows = await store.query("SELECT value FROM meta WHERE key = 'schema_version'")
    return bool(rows) and int(rows[0][0]) == sqlite_schema.SCHEMA_VERSION


async def indicator_facts(store: AnyStore, config: GatewayConfig) -> dict[str, ProcedureFacts]:
    """The synced catalogue's facts first (issue 16), ``indicators.procedures`` for the rest."""
    synced = catalogue_facts(await current_snapshot(store))
    return merged_facts(procedure_facts(config), synced)


async def month_indicators(
    store: AnyStore, clock: Callable[[], float], config: GatewayConfig
) -> list[tuple[str, float | None, float | None]]:
    """The Decision 766 figures of the current month, for the metrics."""
    now = datetime.fromtimestamp(clock(), PORTAL_TZ)
    period = parse_period(now.strftime("%Y-%m"))
    facts = await indicator_facts(store, config)
    points = dict(config.indicators.points)
    found = await histories(store)
    table = compute(found, period, as_of=now, procedures=facts, points=points)
    return [(i.code, i.ratio if i.value is None else i.value, i.points) for i in table]


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
        for name in ("store", "logging", "input")
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
        sources,  # a catalogue synced since the start counts from now
        validate=await intake_validator(config, gateway.store, route.tables),
        prepare=route.tables.map_raw_status,
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
