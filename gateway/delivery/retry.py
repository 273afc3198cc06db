"""The durable retry decision: pure, so a restart loses no schedule; and the retry budget.

``decide(error, attempt, now)`` returns :class:`RetryAt` (the store keeps it as
``next_attempt_at``) or :class:`GiveUp` (the record is dead-lettered). Backoff is
exponential with full jitter and a cap (AWS architecture blog, "Exponential Backoff And
Jitter"): ``uniform(0, min(cap, base * 2**(attempt-1)))``. A portal ``Retry-After`` is
honoured as a lower bound, clamped to the cap. Permanent errors give up at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gateway.config.schema import RetryConfig
from gateway.errors import DeliveryError, PermanentDeliveryError, SessionExpiredError


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
    kind = error_class(error)
    limit = policy.max_attempts_per_class.get(kind, policy.max_attempts)
    if attempt >= limit:
        return GiveUp(f"gave up after {attempt} attempts ({kind} errors)")
    ceiling = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    delay = rng.uniform(0, ceiling)
    if error.retry_after_s is not None:
        delay = max(delay, min(error.retry_after_s, policy.max_delay_s))
    return RetryAt(now + delay)


def error_class(error: DeliveryError) -> str:
    """``session``, ``throttled`` (429), ``server`` (5xx, 408), ``timeout``, ``network`` (no
    answer) or ``answer`` (an answer we could not read)."""
    if isinstance(error, SessionExpiredError):
        return "session"
    status = error.http_status
    if status == 429:
        return "throttled"
    if status is not None and (status >= 500 or status == 408):
        return "server"
    if status is None:
        return "timeout" if "timeout" in str(error).lower() else "network"
    return "answer"


class RetryBudget:
    """Retries per route stay below ``ratio`` of first attempts, plus ``min_per_s`` (Google SRE,
    "Handling overload"): a portal that fails everything sees about ``1 + ratio`` times its
    normal load, not a storm of retries. Spent on a retry, earned by first attempts."""

    def __init__(self, ratio: float, min_per_s: float, now: float, cap: float = 50.0) -> None:
        self._ratio = ratio
        self._min_per_s = min_per_s
        self._cap = cap
        self._tokens = cap
        self._at = now

    def first_attempt(self) -> None:
        self._tokens = min(self._cap, self._tokens + self._ratio)

    def try_retry(self, now: float) -> bool:
        """Spend one retry if the budget has one."""
        self._tokens = min(self._cap, self._tokens + (now - self._at) * self._min_per_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
