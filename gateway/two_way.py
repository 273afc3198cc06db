"""The daemon's side of issue 16 (two-way with the portal), composed here so the composition
root (:mod:`gateway.app`) only calls it: the intake check against the latest synced national
catalogue, and the optional daily catalogue sync."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog

from gateway.catalogue.checks import with_catalogue
from gateway.catalogue.daily import sync_daily, waiting_on
from gateway.catalogue.sync import SyncReport, calling_agency, current_snapshot, sync_catalogue
from gateway.config.schema import GatewayConfig
from gateway.delivery.ratelimit import RateLimit
from gateway.delivery.worker import DeliveryWorker
from gateway.encoders.mapping import MappingTables
from gateway.errors import ConfigError, GatewayError
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

    def router() -> RouterRoute:
        route = worker.route
        if not isinstance(route, RouterRoute):  # pragma: no cover - the daemon builds one
            raise GatewayError("the delivery route cannot ask the portal's sharing services")
        return route

    async def run() -> SyncReport:
        return await sync_catalogue(
            router(), store, agency=agency, clock=time.time, limiter=limiter,
            max_details=config.catalogue.max_details,
        )  # fmt: skip

    async def on_stored() -> None:
        intake.use(validate=await intake_validator(config, store, router().tables))

    first = config.catalogue.daily_first_after_s
    daily = asyncio.ensure_future(
        sync_daily(run, on_stored, wait=waiting_on(stop), first_after_s=first)
    )
    await stop.wait()
    daily.cancel()  # a sync cut short keeps the details it fetched: the next one resumes
    with contextlib.suppress(asyncio.CancelledError):
        await daily
