"""The durable retry decision: pure, so a restart loses no schedule.

``decide(error, attempt, now)`` returns :class:`RetryAt` (the store keeps it as
``next_attempt_at``) or :class:`GiveUp` (the record is dead-lettered). Backoff is
exponential with full jitter and a cap (AWS architecture blog, "Exponential Backoff And
Jitter"): ``uniform(0, min(cap, base * 2**(attempt-1)))``. A portal ``Retry-After`` is
honoured as a lower bound, clamped to the cap. Permanent errors give up at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.config import RetryConfig
from gateway.errors import DeliveryError, PermanentDeliveryError


@dataclass(frozen=True, slots=True)
class RetryAt:
    at: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


def decide(
    error: DeliveryError,
    attempt: int,
    now: float,
    policy: RetryConfig,
    rng: random.Random,
) -> RetryAt | GiveUp:
    """When to try again after ``attempt`` (1-based) failed with ``error``, or give up."""
    if isinstance(error, PermanentDeliveryError):
        return GiveUp("the portal refused the record")
    if attempt >= policy.max_attempts:
        return GiveUp(f"gave up after {attempt} attempts")
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    delay = rng.uniform(0, ceiling)
    if error.retry_after_s is not None:
        delay = max(delay, min(error.retry_after_s, policy.max_delay_s))
    return RetryAt(now + delay)
