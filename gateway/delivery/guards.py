"""What the delivery worker checks before each portal call, kept per route (and agency).

- a **circuit breaker** per route and agency (:mod:`gateway.delivery.breaker`);
- a **rate limit** per route: ``rate_limit_per_s`` calls per second
  (:mod:`gateway.delivery.ratelimit`);
- a **retry budget** per route: retries stay a fraction of first attempts
  (:class:`gateway.delivery.retry.RetryBudget`).

With a router (``routes.agencies``) each agency's records take their own route, so each road
to the portal has its own limits; the guards ask ``route_of`` which one an agency takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.config.schema import DeliveryConfig
from gateway.delivery.breaker import Breaker
from gateway.delivery.ratelimit import RateLimit
from gateway.delivery.retry import RetryBudget


class RouteGuards:
    """Breakers, rate limits and retry budgets, created on first use for each route."""

    def __init__(
        self,
        config: DeliveryConfig,
        route_of: Callable[[str], str],
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._config = config
        self._route_of = route_of
        self._clock = clock
        self._sleep = sleep
        self.breakers: dict[str, Breaker] = {}
        """By ``route/agency``."""
        self.rate_limits: dict[str, RateLimit] = {}
        """By route."""
        self.budgets: dict[str, RetryBudget] = {}
        """By route."""
        self.paused: dict[str, str] = {}
        """``route`` or ``route/agency`` -> who paused it (the admin API); records of a paused
        route or agency are deferred without an attempt. Kept in this process only."""

    def paused_by(self, agency: str) -> str | None:
        """Who paused the road this agency's records take, or None."""
        route = self._route_of(agency)
        return self.paused.get(f"{route}/{agency}") or self.paused.get(route)

    def reconfigure(self, config: DeliveryConfig) -> None:
        """New settings (SIGHUP): limits and budgets start afresh where their settings
        changed; breakers keep their state (an open one stays open until its probe)."""
        if config.rate_limit_per_s != self._config.rate_limit_per_s:
            self.rate_limits.clear()
        if config.retry != self._config.retry:
            self.budgets.clear()
        self._config = config

    def breaker(self, agency: str) -> Breaker:
        key = f"{self._route_of(agency)}/{agency}"
        if key not in self.breakers:
            self.breakers[key] = Breaker(key, self._config.breaker)
        return self.breakers[key]

    def rate_limit(self, agency: str) -> RateLimit:
        name = self._route_of(agency)
        if name not in self.rate_limits:
            limit = RateLimit(self._config.rate_limit_per_s, self._clock, self._sleep)
            self.rate_limits[name] = limit
        return self.rate_limits[name]

    def budget(self, agency: str) -> RetryBudget:
        name = self._route_of(agency)
        if name not in self.budgets:
            retry = self._config.retry
            self.budgets[name] = RetryBudget(
                retry.budget_ratio, retry.budget_min_per_s, self._clock()
            )
        return self.budgets[name]
