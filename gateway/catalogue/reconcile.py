"""Reconciliation: what the portal holds against what it acknowledged (issue 16, items 4-5).

For each dossier whose latest snapshot the portal acknowledged (``delivered``) in the range,
``TraCuuHoSo`` says what the portal holds; it is compared with the acknowledged snapshot, as
the gateway encoded it, field by field. Kinds of drift:

- ``missing``: the portal holds no such dossier (lost, or a restored database);
- ``status_behind``: the portal's ``TrangThaiHoSo`` is older than ours (by the ranking of
  :data:`gateway.store.contract.STATUS_RANK`);
- ``portal_ahead``: the portal's status is newer than ours: reported, never "fixed" (sending
  our older snapshot would move the dossier backwards);
- ``fields_different``: same status, other fields differ (the names are listed);
- ``steps_missing``: where a progress look-up exists (``portal.progress_lookup_service``),
  acknowledged steps the portal does not hold (a portal that refuses the look-up is not asked
  again in the run);
- ``not_checked``: the dossier could not be looked up (its code maps to nothing now, or the
  portal refused the look-up); the others are still checked. A portal that is down ends the
  run with the error.

``--fix`` queues again, through the normal queue (ordering, audit, the worker's own checks),
exactly the latest snapshot of a dossier that is missing or behind (a missing one as a create,
with all its steps: the portal lost them too) and the missing steps. A dossier with a newer
snapshot already queued is left to it. The worker looks on the portal before sending a step
again (``uncertain``), so no step arrives twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from gateway.canonical import record_from_json
from gateway.encoders.dvcqg_json import encode_dossier, encode_step
from gateway.encoders.mapping import MappingTables
from gateway.errors import PermanentDeliveryError, TranslationError
from gateway.model import Dossier, ProgressStep
from gateway.store.contract import STATUS_RANK

log = structlog.get_logger("gateway.catalogue")

LOOKUP_SERVICE = "TraCuuHoSo"
REQUEUED_EVENT = "reconcile_requeued"
PAGE = 500
WAITING = ("queued", "leased", "dead", "quarantined")
"""A newer snapshot in one of these states is still to be sent (or to be fixed): reconciling
leaves its dossier to it. A superseded one is not."""
RESYNC_EVENT = "resync_requeued"


class PortalReader(Protocol):
    async def share(
        self, service: str, agency: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


class ReconcileStore(Protocol):
    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    async def requeue_delivered(
        self, record_ids: Sequence[int], *, lost: Sequence[str], event: str, by: str, now: float
    ) -> list[int]: ...

    async def dossier_records(self, codes: Sequence[str]) -> list[tuple[Any, ...]]: ...


class Limiter(Protocol):
    async def acquire(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """A dossier's latest acknowledged snapshot and its acknowledged steps."""

    record_id: int
    dossier: Dossier
    acknowledged_at: float
    steps: tuple[tuple[int, ProgressStep], ...] = ()
    newer_pending: bool = False
    """A newer snapshot of the dossier is waiting in the queue (or was refused)."""


@dataclass(frozen=True, slots=True)
class Drift:
    dossier_code: str
    agency_code: str
    kind: str
    detail: str = ""
    record_ids: tuple[int, ...] = ()
    """What ``--fix`` queues again for it (empty: nothing to queue)."""


@dataclass(slots=True)
class DriftReport:
    checked: int = 0
    drifts: list[Drift] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per agency, per kind."""
        found: dict[str, Counter[str]] = {}
        for d in self.drifts:
            found.setdefault(d.agency_code, Counter())[d.kind] += 1
        return {agency: dict(sorted(c.items())) for agency, c in sorted(found.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "drift": len(self.drifts),
            "counts": self.counts(),
            "drifts": [
                {
                    "dossier_code": d.dossier_code,
                    "agency_code": d.agency_code,
                    "kind": d.kind,
                    "detail": d.detail,
                }
                for d in self.drifts
            ],
            "requeued": self.requeued,
        }


def _literal(value: float) -> str:
    """A float for SQL text (the two engines differ in placeholders; a float is safe inline)."""
    return repr(float(value))


async def acknowledged(
    store: ReconcileStore, since: float, until: float | None, agency: str = ""
) -> list[Acknowledged]:
    """Dossiers whose latest delivered snapshot was acknowledged in ``[since, until)``."""
    upper = f" AND updated_at < {_literal(until)}" if until is not None else ""
    # Only two floats (_literal) reach the text: the engines differ in placeholders.
    where = f"kind = 'dossier' AND state = 'delivered' AND updated_at >= {_literal(since)}{upper}"
    rows = await store.query(
        f"SELECT id, dossier_code, payload, updated_at FROM records WHERE {where} ORDER BY id"  # noqa: S608
    )
    latest: dict[str, tuple[int, Dossier, float]] = {}
    for rid, code, payload, at in rows:
        record = record_from_json(json.loads(payload))
        if isinstance(record, Dossier) and (not agency or record.agency_code == agency):
            latest[str(code)] = (int(rid), record, float(at))
    if not latest:
        return []
    later: list[tuple[Any, ...]] = []
    codes = sorted(latest)
    for start in range(0, len(codes), PAGE):  # only these dossiers' records, a page at a time
        later += await store.dossier_records(codes[start : start + PAGE])
    steps: dict[str, list[tuple[int, ProgressStep]]] = {}
    pending: set[str] = set()
    for rid, code_value, kind, state, payload in later:
        code = str(code_value)
        if code not in latest:
            continue
        if kind == "dossier" and int(rid) > latest[code][0] and state in WAITING:
            pending.add(code)
        elif kind == "progress" and state == "delivered":
            step = record_from_json(json.loads(payload))
            if isinstance(step, ProgressStep):
                steps.setdefault(code, []).append((int(rid), step))
    return [
        Acknowledged(rid, d, at, tuple(steps.get(code, ())), code in pending)
        for code, (rid, d, at) in latest.items()
    ]


def _rank(status: object) -> int | None:
    try:
        return STATUS_RANK[int(str(status))]
    except (KeyError, ValueError):
        return None


def compare(
    ack: Acknowledged,
    held: dict[str, Any] | None,
    held_steps: list[dict[str, Any]] | None,
    tables: MappingTables,
) -> Drift | None:
    """The drift of one dossier, or None. ``held_steps`` None: no progress look-up."""
    mapped = tables.apply(ack.dossier)
    assert isinstance(mapped, Dossier)
    code, agency = mapped.dossier_code, mapped.agency_code
    all_steps = tuple(rid for rid, _ in ack.steps)
    if held is None:
        return Drift(code, agency, "missing", "", (ack.record_id, *all_steps))
    sent = encode_dossier(mapped)
    ours, theirs = _rank(sent.get("TrangThaiHoSo")), _rank(held.get("TrangThaiHoSo"))
    status = f"portal {held.get('TrangThaiHoSo')}, acknowledged {sent.get('TrangThaiHoSo')}"
    if ours is not None and (theirs is None or theirs < ours):
        return Drift(code, agency, "status_behind", status, (ack.record_id,))
    if ours is not None and theirs is not None and theirs > ours:
        return Drift(code, agency, "portal_ahead", status)
    different = sorted(k for k, v in sent.items() if k in held and _same(v, held[k]) is False)
    different += sorted(k for k in sent if k not in held and sent[k] not in ("", None, [], {}))
    if different:
        return Drift(code, agency, "fields_different", ", ".join(different), (ack.record_id,))
    if held_steps is not None:
        missing = []
        for rid, step in ack.steps:
            encoded = encode_step(tables.apply(step))  # type: ignore[arg-type]
            if not any(all(h.get(k) == v for k, v in encoded.items()) for h in held_steps):
                missing.append(rid)
        if missing:
            return Drift(code, agency, "steps_missing", f"{len(missing)} step(s)", tuple(missing))
    return None


def _same(ours: object, theirs: object) -> bool:
    if isinstance(ours, str | int | float) and isinstance(theirs, str | int | float):
        return str(ours).strip() == str(theirs).strip()
    return ours == theirs


async def reconcile(
    store: ReconcileStore,
    portal: PortalReader,
    tables: MappingTables,
    *,
    since: float,
    until: float | None,
    agency: str = "",
    progress_service: str = "",
    fix: bool = False,
    by: str,
    clock: Callable[[], float],
    limiter: Limiter | None = None,
) -> DriftReport:
    """Compare (and with ``fix`` queue again) every dossier acknowledged in the range."""
    report = DriftReport()

    async def ask(service: str, dossier: Dossier) -> list[dict[str, Any]]:
        if limiter is not None:
            await limiter.acquire()
        return await portal.share(service, dossier.agency_code, {"mahoso": dossier.dossier_code})

    for ack in await acknowledged(store, since, until, agency):
        try:
            mapped = tables.apply(ack.dossier)
            assert isinstance(mapped, Dossier)
            found = await ask(LOOKUP_SERVICE, mapped)
        except (TranslationError, PermanentDeliveryError) as exc:
            # this dossier cannot be looked up (a code no table maps now, a refused look-up):
            # say so, check the others; a portal that is down (retryable) ends the run
            code, agency_code = ack.dossier.dossier_code, ack.dossier.agency_code
            report.drifts.append(Drift(code, agency_code, "not_checked", str(exc)))
            continue
        held_steps: list[dict[str, Any]] | None = None
        if progress_service and found:
            try:
                held_steps = await ask(progress_service, mapped)
            except PermanentDeliveryError as exc:  # the portal has no such look-up [?]
                log.warning("progress_lookup_refused", service=progress_service, error=str(exc))
                progress_service = ""  # not asked again in this run
        report.checked += 1
        drift = compare(ack, found[0] if found else None, held_steps, tables)
        if drift is None:
            continue
        report.drifts.append(drift)
        if fix and drift.record_ids and not ack.newer_pending:
            lost = [ack.dossier.dossier_code] if drift.kind == "missing" else []
            report.requeued += await store.requeue_delivered(
                drift.record_ids, lost=lost, event=REQUEUED_EVENT, by=by, now=clock()
            )
    return report


async def resync(
    store: ReconcileStore,
    *,
    since: float,
    until: float | None,
    agency: str = "",
    by: str,
    clock: Callable[[], float],
) -> list[int]:
    """Queue the latest acknowledged snapshot and every acknowledged step of each dossier in
    the range again (as updates; the worker looks before sending a step again). Idempotent:
    what is queued already is not queued twice."""
    queued: list[int] = []
    for ack in await acknowledged(store, since, until, agency):
        if ack.newer_pending:
            continue
        ids = [ack.record_id, *(rid for rid, _ in ack.steps)]
        queued += await store.requeue_delivered(
            ids, lost=[], event=RESYNC_EVENT, by=by, now=clock()
        )
    return queued
