"""The loops of the inbound side: dossiers down to the sink, status reports up to the portal.

One :class:`JobWorker` per job kind, with the outbox's guarantees: it leases due jobs (at most
one per dossier, in order), runs them concurrently, and applies each outcome in one
transaction with its audit entry. The retry decision is the upward one
(:func:`gateway.delivery.retry.decide`: exponential backoff with full jitter, a cap, give up
after ``max_attempts``, at once on a permanent error): a dead job waits for an operator's
replay. Leases are swept back to the queue when they expire (a killed process).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from adapters.contract import Sink
from gateway.config.schema import RetryConfig
from gateway.delivery.retry import GiveUp, decide
from gateway.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    TranslationError,
)
from gateway.inbound.model import FileDelivery, HttpDelivery, SqlDelivery, dossier_from_json
from gateway.inbound.transports import Delivered, HttpTransport, OutboxTransport, SqlTransport
from gateway.store.inbound import ClaimedJob, InboundStore, JobKind, JobOutcome, JobOutcomeKind

log = structlog.get_logger("gateway.inbound")

Send = Callable[[ClaimedJob], Awaitable[Delivered]]


@dataclass(slots=True)
class SinkRunner:
    """Renders a claimed dossier with the vendor's sink and hands the result to the transport
    configured for its kind."""

    sink: Sink
    http: HttpTransport | None = None
    sql: SqlTransport | None = None
    outbox: OutboxTransport | None = None

    async def send(self, job: ClaimedJob) -> Delivered:
        try:
            delivery = self.sink.render(dossier_from_json(job.payload))
        except TranslationError as exc:
            raise PermanentDeliveryError(f"sink {self.sink.name}: {exc}") from exc
        if isinstance(delivery, HttpDelivery) and self.http is not None:
            return await self.http.send(delivery, job.dossier_code)
        if isinstance(delivery, SqlDelivery) and self.sql is not None:
            return await self.sql.send(delivery, job.dossier_code)
        if isinstance(delivery, FileDelivery) and self.outbox is not None:
            return await self.outbox.send(delivery, job.dossier_code)
        kind = type(delivery).__name__
        raise PermanentDeliveryError(
            f"sink {self.sink.name} returned a {kind}, and no transport for it is configured"
        )

    async def close(self) -> None:
        for transport in (self.http, self.sql, self.outbox):
            if transport is not None:
                await transport.close()


class JobWorker:
    """Leases due jobs of one kind and runs ``send`` on each."""

    def __init__(
        self,
        store: InboundStore,
        kind: JobKind,
        send: Send,
        retry: RetryConfig,
        *,
        owner: str,
        batch_size: int = 32,
        lease_s: float = 120.0,
        idle_poll_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._kind = kind
        self._send = send
        self._retry = retry
        self._owner = owner
        self._batch_size = batch_size
        self._lease_s = lease_s
        self._idle_poll_s = idle_poll_s
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """One round: sweep expired leases, lease due jobs, run them; return how many ran."""
        now = self._clock()
        await self._store.release_expired_jobs(now)
        jobs = await self._store.claim_jobs(
            self._kind, self._owner, self._batch_size, now, self._lease_s
        )
        if not jobs:
            return 0
        outcomes = await asyncio.gather(*(self._one(job) for job in jobs))
        await self._store.complete_jobs(list(outcomes))
        return len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: rounds back to back while there is work, else wait."""
        while not stop.is_set():
            try:
                ran = await self.run_once()
            except Exception:  # the store is down: keep the daemon, try again after a pause
                log.exception("inbound_round_failed", kind=str(self._kind))
                ran = 0
            if ran:
                continue
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=self._idle_poll_s, return_when="FIRST_COMPLETED")
            for waiting in waits:
                waiting.cancel()

    async def _one(self, job: ClaimedJob) -> JobOutcome:
        attempt = job.attempts + 1
        try:
            delivered = await _guarded(self._send, job)
        except DeliveryError as exc:
            at = self._clock()
            decision = decide(exc, attempt, at, self._retry, self._rng)
            detail: dict[str, Any] = {"target": job.target}
            if exc.http_status is not None:
                detail["http_status"] = exc.http_status
            if exc.code is not None:
                detail["code"] = exc.code
            if isinstance(decision, GiveUp):
                log.warning("inbound_job_dead", kind=str(self._kind), job=job.job_id,
                            ma_ho_so=job.dossier_code, reason=decision.reason)  # fmt: skip
                message = f"{exc.message} ({decision.reason})"
                return JobOutcome(job.job_id, job.lease_token, JobOutcomeKind.DEAD, at,
                                  message=message, detail=detail)  # fmt: skip
            return JobOutcome(job.job_id, job.lease_token, JobOutcomeKind.RETRY, at,
                              next_attempt_at=decision.at, message=exc.message,
                              detail=detail)  # fmt: skip
        log.info("inbound_job_delivered", kind=str(self._kind), job=job.job_id,
                 ma_ho_so=job.dossier_code)  # fmt: skip
        return JobOutcome(job.job_id, job.lease_token, JobOutcomeKind.DELIVERED, self._clock(),
                          detail={"target": job.target, **delivered.detail})  # fmt: skip


async def _guarded(send: Send, job: ClaimedJob) -> Delivered:
    """A sink or transport bug is a failed attempt of that job, never a stopped loop."""
    try:
        return await send(job)
    except DeliveryError:
        raise
    except Exception as exc:
        log.exception("inbound_send_crashed", job=job.job_id)
        raise RetryableDeliveryError(f"unexpected {type(exc).__name__}: {exc}") from exc
