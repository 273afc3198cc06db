"""The daemon's side of issue 16 (two-way with the portal), composed here so the composition
root (:mod:`gateway.app`) only calls it: the intake check against the latest synced national
catalogue, the optional daily catalogue sync and the optional nightly reconciliation sweep."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from datetime import datetime, timedelta

import structlog

from gateway.catalogue.checks import with_catalogue
from gateway.catalogue.daily import reconcile_nightly, sync_daily, waiting_on
from gateway.catalogue.reconcile import reconcile
from gateway.catalogue.sync import SyncReport, calling_agency, current_snapshot, sync_catalogue
from gateway.config.schema import GatewayConfig
from gateway.delivery.ratelimit import RateLimit
from gateway.delivery.worker import DeliveryWorker
from gateway.encoders.mapping import MappingTables
from gateway.errors import ConfigError, GatewayError
from gateway.model import PORTAL_TZ
from gateway.routes.router import RouterRoute
from gateway.sources.intake import Intake, portal_validator
from gateway.store.contract import Validate
from gateway.store.engines import AnyStore

log = structlog.get_logger("gateway.two_way")


async def intake_validator(
    config: GatewayConfig, store: AnyStore, tables: MappingTables
) -> Validate:
    """The intake check: the mapping tables and the contract, preceded by the latest synced
    national catalogue if there is one: unknown codes are quarantined with suggestions; a
    store never synced changes nothing."""
    catalogue = await current_snapshot(store) if config.catalogue.check_at_intake else None
    return with_catalogue(portal_validator(tables), tables, catalogue)


async def daily_catalogue(
    config: GatewayConfig,
    store: AnyStore,
    worker: DeliveryWorker,
    intake: Intake,
    stop: asyncio.Event,
) -> None:
    """``catalogue.daily_sync``: sync the national catalogue once a day over the running
    route until ``stop``; a new version is checked at intake at once
    (:mod:`gateway.catalogue.daily`)."""
    if not config.catalogue.daily_sync:
        return
    try:
        agency = calling_agency(config, "")
    except ConfigError as exc:
        log.error("catalogue_daily_sync_off", problems=[str(p) for p in exc.problems])
        return
    limiter = RateLimit(config.catalogue.rate_per_s, time.monotonic)

    async def run() -> SyncReport:
        return await sync_catalogue(
            _router(worker), store, agency=agency, clock=time.time, limiter=limiter,
            max_details=config.catalogue.max_details,
        )  # fmt: skip

    async def on_stored() -> None:
        intake.use(validate=await intake_validator(config, store, _router(worker).tables))

    first = config.catalogue.daily_first_after_s
    # a sync cut short by the stop keeps the details it fetched: the next one resumes
    await _until(stop, sync_daily(run, on_stored, wait=waiting_on(stop), first_after_s=first))


async def nightly_reconcile(
    config: GatewayConfig, store: AnyStore, worker: DeliveryWorker, stop: asyncio.Event
) -> None:
    """``catalogue.nightly_reconcile``: every night at ``reconcile_at_hour`` (portal time),
    reconcile the dossiers acknowledged in the last ``reconcile_days``; ``fix`` queues what is
    missing or behind. Each sweep is audited ``reconciled`` with its counts."""
    mode = config.catalogue.nightly_reconcile
    if mode == "off":
        return
    limiter = RateLimit(config.catalogue.rate_per_s, time.monotonic)

    async def sweep() -> int:
        route = _router(worker)
        now = time.time()
        report = await reconcile(
            store, route, route.tables, since=now - config.catalogue.reconcile_days * 86400,
            until=None, progress_service=config.portal.progress_lookup_service,
            fix=mode == "fix", by="daemon (nightly)", clock=time.time, limiter=limiter,
        )  # fmt: skip
        detail = {"by": "daemon (nightly)", "checked": report.checked, "counts": report.counts()}
        await store.audit_system(
            "reconciled", {**detail, "requeued": len(report.requeued)}, now=now
        )
        if report.requeued:
            worker.wake()
        return len(report.drifts)

    first = seconds_until(time.time(), config.catalogue.reconcile_at_hour)
    await _until(stop, reconcile_nightly(sweep, wait=waiting_on(stop), first_after_s=first))


def seconds_until(now: float, hour: int) -> float:
    """Seconds from ``now`` to the next ``hour``:00 portal time (a day when it is that now)."""
    at = datetime.fromtimestamp(now, PORTAL_TZ)
    target = at.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= at:
        target += timedelta(days=1)
    return target.timestamp() - now


def _router(worker: DeliveryWorker) -> RouterRoute:
    route = worker.route
    if not isinstance(route, RouterRoute):  # pragma: no cover - the daemon builds one
        raise GatewayError("the delivery route cannot ask the portal's sharing services")
    return route


async def _until(stop: asyncio.Event, work: Awaitable[None]) -> None:
    """Run ``work`` until it ends or ``stop`` is set (then cancel it)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
