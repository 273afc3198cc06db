from __future__ import annotations

import random

from gateway.config.schema import RetryConfig
from gateway.delivery.retry import GiveUp, RetryAt, decide
from gateway.errors import PermanentDeliveryError, RetryableDeliveryError

POLICY = RetryConfig(base_delay_s=2, max_delay_s=60, max_attempts=5)


def test_permanent_errors_give_up_at_once() -> None:
    decision = decide(PermanentDeliveryError("refused"), 1, 100.0, POLICY, random.Random(1))
    assert isinstance(decision, GiveUp)


def test_backoff_is_jittered_within_an_exponential_capped_ceiling() -> None:
    rng = random.Random(3)
    for attempt in range(1, 5):
        ceiling = min(60, 2 * 2 ** (attempt - 1))
        delays = []
        for _ in range(200):
            d = decide(RetryableDeliveryError("timeout"), attempt, 100.0, POLICY, rng)
            assert isinstance(d, RetryAt)
            delays.append(d.at - 100.0)
        assert all(0 <= x <= ceiling for x in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range


def test_retry_after_is_a_lower_bound_clamped_to_the_cap() -> None:
    err = RetryableDeliveryError("slow down", retry_after_s=30)
    d = decide(err, 1, 0.0, POLICY, random.Random(1))
    assert isinstance(d, RetryAt)
    assert d.at >= 30
    big = RetryableDeliveryError("slow down", retry_after_s=10_000)
    d = decide(big, 1, 0.0, POLICY, random.Random(1))
    assert isinstance(d, RetryAt)
    assert d.at == 60


def test_gives_up_after_max_attempts() -> None:
    d = decide(RetryableDeliveryError("timeout"), 5, 0.0, POLICY, random.Random(1))
    assert isinstance(d, GiveUp)
