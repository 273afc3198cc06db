"""The delivery worker: claims leased batches from the store and sends them over a route.

Each round claims up to ``batch_size`` records (one per dossier, see the store's ordering
rule), sends them with at most ``concurrency`` in flight, and writes every outcome back in
one transaction. A failure becomes a stored retry decision (:mod:`gateway.retry`), so a
restart loses no schedule. The worker sleeps until it is woken by intake, until the next
scheduled retry is due, or ``idle_poll_s`` passes, whichever is first.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable

import structlog

from gateway.audit_attempts import describe_request, take_request
from gateway.config import DeliveryConfig
from gateway.errors import DeliveryError, TranslationError
from gateway.masking import mask_text
from gateway.model import Dossier
from gateway.retry import GiveUp, decide
from gateway.routes.contract import Route
from gateway.store.contract import Claimed, Outcome, OutcomeKind, Store

log = structlog.get_logger("gateway.delivery")


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
    ) -> None:
        self._store = store
        self._route = route
        self._config = config
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.owner = owner or f"worker-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(config.concurrency)
        self._portal_down = False
        self._round_done = asyncio.Event()
        self._audit_body_bytes = audit_body_bytes

    async def next_round(self) -> None:
        """Wait until the worker finishes its next round (tests and the demo use this)."""
        await self._round_done.wait()

    def wake(self) -> None:
        """Tell the worker new records are waiting (called by intake after a commit)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; the round in progress finishes first."""
        log.info("delivery_started", owner=self.owner)
        last_rescue = self._clock()
        while not stop.is_set():
            now = self._clock()
            if now - last_rescue >= self._config.lease_s / 2:
                await self._store.release_expired(now)
                last_rescue = now
            if await self.run_once() == 0:
                await self._idle(stop)
        log.info("delivery_stopped", owner=self.owner)

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
        claimed = await self._store.claim(
            self.owner, self._config.batch_size, self._clock(), self._config.lease_s
        )
        if claimed:
            outcomes = await asyncio.gather(*(self._deliver(c) for c in claimed))
            await self._store.complete(outcomes)
            self._note_portal_health(outcomes)
        done, self._round_done = self._round_done, asyncio.Event()
        done.set()
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> Outcome:
        async with self._limit:
            started = self._clock()
            record = claimed.record
            context = structlog.contextvars.bound_contextvars(
                ma_ho_so=record.dossier_code,
                route=self._route.name,
                attempt=claimed.attempts + 1,
                record_id=claimed.record_id,
            )
            with context:
                return await self._send(claimed, started)

    async def _send(self, claimed: Claimed, started: float) -> Outcome:
        """One attempt; lines logged here and in the route carry the record's context."""
        record = claimed.record
        take_request()  # a request noted by an earlier attempt in this task is not ours
        try:
            if isinstance(record, Dossier):
                sent = await self._route.send_dossiers([record], on_portal=claimed.on_portal)
            else:
                sent = await self._route.send_steps([record])
        except TranslationError as exc:
            log.warning("record_quarantined", reason=str(exc))
            return self._outcome(claimed, OutcomeKind.QUARANTINED, started, message=str(exc))
        except DeliveryError as exc:
            return self._failed(claimed, exc, started)
        except Exception as exc:  # one bad record must not stop the daemon
            log.exception("record_crashed_delivery")
            reason = f"unexpected error while delivering: {exc!r}"
            return self._outcome(claimed, OutcomeKind.QUARANTINED, started, message=reason)
        log.debug("delivery_succeeded", updated=sent.updated)
        return self._outcome(
            claimed,
            OutcomeKind.DELIVERED,
            started,
            http_status=sent.http_status,
            portal_code=sent.portal_code,
            message=sent.message,
        )

    def _failed(
        self,
        claimed: Claimed,
        exc: DeliveryError,
        started: float,
    ) -> Outcome:
        now = self._clock()
        decision = decide(exc, claimed.attempts + 1, now, self._config.retry, self._rng)
        if isinstance(decision, GiveUp):
            log.warning(
                "record_dead_lettered", reason=decision.reason, error=str(exc), error_code=exc.code
            )
            kind, next_at = OutcomeKind.DEAD, 0.0
        else:
            log.debug("delivery_retry_scheduled", error=str(exc), delay_s=decision.at - now)
            kind, next_at = OutcomeKind.RETRY, decision.at
        return self._outcome(
            claimed,
            kind,
            started,
            next_attempt_at=next_at,
            http_status=exc.http_status,
            portal_code=exc.code,
            message=str(exc),
        )

    def _outcome(
        self,
        claimed: Claimed,
        kind: OutcomeKind,
        started: float,
        *,
        next_attempt_at: float = 0.0,
        http_status: int | None = None,
        portal_code: str | None = None,
        message: str = "",
    ) -> Outcome:
        now = self._clock()
        target = digest = body = ""
        request = take_request()
        if request is not None:
            target = request.target
            digest, body = describe_request(request, self._audit_body_bytes)
        return Outcome(
            record_id=claimed.record_id,
            lease_token=claimed.lease_token,
            kind=kind,
            at=now,
            route=self._route.name,
            next_attempt_at=next_attempt_at,
            http_status=http_status,
            portal_code=portal_code,
            message=mask_text(message),
            latency_ms=(now - started) * 1000,
            request_target=target,
            request_digest=digest,
            request_body=body,
        )

    def _note_portal_health(self, outcomes: list[Outcome]) -> None:
        """Log 'portal_unavailable' and 'portal_recovered' on the transition only."""
        retried = [o for o in outcomes if o.kind is OutcomeKind.RETRY]
        if retried and len(retried) == len(outcomes) and not self._portal_down:
            self._portal_down = True
            log.warning("portal_unavailable", route=self._route.name, error=retried[0].message)
        elif len(retried) < len(outcomes) and self._portal_down:
            self._portal_down = False
            log.info("portal_recovered", route=self._route.name)
