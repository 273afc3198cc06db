"""The store contract: the durable outbox every other part talks to.

One local transaction holds a record, its outbox state and its audit entries, so a record
the gateway acknowledged cannot be lost and no state change happens without its audit
entry. Record states::

    queued ──claim──> leased ──delivered──> delivered
      ^                 │ ├──retryable────> queued (attempts+1, next_attempt_at later)
      │                 │ ├──permanent────> dead       (dead-letter, portal's code + message)
      └──lease expired──┘ └──untranslatable─> quarantined (reason + field path)
    queued, dead ──newer snapshot of the same dossier accepted──> superseded
    leased ──back from the lease (retryable, deferred, permanent, lease expired or handed
             back) after a newer snapshot of the dossier was accepted──> superseded
    leased ──lease expired more than max_rescues times──> dead  ("crashed the worker")
    dead ──replay (audited with who asked)──> queued

A snapshot whose status would move the dossier backwards at the portal (see
:func:`is_backwards`) is stored as ``superseded`` at once and never sent.

**Never backwards.** Every snapshot a dossier can still send is its latest accepted one
(``dossiers.latest_snapshot_id``): accepting a newer snapshot supersedes the queued and
dead-lettered older ones; an older snapshot that was leased when the newer one arrived is
superseded when it comes back, whatever brings it back (it is never queued again, so it can
never be sent after the newer one); a replayed dead snapshot that a newer one replaced is
superseded too. A newer snapshot that replaces one whose attempt may have reached the portal
inherits ``uncertain`` (the worker looks before it creates). The decision is made once for
both engines (:mod:`gateway.store.accepting`, :func:`gateway.store.outcomes.settled`).

Per-dossier ordering lives in :meth:`Store.claim`: at most one record of a dossier is leased
at a time (so a newer snapshot is never claimed while an older one is in flight: it waits
for that one's outcome); a dossier's progress steps wait until the dossier exists on the
portal and go in ``handled_at`` order; a step also waits for any snapshot of its dossier
accepted before it that is still queued. Steps are never superseded: a step accepted while
its dossier's snapshot is superseded waits for the newer snapshot (the dossier must be on
the portal) and goes.

**Nothing stuck silently.** A queued step whose dossier is not on the portal, with no
snapshot queued or in flight and one dead-lettered or quarantined, is *blocked*: it waits for
an operator (:meth:`Store.blocked` names the record that blocks it; :meth:`Store.next_due`
leaves it out). Replaying that snapshot releases it; so does a newer snapshot of the
dossier, which supersedes the dead one (the steps then go after it, in their order). A dead
step does not hold the later steps of its dossier: they go, and the step, if replayed,
arrives after them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.model import Dossier, DossierStatus, ProgressStep, Record

STATUS_RANK: dict[int, int] = {1: 1, 2: 2, 4: 3, 5: 3, 6: 3, 3: 4, 7: 4, 8: 4, 9: 5, 10: 6}
"""How far along a dossier is, per ``TrangThaiHoSo`` [I]: submitted < received < processing
(4, and its pauses 5 "supplement requested" and 6 "fees requested", which may go back to 4)
< closed without a result (3 refused, 7 withdrawn, 8 stopped) < 9 finished < 10 returned."""


def is_backwards(delivered_or_queued: DossierStatus | int, new: DossierStatus | int) -> bool:
    """Whether sending ``new`` after ``delivered_or_queued`` would move the dossier backwards
    at the portal. 5/6 -> 4 is allowed (the applicant supplied what was asked)."""
    return STATUS_RANK[int(new)] < STATUS_RANK[int(delivered_or_queued)]


class State(enum.StrEnum):
    """Where a record is in its life."""

    QUEUED = "queued"
    LEASED = "leased"
    DELIVERED = "delivered"
    QUARANTINED = "quarantined"
    DEAD = "dead"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A record an adapter translated, ready to be accepted."""

    source: str
    record: Record
    raw_digest: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A raw record the adapter could not translate: audited, not stored."""

    source: str
    raw_digest: str
    reason: str


@dataclass(frozen=True, slots=True)
class SourceCursor:
    """Where a pulling source (SQL polling, file drop) has read up to. Opaque to the store."""

    source: str
    value: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake answers for one accepted record."""

    status: str  # "accepted" | "duplicate" | "quarantined" | "rejected"
    record_ids: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A leased record, handed to the delivery worker."""

    record_id: int
    record: Dossier | ProgressStep
    attempts: int
    lease_token: int
    on_portal: bool
    """For a dossier: whether the portal already holds it (decides ``isUpdating``)."""
    uncertain: bool = False
    """An earlier attempt may have reached the portal (it ended in a retryable failure, or
    its lease was lost): look before sending a progress step again. A snapshot also inherits
    it from an older snapshot it superseded (that one's call may have created the dossier)."""
    not_synced: bool = False
    """Its dossier is one the route does not sync (a derived inter-agency dossier,
    spec §1.5): a progress step of it is not sent either."""


class OutcomeKind(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    QUARANTINED = "quarantined"
    DEFERRED = "deferred"
    """Not attempted (breaker open, retry budget empty): back to the queue, no attempt used."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-lettered (or quarantined) record as the operator sees it."""

    record_id: int
    state: str
    kind: str
    dossier_code: str
    agency_code: str
    attempts: int
    updated_at: float
    portal_code: str | None
    error: str
    payload: str
    """The canonical JSON of the record."""


@dataclass(frozen=True, slots=True)
class BlockedDossier:
    """Queued records of one dossier that wait for an operator: its snapshot was
    dead-lettered (or quarantined) and nothing newer is queued, so the portal does not hold
    the dossier and its steps cannot go (``gateway.store.outcomes.STEP_BLOCKED_SQL``)."""

    dossier_code: str
    records: int
    """How many queued records (steps) are blocked."""
    first_record_id: int
    blocked_by: int
    """The dead-lettered or quarantined snapshot to replay (or to replace with a newer one)."""
    blocker_state: str
    portal_code: str | None
    error: str


@dataclass(frozen=True, slots=True)
class DeadFilter:
    """Which dead letters a listing or a replay covers; empty fields match everything."""

    record_ids: tuple[int, ...] = ()
    dossier_code: str = ""
    portal_code: str = ""
    since: float | None = None
    """Dead-lettered at or after this time (epoch seconds)."""
    include_quarantined: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed record; the store applies it in one transaction."""

    record_id: int
    lease_token: int
    kind: OutcomeKind
    at: float
    route: str
    next_attempt_at: float = 0.0
    http_status: int | None = None
    portal_code: str | None = None
    message: str = ""
    latency_ms: float = 0.0
    request_target: str = ""
    """For the audit log: where the request went (the service path or operation)."""
    request_digest: str = ""
    """SHA-256 of the exact bytes sent; empty when nothing was sent."""
    request_body: str = ""
    """The request as sent, personal data masked, only this record's items of a call that
    carried several (``gateway.audit.attempts.DescribedRequest.body_for``)."""
    request_items: int | None = 1
    """How many records the call carried (None when the body does not say: not JSON)."""
    not_synced: bool = False
    """Delivered without being sent: the route does not sync this dossier (spec §1.5). The
    store remembers it with the dossier, so its later steps are skipped too."""


Validate = Callable[[Record], None]
"""Raises ``TranslationError`` for a record the portal would refuse (it is quarantined)."""


class Store(Protocol):
    """The durable outbox. Every method is one transaction."""

    async def accept(
        self,
        items: Sequence[Incoming | Rejected],
        *,
        now: float,
        validate: Validate,
        cursor: SourceCursor | None = None,
    ) -> list[Receipt]:
        """Commit the records durably (with audit entries) before returning one receipt per
        item, in order. Rejected items are audited, not stored. A pulling source passes its
        new ``cursor``: it is saved in the same transaction, so the cursor never runs ahead
        of the records it covers (a crash in between re-reads them; the idempotency key
        makes the re-read harmless)."""
        ...

    async def get_cursor(self, source: str) -> str | None:
        """The last cursor saved for a pulling source, or None before its first pull."""
        ...

    async def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        """Lease up to ``limit`` deliverable records, honouring per-dossier ordering."""
        ...

    async def complete(self, outcomes: Sequence[Outcome]) -> int:
        """Apply outcomes whose lease is still held; return how many were applied."""
        ...

    async def heartbeat(self, owner: str, tokens: Sequence[int], now: float, lease_s: float) -> int:
        """Extend the leases ``owner`` still holds; return how many were extended."""
        ...

    async def release_expired(self, now: float, *, max_rescues: int = 5) -> int:
        """Return records whose lease expired to the queue (marked ``uncertain``); a record
        rescued more than ``max_rescues`` times is dead-lettered as crashing the worker.
        Return how many were handled."""
        ...

    async def maintain(self) -> list[str]:
        """Upkeep the delivery loop runs every few seconds: the engine keeps what its query
        planner needs (table statistics) current; return the tables it refreshed."""
        ...

    async def release(self, owner: str, now: float) -> int:
        """At a clean shutdown, return the leases ``owner`` still holds to the queue at once
        (audited ``lease_released``), so no process waits for them to expire. A call may have
        been in flight, so they are marked ``uncertain``; it is not counted as a rescue.
        Return how many were released."""
        ...

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[DeadLetter]:
        """Dead-lettered records matching ``where``, oldest first."""
        ...

    async def replay(self, where: DeadFilter, *, by: str, now: float) -> list[int]:
        """Queue dead letters matching ``where`` again (attempts reset), audited with ``by``.
        A dossier snapshot that a newer one replaced is superseded instead. Return the ids
        queued again."""
        ...

    async def note(self, event: str, detail: dict[str, Any], now: float) -> None:
        """Audit an event that is not about one record (a circuit breaker's transition)."""
        ...

    async def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` of a queued record that is not blocked, or None
        if there is none (a blocked record has no next attempt until an operator acts)."""
        ...

    async def blocked(self, *, limit: int = 1000) -> list[BlockedDossier]:
        """Dossiers whose queued records are blocked behind a dead-lettered or quarantined
        snapshot, by dossier code."""
        ...

    async def counts(self) -> dict[str, int]:
        """Number of records per state."""
        ...

    async def audit_system(self, event: str, detail: dict[str, Any], *, now: float) -> None:
        """Audit a change that belongs to no record (configuration loaded or reloaded, a
        circuit breaker opened or closed) in its own transaction."""
        ...

    async def seal_audit(self, now: float) -> bool:
        """Sign the audit head if entries since the last checkpoint are unsigned."""
        ...

    async def close(self) -> None: ...
