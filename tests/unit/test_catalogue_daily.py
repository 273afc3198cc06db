"""The daemon's daily catalogue sync loop, on a fake clock: when it runs, what a failure or
an unfinished run changes, and that a new version reaches intake."""

from __future__ import annotations

import asyncio

from gateway.catalogue.daily import sync_daily, waiting_on
from gateway.catalogue.sync import SyncReport
from gateway.errors import RetryableDeliveryError


async def test_runs_after_the_first_delay_then_daily_retrying_failures_and_resuming() -> None:
    waits: list[float] = []
    outcomes: list[SyncReport | Exception] = [
        RetryableDeliveryError("portal unreachable"),
        SyncReport(complete=False, remaining=5),
        SyncReport(complete=True, version=1, stored=True),
        SyncReport(complete=True, version=1, stored=False),
    ]
    stored: list[int] = []

    async def wait(seconds: float) -> bool:
        waits.append(seconds)
        return not outcomes  # stop once every planned run happened

    async def run() -> SyncReport:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def on_stored() -> None:
        stored.append(len(outcomes))

    await sync_daily(
        run, on_stored, wait=wait, first_after_s=3600, every_s=86400, resume_after_s=60,
        retry_after_s=900,
    )  # fmt: skip
    assert waits == [3600, 900, 60, 86400, 86400]
    assert stored == [1]  # only the run that stored a version


async def test_waiting_on_returns_as_soon_as_stop_is_set() -> None:
    stop = asyncio.Event()
    wait = waiting_on(stop)
    assert await wait(0) is False
    stop.set()
    assert await wait(3600) is True
