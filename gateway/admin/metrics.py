"""Prometheus metrics (``/metrics``), with the reference client ``prometheus-client``.

Counters and the latency histogram are fed as things happen (the delivery worker's and
intake's observers); gauges that describe the store (records by state, the oldest queued
record's age, the audit chain's length and last checkpoint) are read from it when scraped, at
most every ``GAUGE_TTL_S``. Labels stay bounded: route, agency (a province has tens to
hundreds of agency codes), outcome and a failure class (``http_5xx``, ``portal_<code>``...),
never a dossier code.

The process also keeps the deliveries of the last hour per minute (the console's chart) and
the Decision 766 figures of the current month (recomputed at most every ``INDICATORS_TTL_S``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.store.contract import Claimed, Outcome, OutcomeKind, Receipt

GAUGE_TTL_S = 5.0
INDICATORS_TTL_S = 300.0
CHART_MINUTES = 60
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def failure_class(outcome: Outcome) -> str:
    """A bounded name for why an attempt failed."""
    if outcome.http_status:
        status = outcome.http_status
        return "http_429" if status == 429 else f"http_{status // 100}xx"
    if outcome.portal_code:
        return f"portal_{outcome.portal_code}"[:32]
    if outcome.kind is OutcomeKind.QUARANTINED:
        return "contract"
    return "network"


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """What a scrape reads from the store."""

    states: dict[str, int]
    oldest_queued_s: float | None
    audit_entries: int
    last_checkpoint_age_s: float | None


class Metrics:
    """The registry and what feeds it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Gauge(
            "dvcgw_records", "Records in the store by state", ["state"], registry=r
        )
        self.oldest_queued = Gauge(
            "dvcgw_oldest_queued_age_seconds", "Age of the oldest queued record", registry=r
        )
        self.deliveries = Counter(
            "dvcgw_deliveries",
            "Delivery outcomes by route, agency and outcome",
            ["route", "agency", "outcome"],
            registry=r,
        )
        self.failures = Counter(
            "dvcgw_delivery_failures",
            "Failed attempts by route, agency and class",
            ["route", "agency", "class"],
            registry=r,
        )
        self.latency = Histogram(
            "dvcgw_portal_call_seconds",
            "Portal call latency by route",
            ["route"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.breaker = Gauge(
            "dvcgw_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open",
            ["breaker"],
            registry=r,
        )
        self.intake = Counter(
            "dvcgw_intake_records",
            "Records received by source and receipt",
            ["source", "status"],
            registry=r,
        )
        self.audit_entries = Gauge(
            "dvcgw_audit_entries", "Entries in the live audit log", registry=r
        )
        self.checkpoint_age = Gauge(
            "dvcgw_audit_last_checkpoint_age_seconds",
            "Age of the last signed checkpoint",
            registry=r,
        )
        self.ready = Gauge("dvcgw_ready", "1 when /readyz answers 200", registry=r)
        self.indicator_ratio = Gauge(
            "dvcgw_766_ratio",
            "Decision 766 indicator ratio, current month",
            ["indicator"],
            registry=r,
        )
        self.indicator_points = Gauge(
            "dvcgw_766_points",
            "Decision 766 indicator points, current month",
            ["indicator"],
            registry=r,
        )
        self._per_minute: deque[tuple[int, int]] = deque(maxlen=CHART_MINUTES)
        self._read_at = float("-inf")
        self._indicators_at = float("-inf")
        self.figures: StoreFigures | None = None

    # -- fed as things happen ------------------------------------------------------------------

    def observe_call(self, call: Sequence[Claimed], outcomes: Sequence[Outcome]) -> None:
        agencies = {c.record_id: c.record.agency_code for c in call}
        for outcome in outcomes:
            agency = agencies.get(outcome.record_id, "")
            self.deliveries.labels(outcome.route, agency, outcome.kind.value).inc()
            if outcome.kind in (OutcomeKind.RETRY, OutcomeKind.DEAD, OutcomeKind.QUARANTINED):
                self.failures.labels(outcome.route, agency, failure_class(outcome)).inc()
            if outcome.kind is OutcomeKind.DELIVERED:
                self._count_minute()
        attempted = [o for o in outcomes if o.kind is not OutcomeKind.DEFERRED]
        if attempted:  # one call: the same latency for its records
            self.latency.labels(attempted[0].route).observe(attempted[0].latency_ms / 1000)

    def observe_intake(self, source: str, receipts: Sequence[Receipt]) -> None:
        for receipt in receipts:
            self.intake.labels(source, receipt.status).inc()

    def _count_minute(self) -> None:
        minute = int(self._clock() // 60)
        if self._per_minute and self._per_minute[-1][0] == minute:
            self._per_minute[-1] = (minute, self._per_minute[-1][1] + 1)
        else:
            self._per_minute.append((minute, 1))

    def deliveries_per_minute(self) -> list[tuple[int, int]]:
        """(minute, deliveries) for each of the last ``CHART_MINUTES`` minutes, oldest first."""
        now = int(self._clock() // 60)
        counts = dict(self._per_minute)
        return [(m, counts.get(m, 0)) for m in range(now - CHART_MINUTES + 1, now + 1)]

    # -- read when scraped -----------------------------------------------------------------------

    async def refresh(
        self,
        read: Callable[[], Awaitable[StoreFigures]],
        breakers: dict[str, str],
        ready: bool,
        indicators: Callable[[], Awaitable[list[tuple[str, float | None, float | None]]]]
        | None = None,
    ) -> None:
        """Bring the gauges up to date (the store at most every GAUGE_TTL_S)."""
        now = self._clock()
        if now - self._read_at >= GAUGE_TTL_S:
            self.figures = await read()
            self._read_at = now
            for state, count in self.figures.states.items():
                self.records.labels(state).set(count)
            self.oldest_queued.set(self.figures.oldest_queued_s or 0)
            self.audit_entries.set(self.figures.audit_entries)
            self.checkpoint_age.set(self.figures.last_checkpoint_age_s or 0)
        for key, state in breakers.items():
            self.breaker.labels(key).set(BREAKER_STATES.get(state, 0))
        self.ready.set(1 if ready else 0)
        if indicators is not None and now - self._indicators_at >= INDICATORS_TTL_S:
            self._indicators_at = now
            for code, ratio, points in await indicators():
                if ratio is not None:
                    self.indicator_ratio.labels(code).set(ratio)
                if points is not None:
                    self.indicator_points.labels(code).set(points)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
