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
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from adapters import registry
from gateway.audit.archive import archive_periodically
from gateway.audit.chain import AuditPolicy, policy_from_config, seal_periodically
from gateway.config.loading import load_config
from gateway.config.schema import GatewayConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import ConfigError, StoreLostError
from gateway.routes.router import build_router
from gateway.sources.backpressure import Backpressure
from gateway.sources.configured import build_pull_sources
from gateway.sources.intake import Intake, IntakeSource, portal_validator
from gateway.sources.listener import IntakeListener
from gateway.sources.pulling import PullLoop
from gateway.store.engines import AnyStore, open_audit_repository, open_store
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.presence import check_present

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
    listener = IntakeListener(intake.app(), config.intake)
    stop = asyncio.Event()
    sources_stop = asyncio.Event()
    delivery_task: asyncio.Task[None] | None = None
    source_tasks: list[asyncio.Task[None]] = []
    sealing: asyncio.Future[Any] | None = None
    try:
        sealing = await _start_audit(store, audit, config, stop, clock, replaced)
        pulls = build_pull_sources(
            config, store, on_commit=worker.wake, clock=clock, validate=validate
        )
        await listener.start()
        port = listener.port
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
        yield Gateway(config, store, worker, intake, port, listener, pulls)
    finally:
        sources_stop.set()
        await _stop_sources(source_tasks, grace_s)
        intake.accepting = False
        await listener.stop()
        stop.set()
        if delivery_task is not None:
            try:
                await asyncio.wait_for(delivery_task, grace_s)
            except TimeoutError:
                log.warning("delivery_cut_at_grace_period", grace_s=grace_s)
        await worker.route.close()
        if sealing is not None:
            await sealing
        await _close_store(store, worker.owner, clock)
        log.info("gateway_stopped")


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
            "config_digest": hashlib.sha256(repr(config).encode()).hexdigest(),
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
    await gateway.store.audit_system(
        "config_reloaded",
        {"config_digest": hashlib.sha256(repr(config).encode()).hexdigest(), "path": str(path)},
        now=time.time(),
    )
    log.info("reloaded", sources=sorted(sources))
    return True
