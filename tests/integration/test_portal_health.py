"""'portal_unavailable' / 'portal_recovered' follow the portal, not the records' fate: a record
dead-lettered because its last attempt found no portal is a failure, not a recovery."""

from __future__ import annotations

from pathlib import Path

import structlog

from gateway.config.schema import BreakerConfig, DeliveryConfig, RetryConfig
from tests.factories import dossier
from tests.integration.test_faults import make_rig

HEALTH = {"portal_unavailable", "portal_recovered"}
TWO_ATTEMPTS = DeliveryConfig(
    retry=RetryConfig(base_delay_s=2, max_delay_s=4, max_attempts=2),
    breaker=BreakerConfig(failure_threshold=100, probe_interval_s=30),
)


async def test_records_dead_lettered_by_a_down_portal_are_no_recovery(tmp_path: Path) -> None:
    runner, rig = await make_rig(tmp_path, TWO_ATTEMPTS)
    try:
        await rig.accept(
            dossier("000.00.00.H56-261102-00001"), dossier("000.00.00.H56-261102-00002")
        )
        rig.faults.update({"mode": "down"})
        with structlog.testing.capture_logs() as logs:
            await rig.worker.run_once()  # first attempts fail: retries
            rig.clock.now += 10
            await rig.worker.run_once()  # second attempts fail: dead (max_attempts 2)
        assert (await rig.store.counts())["dead"] == 2
        events = [e["event"] for e in logs if e["event"] in HEALTH]
        assert events == ["portal_unavailable"]  # and no "portal_recovered"
        assert rig.worker.portal_down

        rig.faults.update({"mode": "none"})
        await rig.accept(dossier("000.00.00.H56-261102-00003"))
        with structlog.testing.capture_logs() as logs:
            await rig.worker.run_once()
        assert [e["event"] for e in logs if e["event"] in HEALTH] == ["portal_recovered"]
        assert not rig.worker.portal_down
    finally:
        await rig.route.close()
        await rig.store.close()
        await runner.cleanup()
