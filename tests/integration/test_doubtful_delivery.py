"""Doubtful records against a strict, partial, forgetful portal, on every road.

A step whose earlier attempt may have reached the portal is never lost and never applied
twice: it is looked up; when the portal cannot be asked it waits (or, by policy, is re-sent);
a refused batch the portal applied in part is looked up before it is split; a snapshot a
strict portal refuses for a date the contract excuses waits for its dossier's next snapshot.
The simulator's ledger (duplicates, order violations, status regressions) is the judge.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog

from gateway.config.schema import BreakerConfig, DeliveryConfig, RetryConfig
from gateway.model import DossierStatus
from gateway.simulator.portal import SimulatorSettings
from tests.factories import dossier, step
from tests.wire import ROUTES, WireRig, wire_rig

DELIVERY = DeliveryConfig(
    portal_batch_size=10,
    retry=RetryConfig(base_delay_s=1, max_delay_s=30, max_attempts=50),
    breaker=BreakerConfig(failure_threshold=1000, probe_interval_s=1),
)
REFUSED = "TỪ CHỐI"


def codes(first: int, n: int) -> list[str]:
    return [f"000.00.00.H56-261102-{i:05d}" for i in range(first, first + n)]


async def dossiers_on_portal(rig: WireRig, names: list[str]) -> None:
    await rig.accept(*(dossier(c) for c in names))
    await rig.rounds(2)
    assert all(c in rig.state.dossiers for c in names)


async def steps_applied_answer_lost(rig: WireRig, names: list[str]) -> None:
    """One call carries a step of each dossier; the portal applies it and resets."""
    await rig.accept(*(step(c, 5) for c in names))
    rig.faults.update({"mode": "reset_after_apply", "count": 1})
    await rig.rounds(1)
    assert all(len(rig.state.progress[c]) == 1 for c in names)
    assert rig.faults.mode == "none"


def logged(logs: Sequence[MutableMapping[str, Any]], event: str) -> int:
    return sum(1 for entry in logs if entry["event"] == event)


async def test_without_the_look_up_a_doubtful_step_waits_then_goes_by_policy(
    tmp_path: Path,
) -> None:
    settings = SimulatorSettings(progress_lookup=False)
    async with wire_rig(tmp_path, "dvcqg-rest", DELIVERY, settings) as rig:
        first = codes(0, 3)
        await dossiers_on_portal(rig, first)
        await steps_applied_answer_lost(rig, first)
        with structlog.testing.capture_logs() as logs:
            await rig.rounds(4)
        assert await rig.states() == {"delivered": 3, "queued": 3}  # waiting, not dead
        assert logged(logs, "progress_lookup_unavailable") == 1
        assert logged(logs, "record_dead_lettered") == 0
        assert rig.state.rejected["TraCuuTienDoHoSo"] <= 3  # asked in one round, not four

        # Fresh steps of other dossiers go one per call: no batch can be applied in part.
        second = codes(3, 4)
        await dossiers_on_portal(rig, second)
        before = rig.state.calls["CapNhatTienDoHoSoMC"]
        await rig.accept(*(step(c, 5) for c in second))
        await rig.rounds(2)
        assert rig.state.calls["CapNhatTienDoHoSoMC"] - before == 4

        # Policy "resend": the doubtful steps go again (at least once, not at most once).
        with structlog.testing.capture_logs() as logs:
            rig.worker.use(rig.route, replace(DELIVERY, unverifiable_resend="resend"))
            await rig.rounds(3)
        states = await rig.states()
        assert states == {"delivered": 3 + 4 + 4 + 3}
        assert logged(logs, "doubtful_steps_resent_unverified") == 1
        assert rig.strict()["duplicates"] == 3  # what the README says "resend" risks


async def test_a_failing_look_up_makes_the_step_wait_not_die(tmp_path: Path) -> None:
    async with wire_rig(tmp_path, "dvcqg-rest", DELIVERY) as rig:
        names = codes(0, 2)
        await dossiers_on_portal(rig, names)
        await steps_applied_answer_lost(rig, names)
        rig.faults.update({"mode": "error", "count": 1})  # the next call: one step's look-up
        await rig.rounds(1)
        assert rig.faults.injected["error"] == 1
        # the other step's look-up answered: only the step whose look-up failed waits
        assert await rig.states() == {"delivered": 3, "queued": 1}
        await rig.rounds(2)
        assert await rig.states() == {"delivered": 4}
        messages = [m for (m,) in await rig.store.query("SELECT message FROM attempts")]
        assert messages.count("already on the portal") == 2
        assert rig.strict()["duplicates"] == 0


@pytest.mark.parametrize("route", ROUTES)
async def test_a_refused_batch_applied_in_part_is_looked_up_not_resent(
    tmp_path: Path, route: str
) -> None:
    settings = SimulatorSettings(refused_text=REFUSED)
    async with wire_rig(tmp_path, route, DELIVERY, settings) as rig:
        names = codes(0, 5)
        await dossiers_on_portal(rig, names)
        rig.faults.update({"partial_apply": True})
        steps = [step(c, 5) for c in names]
        steps[2] = step(names[2], 5, action=f"{REFUSED}: nội dung sai")
        await rig.accept(*steps)
        await rig.rounds(3)
        assert rig.state.partially_applied == 4  # the portal applied the four valid steps
        assert await rig.states() == {"delivered": 5 + 4, "dead": 1}
        report = rig.strict()
        assert (report["duplicates"], report["order_violations"]) == (0, 0)
        [(error,)] = await rig.store.query("SELECT last_error FROM records WHERE state = 'dead'")
        assert "từ chối" in error  # the portal's reason
        messages = [m for (m,) in await rig.store.query("SELECT message FROM attempts")]
        assert messages.count("already on the portal") == 4


@pytest.mark.parametrize("route", ROUTES)
async def test_reset_after_apply_is_looked_up_on_every_route(tmp_path: Path, route: str) -> None:
    async with wire_rig(tmp_path, route, DELIVERY) as rig:
        names = codes(0, 3)
        await dossiers_on_portal(rig, names)
        await steps_applied_answer_lost(rig, names)
        await rig.accept(*(step(c, 9, status=DossierStatus.FINISHED) for c in names))
        await rig.rounds(4)
        assert await rig.states() == {"delivered": 9}
        assert rig.strict()["duplicates"] == 0
        assert rig.strict()["order_violations"] == 0
        assert all(len(rig.state.progress[c]) == 2 for c in names)


@pytest.mark.parametrize("route", ROUTES)
async def test_500_and_429_with_retry_after_on_every_route(tmp_path: Path, route: str) -> None:
    async with wire_rig(tmp_path, route, DELIVERY) as rig:
        [code] = codes(0, 1)
        await rig.accept(dossier(code))
        rig.faults.update({"mode": "throttle", "retry_after": "25", "count": 1})
        before = rig.clock()
        await rig.worker.run_once()
        [(state, attempts, next_at)] = await rig.store.query(
            "SELECT state, attempts, next_attempt_at FROM records"
        )
        assert (state, attempts) == ("queued", 1)
        assert next_at >= before + 25  # Retry-After honoured (the cap is 30 s)
        rig.clock.now = next_at
        rig.faults.update({"mode": "error", "count": 2})  # the look-up, then the create
        await rig.worker.run_once()
        [(state, attempts)] = await rig.store.query("SELECT state, attempts FROM records")
        assert (state, attempts) == ("queued", 2)
        assert rig.faults.injected == {"throttle": 1, "error": 2}
        rig.clock.now += 1_000
        await rig.worker.run_once()
        assert await rig.states() == {"delivered": 1}
        assert rig.state.dossiers[code]["versions"] == 1


@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-soap"])
async def test_a_snapshot_refused_for_an_excused_date_waits_for_the_next(
    tmp_path: Path, route: str
) -> None:
    settings = SimulatorSettings(strict_dates=True)  # spec §4.1 as written
    async with wire_rig(tmp_path, route, DELIVERY, settings) as rig:
        [code] = codes(0, 1)
        submitted = dossier(code, status=DossierStatus.SUBMITTED, received_at=None, due_at=None)
        await rig.accept(submitted)
        await rig.rounds(3)
        assert await rig.states() == {"queued": 1}  # waiting, not dead
        assert rig.state.rejected["DongBoHoSoMC"] >= 1
        await rig.accept(dossier(code))  # received: carries both dates
        await rig.rounds(2)
        assert await rig.states() == {"superseded": 1, "delivered": 1}
        assert rig.state.dossiers[code]["item"]["TrangThaiHoSo"] == "2"


async def test_without_the_relaxation_such_a_snapshot_is_not_sent(tmp_path: Path) -> None:
    async with wire_rig(tmp_path, "dvcqg-rest", DELIVERY, relax_status_dates=False) as rig:
        [code] = codes(0, 1)
        await rig.accept(dossier(code, status=DossierStatus.SUBMITTED, received_at=None))
        await rig.rounds(2)
        assert await rig.states() == {"queued": 1}
        assert "DongBoHoSoMC" not in rig.state.calls
        [(message,)] = await rig.store.query(
            "SELECT detail FROM audit WHERE event = 'deferred' LIMIT 1"
        )
        assert "relax_status_dates" in message
