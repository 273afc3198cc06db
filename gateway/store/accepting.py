"""What accepting a batch of records does, decided once for both store engines.

:func:`plan_accept` reads what the database already holds through two look-ups (the record
id of an idempotency key, and a dossier's latest snapshot and queued snapshots), and returns
an :class:`AcceptPlan`: the rows to insert, the queued snapshots that newer ones supersede,
each dossier's new latest snapshot, the audit entries and the receipts. It never writes; an
engine applies the plan in its transaction, row by row (SQLite) or a few statements for the
whole batch (PostgreSQL). One decision, so the engines cannot drift apart: same states,
same audit entries in the same order, same receipts.

New rows have no id until the engine inserts them: entries and receipts refer to the
:class:`NewRow` itself, and :meth:`AcceptPlan.resolve` swaps in the ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.audit.masking import mask_text
from gateway.canonical import record_from_json, record_to_json
from gateway.errors import TranslationError
from gateway.model import Dossier, ProgressStep, Record, Result, apply_result
from gateway.store.contract import Incoming, Receipt, Rejected, State, Validate, is_backwards

NO_SNAPSHOT = "$.dossier_code: no dossier snapshot with this code was accepted before"


def record_key(record: Record) -> str:
    """The idempotency key of a logical event: the same record pushed twice has one key."""
    body = json.dumps(record_to_json(record), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def stale_reason(latest_status: int | None, new: int) -> str | None:
    """Why a snapshot would move its dossier backwards at the portal, or None if it would not."""
    if latest_status is None or not is_backwards(latest_status, new):
        return None
    return f"superseded: status {int(new)} is older than status {latest_status} accepted before"


@dataclass(slots=True, eq=False)
class NewRow:
    """A record row the plan inserts (compared by identity: two rows may look alike)."""

    key: str
    source: str
    record: Record
    state: State
    error: str = ""
    id: int = 0
    """Set by the engine when it inserts the row."""
    uncertain: bool = False
    """A snapshot this one superseded may be on the portal (an attempt of it may have
    reached it): the worker looks before it creates."""

    @property
    def payload(self) -> str:
        return json.dumps(record_to_json(self.record), ensure_ascii=False)

    @property
    def order_at(self) -> float | None:
        record = self.record
        return record.handled_at.timestamp() if isinstance(record, ProgressStep) else None

    @property
    def status(self) -> int | None:
        return int(self.record.status) if isinstance(self.record, Dossier) else None

    def values(self, now: float) -> tuple[Any, ...]:
        """The row's values for :data:`ROW_COLUMNS`, as both engines insert them."""
        record = self.record
        return (
            self.key,
            self.source,
            str(record.kind),
            record.dossier_code,
            record.agency_code,
            self.order_at,
            self.payload,
            str(self.state),
            self.status,
            now,
            now,
            now,
            self.error or None,
            self.uncertain,
        )


ROW_COLUMNS = (
    "event_key",
    "source",
    "kind",
    "dossier_code",
    "agency_code",
    "order_at",
    "payload",
    "state",
    "status",
    "next_attempt_at",
    "accepted_at",
    "updated_at",
    "last_error",
    "uncertain",
)
"""The ``records`` columns a new row sets (:meth:`NewRow.values`); the rest have defaults."""


RowRef = NewRow | int
"""A record the plan refers to: one it inserts, or the id of one already stored."""


@dataclass(slots=True)
class DossierFacts:
    """What the store holds for one dossier code, as the plan reads and updates it."""

    latest: RowRef | None = None
    latest_status: int | None = None
    latest_payload: str | Dossier | None = None
    """The latest snapshot: its canonical JSON as stored, or the record planned in this batch."""
    queued: list[RowRef] = field(default_factory=list)
    """Snapshots still queued (a newer accepted snapshot supersedes them)."""
    dead: list[int] = field(default_factory=list)
    """Dead-lettered snapshots (a newer accepted snapshot supersedes them too: it carries the
    whole dossier, so the dossier no longer waits for an operator to replay the old one)."""
    uncertain: bool = False
    """One of the queued or dead snapshots may be on the portal: the newer one inherits it."""

    def snapshot(self) -> Dossier | None:
        if self.latest_payload is None or isinstance(self.latest_payload, Dossier):
            return self.latest_payload
        record = record_from_json(json.loads(self.latest_payload))
        assert isinstance(record, Dossier)
        return record


@dataclass(slots=True)
class AcceptPlan:
    """Everything accepting one batch changes, to be applied in one transaction."""

    rows: list[NewRow] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    """Stored queued or dead snapshots that a snapshot of this batch supersedes."""
    latest: dict[str, NewRow] = field(default_factory=dict)
    """Dossier code -> its new latest snapshot (the dossier row is created or updated)."""
    entries: list[tuple[str, RowRef | None, str, dict[str, Any]]] = field(default_factory=list)
    """Audit entries in order: event, record, dossier code, detail."""
    receipts: list[tuple[str, tuple[RowRef, ...], str]] = field(default_factory=list)
    missing_keys: set[str] = field(default_factory=set)
    """Keys the look-up did not know (an engine that prefetches fetches them and plans again)."""

    def audit(self, event: str, ref: RowRef | None, code: str, detail: dict[str, Any]) -> None:
        self.entries.append((event, ref, code, detail))

    def resolved_entries(self) -> list[tuple[str, int | None, str, dict[str, Any]]]:
        return [
            (
                event,
                _id(ref),
                code,
                {k: _id(v) if isinstance(v, NewRow) else v for k, v in d.items()},
            )
            for event, ref, code, d in self.entries
        ]

    def resolved_receipts(self) -> list[Receipt]:
        return [
            Receipt(status, tuple(_id(r) or 0 for r in refs), reason)
            for status, refs, reason in self.receipts
        ]


def _id(ref: RowRef | None) -> int | None:
    if isinstance(ref, NewRow):
        assert ref.id, "the engine inserts every planned row before resolving"
        return ref.id
    return ref


KeyLookup = Callable[[str], int | None]
"""The stored record id of an idempotency key, or None. May raise :class:`KeyError` for a
key it was not given in advance (the key is then planned as absent and listed in
``missing_keys``)."""

FactsLookup = Callable[[str], DossierFacts]
"""A fresh :class:`DossierFacts` of a dossier code (the plan updates its own copy)."""


def plan_accept(
    items: Sequence[Incoming | Rejected],
    *,
    validate: Validate,
    key_id: KeyLookup,
    facts: FactsLookup,
) -> AcceptPlan:
    """Decide what accepting ``items`` does, given what the store holds (see module doc)."""
    return _Planner(validate, key_id, facts).plan(items)


class _Planner:
    def __init__(self, validate: Validate, key_id: KeyLookup, facts: FactsLookup) -> None:
        self._validate = validate
        self._key_id = key_id
        self._facts_of = facts
        self._facts: dict[str, DossierFacts] = {}
        self._new_keys: dict[str, NewRow] = {}
        self.out = AcceptPlan()

    def plan(self, items: Sequence[Incoming | Rejected]) -> AcceptPlan:
        for item in items:
            self.out.receipts.append(self._one(item))
        return self.out

    def _facts_for(self, code: str) -> DossierFacts:
        if code not in self._facts:
            self._facts[code] = self._facts_of(code)
        return self._facts[code]

    def _known(self, key: str) -> RowRef | None:
        if key in self._new_keys:
            return self._new_keys[key]
        try:
            return self._key_id(key)
        except KeyError:
            self.out.missing_keys.add(key)
            return None

    def _one(self, item: Incoming | Rejected) -> tuple[str, tuple[RowRef, ...], str]:
        if isinstance(item, Rejected):
            detail = {"source": item.source, "raw_digest": item.raw_digest, "reason": item.reason}
            self.out.audit("intake_rejected", None, "", detail)
            return ("rejected", (), item.reason)
        record = item.record
        key = record_key(record)
        duplicate = self._duplicate(key, item, record.dossier_code)
        if duplicate:
            return duplicate
        if isinstance(record, Result):
            return self._result(item, record, key)
        return self._insert(item, record, key)

    def _duplicate(
        self, key: str, item: Incoming, code: str
    ) -> tuple[str, tuple[RowRef, ...], str] | None:
        known = self._known(key)
        if known is None:
            return None
        detail = {"source": item.source, "raw_digest": item.raw_digest}
        self.out.audit("duplicate_ignored", known, code, detail)
        return ("duplicate", (known,), "")

    def _row(self, key: str, item: Incoming, record: Record, state: State, error: str) -> NewRow:
        row = NewRow(key, item.source, record, state, mask_text(error))  # reasons may quote data
        self.out.rows.append(row)
        self._new_keys[key] = row
        return row

    def _quarantine(
        self, item: Incoming, record: Record, key: str, reason: str
    ) -> tuple[str, tuple[RowRef, ...], str]:
        row = self._row(key, item, record, State.QUARANTINED, reason)
        detail = {"source": item.source, "raw_digest": item.raw_digest, "reason": reason}
        self.out.audit("quarantined", row, record.dossier_code, detail)
        return ("quarantined", (row,), reason)

    def _result(
        self, item: Incoming, result: Result, key: str
    ) -> tuple[str, tuple[RowRef, ...], str]:
        snapshot = self._facts_for(result.dossier_code).snapshot()
        if snapshot is None:
            return self._quarantine(item, result, key, NO_SNAPSHOT)
        update, step = apply_result(snapshot, result)
        first = self._insert(item, update, key)
        second = self._insert(item, step, record_key(step))
        status = "quarantined" if "quarantined" in (first[0], second[0]) else "accepted"
        return (status, first[1] + second[1], first[2] or second[2])

    def _insert(
        self, item: Incoming, record: Dossier | ProgressStep, key: str
    ) -> tuple[str, tuple[RowRef, ...], str]:
        code = record.dossier_code
        duplicate = self._duplicate(key, item, code)
        if duplicate:
            return duplicate
        try:
            self._validate(record)
        except TranslationError as exc:
            return self._quarantine(item, record, key, str(exc))
        base = {"source": item.source, "raw_digest": item.raw_digest}
        facts = self._facts_for(code) if isinstance(record, Dossier) else None
        if facts is not None:
            stale = stale_reason(facts.latest_status, record.status)
            if stale is not None:
                row = self._row(key, item, record, State.SUPERSEDED, stale)
                self.out.audit("superseded", row, code, {**base, "reason": "status_backwards"})
                return ("accepted", (row,), stale)
        row = self._row(key, item, record, State.QUEUED, "")
        self.out.audit("received", row, code, base)
        translated = {"kind": str(record.kind), "status": record.status.value, "event_key": key}
        self.out.audit("translated", row, code, translated)
        if facts is not None:
            self._supersede(facts, row, code)
        self.out.audit("queued", row, code, {})
        return ("accepted", (row,), "")

    def _supersede(self, facts: DossierFacts, newer: NewRow, code: str) -> None:
        """``newer`` becomes the dossier's latest snapshot; the queued ones it replaces are
        superseded (they were never sent; the newer one carries the whole dossier), and so
        are the dead-lettered ones (the portal refused them; the newer one goes instead, and
        the steps waiting for the dossier wait for it)."""
        newer.uncertain = facts.uncertain or any(
            old.uncertain for old in facts.queued if isinstance(old, NewRow)
        )
        for old in facts.queued:
            if isinstance(old, NewRow):
                old.state = State.SUPERSEDED
            else:
                self.out.superseded.append(old)
            self.out.audit("superseded", old, code, {"by": newer})
        for dead in facts.dead:
            self.out.superseded.append(dead)
            self.out.audit("superseded", dead, code, {"by": newer, "from_state": "dead"})
        assert isinstance(newer.record, Dossier)
        facts.queued, facts.dead, facts.uncertain = [newer], [], newer.uncertain
        facts.latest, facts.latest_status = newer, int(newer.record.status)
        facts.latest_payload = newer.record
        self.out.latest[code] = newer
