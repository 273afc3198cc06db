"""Each simulator fault mode against the real worker, route and SQLite store.

The portal simulator runs on loopback in the test's loop; the worker's clock is fake, so
backoff, ``Retry-After``, the breaker's probe interval and the rate limit are checked
exactly without waiting for them.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.config.schema import BreakerConfig, DeliveryConfig, PortalConfig, RetryConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.model import DossierStatus
from gateway.routes.dvcqg_rest import DvcqgRestRoute
from gateway.simulator.faults import FAULTS_KEY, Faults
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.wire import FakeClock

AGENCY_BREAKER = "dvcqg-rest/000.00.00.H56"


@dataclass
class Rig:
    store: SqliteStore
    worker: DeliveryWorker
    route: DvcqgRestRoute
    faults: Faults
    state: PortalState
    clock: FakeClock

    async def accept(self, *records: Any) -> None:
        items = [Incoming("t", r, str(i)) for i, r in enumerate(records)]
        await self.store.accept(items, now=self.clock(), validate=validate_for_portal)

    async def rows(self) -> list[tuple[Any, ...]]:
        return await self.store.query(
            "SELECT id, state, attempts, next_attempt_at, uncertain FROM records ORDER BY id"
        )

    def portal_calls(self) -> int:
        return sum(v for k, v in self.state.calls.items() if k != "login")


async def make_rig(tmp_path: Path, delivery: DeliveryConfig, timeout_s: float = 5.0) -> Any:
    app = create_app(SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    portal = PortalConfig(
        base_url=f"http://127.0.0.1:{port}",
        username="simulator",
        password="simulator",
        timeout_s=timeout_s,
    )
    clock = FakeClock()
    store = await SqliteStore.open(tmp_path / "gw.db", now=clock())
    route = DvcqgRestRoute(portal)
    worker = DeliveryWorker(
        store, route, delivery, clock=clock, rng=random.Random(4), sleep=clock.sleep
    )
    return runner, Rig(store, worker, route, app[FAULTS_KEY], app[STATE_KEY], clock)


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    marker = request.node.get_closest_marker("delivery")
    delivery = marker.args[0] if marker else DeliveryConfig()
    timeout_s = marker.kwargs.get("timeout_s", 5.0) if marker else 5.0
    runner, made = await make_rig(tmp_path, delivery, timeout_s)
    yield made
    await made.route.close()
    await made.store.close()
    await runner.cleanup()


FAST = DeliveryConfig(
    retry=RetryConfig(base_delay_s=2, max_delay_s=60, max_attempts=10),
    breaker=BreakerConfig(failure_threshold=2, probe_interval_s=30),
)


@pytest.mark.delivery(FAST)
async def test_down_portal_opens_the_breaker_probes_once_and_closes(rig: Rig) -> None:
    await rig.accept(dossier("000.00.00.H56-261102-00001"), dossier("000.00.00.H56-261102-00002"))
    rig.faults.update({"mode": "down"})
    for _ in range(2):  # two failed calls open the breaker (threshold 2)
        await rig.worker.run_once()
        rig.clock.now += 10  # past the backoff (< 4 s), within the probe interval (30 s)
    assert rig.worker.guards.breakers[AGENCY_BREAKER].state == "open"
    calls = rig.faults.injected["down"]
    attempts_before = [r[2] for r in await rig.rows()]
    assert await rig.worker.run_once() == 2  # claimed, but deferred: the portal is not called
    assert rig.faults.injected["down"] == calls
    assert [r[2] for r in await rig.rows()] == attempts_before  # no attempt used
    assert all(state == "queued" for _, state, *_ in await rig.rows())

    rig.faults.update({"mode": "none"})
    rig.clock.now += 31  # the probe interval passed: one call goes through and closes it
    while (await rig.store.counts())["delivered"] < 2:
        assert await rig.worker.run_once() > 0
        rig.clock.now += 61
    assert rig.worker.guards.breakers[AGENCY_BREAKER].state == "closed"
    events = [e.event for e in await rig.store.audit_entries()]
    assert events.count("circuit_open") == 1
    assert events.count("circuit_half_open") == 1
    assert events.count("circuit_closed") == 1
    assert "deferred" in events


@pytest.mark.delivery(
    replace(FAST, retry=replace(FAST.retry, max_attempts_per_class={"server": 3}))
)
async def test_http_500_is_retried_with_backoff_then_dead_lettered_per_class(rig: Rig) -> None:
    await rig.accept(dossier())
    rig.faults.update({"mode": "error"})
    seen_next: list[float] = []
    for _ in range(3):
        started = rig.clock()
        assert await rig.worker.run_once() == 1
        [(_, state, attempts, next_at, _)] = await rig.rows()
        if state == "queued":
            assert started <= next_at <= started + 60  # full jitter under the cap
            seen_next.append(next_at)
        rig.clock.now += 61
    [(_, state, attempts, _, _)] = await rig.rows()
    assert (state, attempts) == ("dead", 3)  # the class limit, not max_attempts (10)
    assert len(await rig.store.query("SELECT id FROM attempts")) == 3
    assert rig.faults.injected["error"] >= 3  # and the look-ups before each retry
    assert len(seen_next) == 2


@pytest.mark.delivery(FAST)
async def test_429_retry_after_in_seconds_is_honoured(rig: Rig) -> None:
    await rig.accept(dossier())
    rig.faults.update({"mode": "throttle", "retry_after": "45", "count": 1})
    now = rig.clock()
    await rig.worker.run_once()
    [(_, state, _, next_at, _)] = await rig.rows()
    assert state == "queued"
    assert next_at >= now + 45
    rig.clock.now = next_at - 1
    assert await rig.worker.run_once() == 0  # not before Retry-After
    rig.clock.now = next_at
    assert await rig.worker.run_once() == 1
    assert (await rig.store.counts())["delivered"] == 1


@pytest.mark.delivery(FAST)
async def test_429_retry_after_as_a_date_is_clamped_to_the_cap(rig: Rig) -> None:
    await rig.accept(dossier())
    far = format_datetime(datetime(2099, 1, 1, tzinfo=UTC), usegmt=True)
    rig.faults.update({"mode": "throttle", "retry_after": far, "count": 1})
    now = rig.clock()
    await rig.worker.run_once()
    [(_, _, _, next_at, _)] = await rig.rows()
    assert now + 59 <= next_at <= now + 60  # max_delay_s, not 2099


@pytest.mark.delivery(FAST, timeout_s=0.3)
async def test_slow_portal_times_out_and_is_retried(rig: Rig) -> None:
    await rig.accept(dossier())
    rig.faults.update({"mode": "slow", "slow_s": 2.0, "count": 1})  # the first login
    await rig.worker.run_once()
    rows = await rig.store.query("SELECT state, uncertain FROM records")
    assert rows == [("queued", 1)]
    messages = await rig.store.query("SELECT message FROM attempts")
    assert "Timeout" in messages[0][0]
    rig.clock.now += 61
    await rig.worker.run_once()
    assert (await rig.store.counts())["delivered"] == 1


@pytest.mark.delivery(FAST)
async def test_reset_after_apply_never_applies_a_step_twice(rig: Rig) -> None:
    code = "000.00.00.H56-261102-00001"
    await rig.accept(dossier(code), step(code, 5), step(code, 9, status=DossierStatus.FINISHED))
    rig.faults.update({"mode": "reset_after_apply"})
    await rig.worker.run_once()  # the dossier is created, the answer is lost
    rig.faults.update({"mode": "none"})
    rig.clock.now += 61
    await rig.worker.run_once()  # created again -> "already exists" -> sent as an update
    assert rig.state.dossiers[code]["versions"] == 2
    rig.faults.update({"mode": "reset_after_apply"})
    await rig.worker.run_once()  # the first step is applied, the answer is lost
    assert len(rig.state.progress[code]) == 1
    rig.faults.update({"mode": "none"})
    for _ in range(3):
        rig.clock.now += 61
        await rig.worker.run_once()
    assert (await rig.store.counts())["delivered"] == 3
    assert len(rig.state.progress[code]) == 2
    assert rig.state.duplicate_progress == 0
    messages = [m for (m,) in await rig.store.query("SELECT message FROM attempts")]
    assert "already on the portal" in messages


@pytest.mark.delivery(
    replace(
        FAST,
        portal_batch_size=5,
        breaker=BreakerConfig(failure_threshold=1000, probe_interval_s=1),
        retry=RetryConfig(base_delay_s=1, max_delay_s=5, max_attempts=50),
    )
)
async def test_random_failures_deliver_everything_once(rig: Rig) -> None:
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(40)]
    for code in codes:
        await rig.accept(
            dossier(code), step(code, 5), dossier(code, status=DossierStatus.PROCESSING)
        )
    rig.faults.update({"mode": "random", "failure_rate": 0.3, "seed": 11})
    for _ in range(200):
        counts = await rig.store.counts()
        if counts["queued"] == 0:
            break
        await rig.worker.run_once()
        rig.clock.now += 6
    counts = await rig.store.counts()
    assert counts["delivered"] == 80  # 40 steps + 40 latest snapshots (40 superseded)
    assert sum(rig.faults.injected.values()) > 5
    assert rig.state.duplicate_progress == 0
    assert all(rig.state.dossiers[c]["item"]["TrangThaiHoSo"] == "4" for c in codes)


@pytest.mark.delivery(replace(FAST, rate_limit_per_s=4.0, portal_batch_size=1, concurrency=2))
async def test_rate_limit_spaces_the_calls(rig: Rig) -> None:
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(9)]
    await rig.accept(*(dossier(c) for c in codes))
    started = rig.clock()
    assert await rig.worker.run_once() == 9
    assert rig.portal_calls() == 9
    # 9 calls at 4 per second with a burst of 1: the last waits (9 - 1) / 4 = 2 s.
    assert rig.clock() - started == pytest.approx(2.0)
    assert rig.worker.guards.rate_limits["dvcqg-rest"].waited_s == pytest.approx(2.0)


@pytest.mark.delivery(replace(FAST, portal_batch_size=10))
async def test_one_refused_record_does_not_hold_back_its_batch(rig: Rig) -> None:
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(5)]
    bad = dossier(codes[2], procedure_code="9.999999")  # not in the portal's catalogue
    await rig.accept(*(dossier(c) for c in codes[:2]), bad, *(dossier(c) for c in codes[3:]))
    assert await rig.worker.run_once() == 5
    counts = await rig.store.counts()
    assert (counts["delivered"], counts["dead"]) == (4, 1)
    # The batch, then halves: [0, 1] ok; [2, 3, 4] refused -> [2] refused alone, [3, 4] ok.
    assert rig.state.calls["DongBoHoSoMC"] == 5
    [(error,)] = await rig.store.query("SELECT last_error FROM records WHERE state = 'dead'")
    assert "9.999999" in error
