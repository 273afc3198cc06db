"""Turning what happened to a claimed record into its :class:`~gateway.store.contract.Outcome`.

The delivery worker decides *what* happened (delivered, refused, failed, deferred); this
builds the outcome the store applies: the retry decision for a failure (logged once), the
portal's answer, the latency, and for the audit log the request the call sent, described
once per call (digest of the exact bytes, body with personal data masked, only this
record's part of it). The portal's message is masked for the record's own personal values
too: a refusal may quote the value it refused.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import structlog

from gateway.audit.attempts import DescribedRequest, SentRequest, describe_request, peek_request
from gateway.audit.masking import mask_known, record_values
from gateway.config.schema import RetryConfig
from gateway.delivery.retry import GiveUp, decide
from gateway.errors import DeliveryError, PermanentDeliveryError
from gateway.model import Dossier, ProgressStep
from gateway.routes.contract import NOT_SYNCED, Sent
from gateway.store.contract import Claimed, Outcome, OutcomeKind

log = structlog.get_logger("gateway.delivery")


class Outcomes:
    """Builds outcomes for one worker (its clock, retry settings and route names)."""

    def __init__(
        self,
        retry: RetryConfig,
        route_of: Callable[[str], str],
        clock: Callable[[], float],
        rng: random.Random,
        audit_body_bytes: int,
    ) -> None:
        self._retry = retry
        self._route_of = route_of
        self._clock = clock
        self._rng = rng
        self._audit_body_bytes = audit_body_bytes
        self._described: tuple[SentRequest, DescribedRequest] | None = None

    def reconfigure(self, retry: RetryConfig) -> None:
        self._retry = retry

    def delivered(self, claimed: Claimed, sent: Sent, started: float) -> Outcome:
        """The portal accepted the call (or the route left this dossier out on purpose)."""
        if claimed.record.dossier_code in sent.not_synced:  # the route left it out on purpose
            why = "derived inter-agency dossier: not synced (spec §1.5)"
            return self.outcome(
                claimed,
                OutcomeKind.DELIVERED,
                started,
                portal_code=NOT_SYNCED,
                message=why,
                not_synced=True,
            )
        return self.outcome(
            claimed,
            OutcomeKind.DELIVERED,
            started,
            http_status=sent.http_status,
            portal_code=sent.portal_code,
            message=sent.message,
        )

    def failed(self, claimed: Claimed, exc: DeliveryError, started: float) -> Outcome:
        """A failed attempt: retried later (backoff, Retry-After) or dead-lettered."""
        now = self._clock()
        decision = decide(exc, claimed.attempts + 1, now, self._retry, self._rng)
        bound = log.bind(
            ma_ho_so=claimed.record.dossier_code,
            route=self._route_of(claimed.record.agency_code),
            attempt=claimed.attempts + 1,
            record_id=claimed.record_id,
        )
        error = mask_known(str(exc), record_values(claimed.record))  # a portal may quote data
        if isinstance(decision, GiveUp):
            bound.warning(
                "record_dead_lettered", reason=decision.reason, error=error, error_code=exc.code
            )
            kind, next_at = OutcomeKind.DEAD, 0.0
        else:
            bound.debug("delivery_retry_scheduled", error=error, delay_s=decision.at - now)
            kind, next_at = OutcomeKind.RETRY, decision.at
        return self.outcome(
            claimed,
            kind,
            started,
            next_attempt_at=next_at,
            http_status=exc.http_status,
            portal_code=exc.code,
            message=str(exc),
        )

    def deferred(self, claimed: Claimed, at: float, why: str) -> Outcome:
        """Not attempted (breaker open, budget spent): back in the queue, no attempt used."""
        return self.outcome(
            claimed, OutcomeKind.DEFERRED, self._clock(), next_attempt_at=at, message=why
        )

    def outcome(
        self,
        claimed: Claimed,
        kind: OutcomeKind,
        started: float,
        *,
        next_attempt_at: float = 0.0,
        http_status: int | None = None,
        portal_code: str | None = None,
        message: str = "",
        not_synced: bool = False,
    ) -> Outcome:
        """Any outcome, with the request this task's call sent (if any) for the audit."""
        now = self._clock()
        target = digest = body = ""
        items: int | None = 1
        request = peek_request()  # every record of one portal call shares its request
        if request is not None:
            target = request.target
            described = self._describe(request)
            digest, items = described.digest, described.items
            code = claimed.record.dossier_code
            body = described.body_for(claimed.record_id, code, self._audit_body_bytes)
        return Outcome(
            record_id=claimed.record_id,
            lease_token=claimed.lease_token,
            kind=kind,
            at=now,
            route=self._route_of(claimed.record.agency_code),
            next_attempt_at=next_attempt_at,
            http_status=http_status,
            portal_code=portal_code,
            message=mask_known(message, record_values(claimed.record)),
            latency_ms=(now - started) * 1000,
            request_target=target,
            request_digest=digest,
            request_body=body,
            request_items=items,
            not_synced=not_synced,
        )

    def _describe(self, request: SentRequest) -> DescribedRequest:
        """Digest and masked body of a request, worked out once for all the records of its
        call (masking a 50-item body once per item cost more than the call itself)."""
        if self._described is None or self._described[0] is not request:
            self._described = (request, describe_request(request))
        return self._described[1]


def waits_for_next_snapshot(record: Dossier | ProgressStep, exc: PermanentDeliveryError) -> bool:
    """A snapshot refused for a date it does not carry and that the contract excuses for its
    status by inference [I] (``NgayTiepNhan`` for 1, ``NgayHenTra`` for 1 and 3; spec §4.1
    marks both required): it is not at fault in a way an operator can fix, and its dossier's
    next snapshot (which carries the date) supersedes it. It waits instead of being
    dead-lettered, which would hold the dossier's later records behind it."""
    if not isinstance(record, Dossier):
        return False
    missing = {"NgayTiepNhan": record.received_at is None, "NgayHenTra": record.due_at is None}
    return any(absent and name in exc.message for name, absent in missing.items())
