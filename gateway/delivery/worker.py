"""The delivery worker: claims leased batches from the store and sends them over a route.

Each round claims up to ``batch_size`` records (one per dossier, see the store's ordering
rule) and groups them into portal calls: one agency and one service per call, at most
``portal_batch_size`` records each. Calls run with at most ``concurrency`` in flight and at
most ``rate_limit_per_s`` per second; every outcome is written back in one transaction.

Per call, in order: the retry budget (a call that carries retries needs a token, else the
records are deferred), the circuit breaker of the route and agency (open: deferred without
using an attempt), the look-up of doubtful records (:mod:`gateway.delivery.doubts`: a step
whose earlier attempt may have reached the portal is not sent again if the portal holds it,
and waits if the portal cannot say), then the call. A refused multi-record call is split in
halves until the records at fault are alone, so they do not hold back the others; the
portal may have applied part of it, so its steps are looked up before they go again. Where
a route cannot look steps up, steps go one per call (a refusal then concerns one step).
A snapshot refused for a date the contract excuses by inference (``NgayTiepNhan``,
``NgayHenTra``) waits for its dossier's next snapshot instead of being dead-lettered.
Each call's outcomes are committed as soon as it returns. Leases of
the records in flight are extended every ``heartbeat_s``. A failure becomes a stored retry
decision (:mod:`gateway.delivery.retry`), so a restart loses no schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog

from gateway.audit.attempts import take_request
from gateway.config.schema import DeliveryConfig
from gateway.delivery.breaker import Breaker
from gateway.delivery.doubts import Doubts, steps_of
from gateway.delivery.guards import RouteGuards
from gateway.delivery.outcomes import Outcomes, waits_for_next_snapshot
from gateway.errors import DeliveryError, PermanentDeliveryError, StoreError, TranslationError
from gateway.model import Dossier, ProgressStep
from gateway.routes.contract import NOT_SYNCED, PortalLookup, Route, Routing, Sent
from gateway.store.contract import Claimed, Outcome, OutcomeKind, Store

log = structlog.get_logger("gateway.delivery")

STORE_UPKEEP_S = 10.0
"""How often the loop asks the store to keep its query statistics current (``maintain``):
a backlog that arrives in a burst is planned for within seconds, not after the burst."""


class DeliveryWorker:
    """One delivery loop over one store and one route."""

    def __init__(
        self,
        store: Store,
        route: Route,
        config: DeliveryConfig,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        owner: str | None = None,
        audit_body_bytes: int = 65536,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._route = route
        self._routing = route if isinstance(route, Routing) else None
        self._config = config
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(config.concurrency)
        self._portal_down = False
        self._round_done = asyncio.Event()
        self._outcomes = Outcomes(
            config.retry, self._route_name, clock, self._rng, audit_body_bytes
        )
        self.guards = RouteGuards(config, self._route_name, clock, sleep)
        self._doubts = Doubts(self._outcomes, config, self._route_name, clock, self._rng)
        self._sleep = sleep
        self._next: tuple[Route, DeliveryConfig] | None = None
        self._unreachable: set[int] = set()
        """Records of this round whose call failed for want of a portal (retryable)."""
        self.observers: list[Callable[[Sequence[Claimed], Sequence[Outcome]], None]] = []
        """Called with each call's records and outcomes once they are stored (metrics)."""

    @property
    def portal_down(self) -> bool:
        """Whether the last round's every attempted call failed for want of a portal."""
        return self._portal_down

    def route_name(self, agency: str) -> str:
        """The route an agency's records take."""
        return self._route_name(agency)

    @property
    def route(self) -> Route:
        return self._route

    def use(self, route: Route, config: DeliveryConfig) -> None:
        """Switch to a new route and settings (SIGHUP) between rounds; the old route is
        closed once the round in flight has finished with it."""
        self._next = (route, config)
        self.wake()

    async def _switch(self) -> None:
        if self._next is None:
            return
        old = self._route
        self._route, config = self._next
        self._routing = self._route if isinstance(self._route, Routing) else None
        self._next = None
        self.guards.reconfigure(config)
        self._outcomes.reconfigure(config.retry)
        self._doubts.reconfigure(config)
        if config.concurrency != self._config.concurrency:
            self._limit = asyncio.Semaphore(config.concurrency)
        self._config = config
        if old is not self._route:
            await old.close()
        log.info("delivery_reconfigured", route=self._route.name)

    async def next_round(self) -> None:
        """Wait until the worker finishes its next round (tests and the demo use this)."""
        await self._round_done.wait()

    def wake(self) -> None:
        """Tell the worker new records are waiting (called by intake after a commit)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; the round in progress finishes first."""
        log.info("delivery_started", owner=self.owner)
        last_rescue = last_upkeep = self._clock()
        store_down = False
        while not stop.is_set():
            try:
                now = self._clock()
                if now - last_rescue >= self._config.lease_s / 2:
                    await self._store.release_expired(now, max_rescues=self._config.max_rescues)
                    last_rescue = now
                if now - last_upkeep >= STORE_UPKEEP_S:
                    await self._store.maintain()
                    last_upkeep = now
                busy = await self.run_once() > 0
                if store_down:
                    store_down = False
                    log.info("store_recovered")
                if not busy:
                    await self._idle(stop)
            except StoreError as exc:
                # The database went away or refused a transaction: nothing of it happened.
                # Outcomes not recorded leave their leases to expire (the records are looked
                # up before they are sent again); the loop waits and goes on.
                if not store_down:
                    store_down = True
                    log.error("store_unavailable", error=str(exc))
                await self._pause(stop, self._config.idle_poll_s)
        log.info("delivery_stopped", owner=self.owner)

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _idle(self, stop: asyncio.Event) -> None:
        due = await self._store.next_due()
        wait = self._config.idle_poll_s
        if due is not None and due > self._clock():
            # A due time in the past belongs to a record that waits on another one (its
            # dossier, an earlier step): its turn comes when that one completes, which
            # wakes this loop; polling for it would spin.
            wait = min(wait, due - self._clock())
        self._wake.clear()
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        _, pending = await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def run_once(self) -> int:
        """Claim one batch, deliver it, record the outcomes; return the batch size."""
        try:
            return await self._round()
        finally:  # a round that failed on the store is a round too (tests wait for rounds)
            done, self._round_done = self._round_done, asyncio.Event()
            done.set()

    async def _round(self) -> int:
        await self._switch()
        claimed = await self._store.claim(
            self.owner, self._config.batch_size, self._clock(), self._config.lease_s
        )
        if claimed:
            beat = asyncio.create_task(self._heartbeat([c.lease_token for c in claimed]))
            try:
                claimed, skipped = self._skip_not_synced(claimed)
                now = self._clock()
                doubtful = [c for c in claimed if c.uncertain and self._may_call(c, now)]
                claimed, known = await self._doubts.resolve(self._route, claimed, doubtful)
                if known or skipped:
                    await self._store.complete(skipped + known)
                calls = group_calls(claimed, self._config.portal_batch_size, self._alone)
                results = await asyncio.gather(*(self._deliver_and_record(c) for c in calls))
            finally:
                beat.cancel()
            outcomes = [o for result in results for o in result]
            await self._report_breakers()
            self._note_portal_health(outcomes)
        return len(claimed)

    async def _heartbeat(self, tokens: list[int]) -> None:
        interval = self._config.heartbeat_s or self._config.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._store.heartbeat(self.owner, tokens, self._clock(), self._config.lease_s)
            except StoreError as exc:  # the next beat may get through before leases expire
                log.warning("heartbeat_failed", error=str(exc))

    def _route_name(self, agency: str) -> str:
        """The route an agency's records take (a router answers per agency; whether the
        route is one is settled once per route: a protocol check costs ~12 µs)."""
        if self._routing is None:
            return self._route.name
        return self._routing.route_for(agency).name

    async def _report_breakers(self) -> None:
        """Log and audit each breaker transition once."""
        for breaker in self.guards.breakers.values():
            for t in breaker.take_transitions():
                event = f"circuit_{t.after}"
                log.warning(event, breaker=t.key, before=t.before, failures=t.failures)
                detail = {"breaker": t.key, "before": t.before, "failures": t.failures}
                await self._store.note(event, detail, t.at)

    async def _deliver_and_record(self, call: list[Claimed]) -> list[Outcome]:
        """Deliver one call's records and commit their outcomes at once, so a crash loses
        no more than the calls in flight."""
        outcomes = await self._deliver(call)
        await self._store.complete(outcomes)
        for observe in self.observers:
            observe(call, outcomes)
        return outcomes

    async def _deliver(self, call: list[Claimed]) -> list[Outcome]:
        """One portal call's records: budget, breaker, look-up, then the call itself."""
        async with self._limit:
            now = self._clock()
            paused_by = self.guards.paused_by(call[0].record.agency_code)
            if paused_by is not None:
                at = now + self._config.idle_poll_s
                why = f"route paused by {paused_by}"
                return [self._outcomes.deferred(c, at, why) for c in call]
            budget = self.guards.budget(call[0].record.agency_code)
            if any(c.attempts > 0 for c in call):
                if not budget.try_retry(now):
                    at = now + self._config.retry.base_delay_s
                    return [self._outcomes.deferred(c, at, "retry budget spent") for c in call]
            else:
                budget.first_attempt()
            breaker = self.guards.breaker(call[0].record.agency_code)
            if not breaker.allow(now):
                return [
                    self._outcomes.deferred(c, breaker.retry_at(), "circuit open") for c in call
                ]
            return await self._send(call, breaker)

    async def _send(self, call: list[Claimed], breaker: Breaker) -> list[Outcome]:
        started = self._clock()
        done: list[Outcome] = []
        take_request()  # a request noted by an earlier call in this task is not this one's
        context = structlog.contextvars.bound_contextvars(
            route=self._route_name(call[0].record.agency_code),
            ma_ho_so=",".join(c.record.dossier_code for c in call),
            records=len(call),
        )
        with context:
            return await self._send_call(call, breaker, started, done)

    async def _send_call(
        self, call: list[Claimed], breaker: Breaker, started: float, done: list[Outcome]
    ) -> list[Outcome]:
        """One portal call; lines logged here and in the route carry the call's context."""
        try:
            await self.guards.rate_limit(call[0].record.agency_code).acquire()
            sent = await self._call(call)
        except TranslationError as exc:
            if len(call) > 1:
                return done + await self._split(call, breaker)
            log.warning("record_quarantined", reason=str(exc), record_id=call[0].record_id)
            return [
                *done,
                self._outcomes.outcome(call[0], OutcomeKind.QUARANTINED, started, message=str(exc)),
            ]
        except PermanentDeliveryError as exc:
            breaker.succeeded(self._clock())  # the portal is up: it answered
            if len(call) > 1:
                return done + await self._split(call, breaker, applied_in_part=True)
            if waits_for_next_snapshot(call[0].record, exc):
                at = self._clock() + self._config.retry.max_delay_s
                why = f"waits for the dossier's next snapshot: {exc}"
                log.info("snapshot_waits_for_next", record_id=call[0].record_id, error=str(exc))
                return [*done, self._outcomes.deferred(call[0], at, why)]
            return [*done, self._outcomes.failed(call[0], exc, started)]
        except DeliveryError as exc:
            breaker.failed(self._clock())
            self._unreachable.update(c.record_id for c in call)
            return done + [self._outcomes.failed(c, exc, started) for c in call]
        except Exception as exc:
            if len(call) > 1:
                return done + await self._split(call, breaker, applied_in_part=True)
            log.exception("record_crashed_delivery", record_id=call[0].record_id)
            reason = f"unexpected error while delivering: {exc!r}"
            return [
                *done,
                self._outcomes.outcome(call[0], OutcomeKind.QUARANTINED, started, message=reason),
            ]
        breaker.succeeded(self._clock())
        return done + [self._outcomes.delivered(c, sent, started) for c in call]

    async def _split(
        self, call: list[Claimed], breaker: Breaker, *, applied_in_part: bool = False
    ) -> list[Outcome]:
        """Send the two halves of a refused call separately (again and again), to isolate
        the records at fault in a few calls while the others go through. ``applied_in_part``:
        the portal may have applied some items (a refusal does not say it applied none), so
        its steps are looked up first: those it holds are delivered, those it cannot say
        about wait as doubtful (:mod:`gateway.delivery.doubts`)."""
        settled: list[Outcome] = []
        steps = steps_of(call) if applied_in_part else []
        if steps:
            settled = await self._doubts.settle_steps(self._route, steps, newly_doubtful=True)
            done = {o.record_id for o in settled}
            call = [c for c in call if c.record_id not in done]
            if len(call) <= 1:
                return settled + (await self._send(call, breaker) if call else [])
        half = len(call) // 2
        first = await self._send(call[:half], breaker)
        return settled + first + await self._send(call[half:], breaker)

    def _alone(self, claimed: Claimed) -> bool:
        """A step goes alone in its call when its route cannot look steps up: a refused or
        doubtful call then concerns that one step, never a batch applied in part."""
        if not isinstance(claimed.record, ProgressStep):
            return False
        agency = claimed.record.agency_code
        route = self._route if self._routing is None else self._routing.route_for(agency)
        return not (isinstance(route, PortalLookup) and route.looks_up_steps)

    async def _call(self, call: list[Claimed]) -> Sent:
        records = [c.record for c in call]
        if isinstance(records[0], Dossier):
            dossiers = [r for r in records if isinstance(r, Dossier)]
            return await self._route.send_dossiers(dossiers, on_portal=call[0].on_portal)
        return await self._route.send_steps([r for r in records if isinstance(r, ProgressStep)])

    def _skip_not_synced(self, claimed: list[Claimed]) -> tuple[list[Claimed], list[Outcome]]:
        """Steps of a dossier the route did not sync (derived, spec §1.5) are not sent: the
        portal does not hold their dossier and would refuse them."""
        take_request()  # nothing is sent for them: no request of an earlier round is theirs
        now = self._clock()
        skipped = [
            self._outcomes.outcome(
                c,
                OutcomeKind.DELIVERED,
                now,
                portal_code=NOT_SYNCED,
                message="step of a derived inter-agency dossier: not synced",
                not_synced=True,
            )
            for c in claimed
            if c.not_synced and isinstance(c.record, ProgressStep)
        ]
        done = {o.record_id for o in skipped}
        return [c for c in claimed if c.record_id not in done], skipped

    def _may_call(self, claimed: Claimed, now: float) -> bool:
        """Whether this record's breaker lets a call through now (records behind an open
        breaker are deferred, not looked up)."""
        breaker = self.guards.breaker(claimed.record.agency_code)
        return breaker.state != "open" or now >= breaker.retry_at()

    def _note_portal_health(self, outcomes: list[Outcome]) -> None:
        """Log 'portal_unavailable' and 'portal_recovered' on the transition only. A record
        dead-lettered because its last attempt found no portal (``max_attempts``) is a
        failure too: only an answer from the portal means it is back."""
        unreachable, self._unreachable = self._unreachable, set()
        retried = [o for o in outcomes if o.kind is OutcomeKind.RETRY or o.record_id in unreachable]
        attempted = [o for o in outcomes if o.kind is not OutcomeKind.DEFERRED]
        if not attempted:
            return
        routes = ",".join(sorted({o.route for o in attempted}))
        if retried and len(retried) == len(attempted) and not self._portal_down:
            self._portal_down = True
            log.warning("portal_unavailable", route=routes, error=retried[0].message)
        elif len(retried) < len(attempted) and self._portal_down:
            self._portal_down = False
            log.info("portal_recovered", route=routes)


def group_calls(
    claimed: Sequence[Claimed], size: int, alone: Callable[[Claimed], bool] = lambda c: False
) -> list[list[Claimed]]:
    """Portal calls for a round: one agency, one service and one ``isUpdating`` per call, at
    most ``size`` records; a record for which ``alone`` holds goes in a call of its own. (A
    create the portal answers "already exists" for, after a crash, refuses its whole call;
    the split then isolates it and the route re-sends it as an update.)"""
    groups: dict[tuple[str, str, bool], list[Claimed]] = {}
    single: list[list[Claimed]] = []
    for c in sorted(claimed, key=lambda c: c.record_id):
        if alone(c):
            single.append([c])
            continue
        updating = c.on_portal if isinstance(c.record, Dossier) else True
        groups.setdefault((str(c.record.kind), c.record.agency_code, updating), []).append(c)
    return [
        members[i : i + size] for members in groups.values() for i in range(0, len(members), size)
    ] + single
