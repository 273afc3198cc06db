"""A missing progress look-up is learnt from the portal's refusal, once, and asked again later."""

from __future__ import annotations

import pytest
import structlog

from gateway.errors import LookupUnavailableError, PermanentDeliveryError
from gateway.routes.lookup import RECHECK_S, StepLookupHealth


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_not_configured_is_unavailable_without_asking() -> None:
    health = StepLookupHealth("dvcqg-rest", "", Clock())
    assert not health.available
    with pytest.raises(LookupUnavailableError, match="no progress look-up"):
        health.check()


def test_a_refusal_is_logged_once_and_asked_again_after_the_recheck() -> None:
    clock = Clock()
    health = StepLookupHealth("xroad-soap", "TraCuuTienDoHoSo", clock)
    health.check()  # configured, never refused: may be asked
    refusal = PermanentDeliveryError("Dịch vụ TraCuuTienDoHoSo không được hỗ trợ", code="-1")
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            error = health.refused(refusal)
        clock.now += RECHECK_S - 1
        assert not health.available
        with pytest.raises(LookupUnavailableError, match="không được hỗ trợ"):
            health.check()
        clock.now += 1
        assert health.available  # one call may ask again
        health.answered()
        health.answered()
    assert error.code == "-1"
    events = [entry["event"] for entry in logs]
    assert events == ["progress_lookup_unavailable", "progress_lookup_restored"]
