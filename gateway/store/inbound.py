"""The store contract's inbound side: dossiers filed on the portal, and what goes back.

Two new tables beside the outbox (SQLite migration 5, PostgreSQL migration 6):

- ``inbound_dossiers``: one row per portal-hosted dossier, keyed by ``MaHoSo`` (the
  idempotency key of ``createdossierfromdvcqg``), with the canonical JSON the sinks read.
- ``inbound_jobs``: a queue with the outbox's guarantees, for two kinds of work:
  ``deliver`` (hand a received dossier to the configured sink, down to the local one-stop
  software) and ``report`` (send a status change of a portal-hosted dossier back to the
  portal with ``DongBoTrangThaiHoSo``). States and moves are the outbox's::

      queued ──claim──> leased ──delivered──> delivered
        ^                 │ ├──retryable────> queued (attempts+1, next_attempt_at later)
        └──lease expired──┘ └──permanent────> dead ──replay (audited, with who)──> queued

  Ordering: at most one job of a (dossier, kind) is leased at a time, and a job waits for
  every earlier queued job of its dossier and kind, so status reports reach the portal in
  the order they were accepted.

Every method is one transaction with its audit entries (the audit chain is the outbox's).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.inbound.model import InboundDossier
from gateway.store.contract import SourceCursor


class JobKind(enum.StrEnum):
    DELIVER = "deliver"
    REPORT = "report"


class JobOutcomeKind(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


EVENT_PREFIX = {JobKind.DELIVER: "sink", JobKind.REPORT: "status_report"}
"""Audit events read ``sink_delivered``, ``status_report_retry``, ..."""


@dataclass(frozen=True, slots=True)
class InboundReceipt:
    """What the inbound endpoint answers: ``created`` (0) or ``duplicate`` (1)."""

    status: str
    job_id: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    job_id: int
    kind: JobKind
    dossier_code: str
    target: str
    """The sink's name (deliver) or ``portal`` (report)."""
    payload: dict[str, Any]
    attempts: int
    lease_token: int
    uncertain: bool = False
    """An earlier attempt may have reached the target (a lost lease, a retryable failure):
    a sink makes its write idempotent by ``dossier_code`` anyway."""


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: int
    lease_token: int
    kind: JobOutcomeKind
    at: float
    next_attempt_at: float = 0.0
    message: str = ""
    detail: dict[str, Any] | None = None
    """More for the audit entry (the sink's reference, the portal's code)."""


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as the operator sees it (dead letters, tests)."""

    job_id: int
    kind: str
    dossier_code: str
    state: str
    attempts: int
    last_error: str


class InboundStore(Protocol):
    """The inbound tables of a store engine (``SqliteStore.inbound``, ``PostgresStore.inbound``)."""

    async def receive(
        self, source: str, dossier: InboundDossier, digest: str, *, sink: str, now: float
    ) -> InboundReceipt:
        """Store a pushed dossier and its ``deliver`` job with their audit entries, durably,
        before returning; the same ``MaHoSo`` again is a ``duplicate`` (audited, nothing
        stored, whatever its content: the portal's reference identifies the dossier)."""
        ...

    async def receive_batch(
        self,
        source: str,
        items: Sequence[tuple[InboundDossier, str]],
        *,
        sink: str,
        now: float,
        cursor: SourceCursor,
    ) -> list[InboundReceipt]:
        """:meth:`receive` for each pulled dossier, and the pull's new ``cursor`` (the end of
        the date range it covered), in one transaction: the watermark never runs ahead of
        the dossiers it covers."""
        ...

    async def get_cursor(self, source: str) -> str | None:
        """The last cursor saved for a pull (the outbox's ``Store.get_cursor``)."""
        ...

    async def is_portal_hosted(self, dossier_code: str) -> bool: ...

    async def claim_jobs(
        self, kind: JobKind, owner: str, limit: int, now: float, lease_s: float
    ) -> list[ClaimedJob]: ...

    async def complete_jobs(self, outcomes: list[JobOutcome]) -> int:
        """Apply outcomes whose lease is still held; return how many were applied."""
        ...

    async def release_expired_jobs(self, now: float) -> int:
        """Return jobs whose lease expired to the queue, marked ``uncertain``."""
        ...

    async def replay_jobs(
        self, kind: JobKind, *, dossier_code: str = "", by: str, now: float
    ) -> list[int]:
        """Queue dead jobs again (attempts reset), audited with ``by``."""
        ...

    async def jobs(self, kind: JobKind, *, state: str = "") -> list[JobRow]: ...

    async def next_job_due(self, kind: JobKind) -> float | None: ...
