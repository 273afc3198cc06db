"""The daemon's daily work: the catalogue sync (``catalogue.daily_sync``) and the nightly
reconciliation sweep (``catalogue.nightly_reconcile``), both off by default.

The first run comes ``first_after_s`` after the start (not at once: a restart loop must not
hammer the portal), then every ``every_s``. A run stopped by ``catalogue.max_details`` is
resumed ``resume_after_s`` later; a failed run (portal down, store busy) is logged and tried
again ``retry_after_s`` later, and never stops the daemon. When a run stores a new version,
``on_stored`` lets intake check against it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from gateway.catalogue.sync import SyncReport
from gateway.errors import GatewayError

log = structlog.get_logger("gateway.catalogue")

DAY_S = 86400.0
HOUR_S = 3600.0


def waiting_on(stop: asyncio.Event) -> Callable[[float], Awaitable[bool]]:
    """``wait(seconds)``: True as soon as ``stop`` is set, False when the time is up."""

    async def wait(seconds: float) -> bool:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    return wait


async def sync_daily(
    run: Callable[[], Awaitable[SyncReport]],
    on_stored: Callable[[], Awaitable[None]],
    *,
    wait: Callable[[float], Awaitable[bool]],
    first_after_s: float = HOUR_S,
    every_s: float = DAY_S,
    resume_after_s: float = 60.0,
    retry_after_s: float = HOUR_S,
) -> None:
    """Sync until ``wait`` says stop (see the module docstring)."""
    delay = first_after_s
    while not await wait(delay):
        try:
            report = await run()
        except GatewayError as exc:
            log.warning("catalogue_sync_failed", error=str(exc), retry_after_s=retry_after_s)
            delay = retry_after_s
            continue
        log.info(
            "catalogue_synced" if report.complete else "catalogue_sync_paused",
            version=report.version,
            stored=report.stored,
            remaining=report.remaining,
            **report.summary(),
        )
        if report.stored:
            await on_stored()
        delay = every_s if report.complete else resume_after_s


async def reconcile_nightly(
    sweep: Callable[[], Awaitable[int]],
    *,
    wait: Callable[[float], Awaitable[bool]],
    first_after_s: float,
    every_s: float = DAY_S,
    retry_after_s: float = HOUR_S,
) -> None:
    """Run ``sweep`` (it returns the drift it found) until ``wait`` says stop; a failed sweep
    is logged and tried again ``retry_after_s`` later."""
    delay = first_after_s
    while not await wait(delay):
        try:
            drift = await sweep()
        except GatewayError as exc:
            log.warning("reconcile_failed", error=str(exc), retry_after_s=retry_after_s)
            delay = retry_after_s
            continue
        (log.warning if drift else log.info)("reconciled", drift=drift)
        delay = every_s
