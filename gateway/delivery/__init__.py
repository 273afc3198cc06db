"""Delivery: claims records from the store, sends them through a route, stores the outcome.

- :mod:`~gateway.delivery.worker`: the delivery loop (rounds, leases, calls).
- :mod:`~gateway.delivery.outcomes`: turns a call's result into a stored outcome (retry
  decision, portal answer, the audit description of the call).
- :mod:`~gateway.delivery.retry`: the pure retry decision and backoff.
- :mod:`~gateway.delivery.guards`, :mod:`~gateway.delivery.breaker`,
  :mod:`~gateway.delivery.ratelimit`: per-route circuit breakers, rate limits, retry budgets.

May import: the model, errors, config, audit, the store contract (never an engine) and the
route contract (:mod:`gateway.routes.contract`). Not sources.
"""
