"""Fetch the national catalogue over a route and store it as a new version (issue 16, item 1).

The run: ``LayDanhSachTTHC``, ``LayDanhMucLinhVuc``, ``LayDanhMucCoQuan``, then ``LayThuTuc``
for each procedure (spec §2.2). Every call waits for the rate limit. Each procedure detail is
kept in the store as soon as it arrives, so a run that is interrupted, or stopped by its
``max_details`` bound, is resumed by the next run without asking for those details again. Only
a run that has every detail stores a version: the whole catalogue, what changed since the
previous version, and a ``catalogue_synced`` audit entry in one transaction. A version equal to
the previous one is not stored again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.catalogue.snapshot import (
    Snapshot,
    agency_list,
    changes,
    counts,
    field_list,
    procedure_entry,
    procedure_list,
)
from gateway.config.mappings import load_tables
from gateway.config.schema import GatewayConfig
from gateway.errors import ConfigError, Problem

LIST_PROCEDURES = "LayDanhSachTTHC"
DESCRIBE_PROCEDURE = "LayThuTuc"
LIST_FIELDS = "LayDanhMucLinhVuc"
LIST_AGENCIES = "LayDanhMucCoQuan"


class SharingRoute(Protocol):
    """A route that can ask the portal's sharing services (``DvcqgRestRoute.share`` and the
    routes built on it: ``xroad-rest``, ``lgsp``)."""

    async def share(
        self, service: str, agency: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...


class CatalogueStore(Protocol):
    """What the sync needs of the store (both engines have it)."""

    async def latest_catalogue(self) -> tuple[int, float, str] | None: ...

    async def pending_catalogue(self) -> dict[str, str]: ...

    async def keep_catalogue_detail(self, code: str, detail: str, now: float) -> None: ...

    async def save_catalogue(
        self, content: str, digest: str, changes: dict[str, Any], now: float
    ) -> int: ...


class Limiter(Protocol):
    async def acquire(self) -> None: ...


@dataclass(slots=True)
class SyncReport:
    """What one run did."""

    complete: bool
    version: int | None = None
    """The version stored (or the unchanged current one); None for an unfinished run."""
    stored: bool = False
    """Whether this run stored a new version."""
    fetched: int = 0
    """Procedure details asked for in this run."""
    resumed: int = 0
    """Procedure details an earlier, unfinished run had fetched."""
    remaining: int = 0
    """Details still to fetch (an unfinished run)."""
    calls: int = 0
    changes: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        return counts(self.changes) if self.changes else {}


async def sync_catalogue(
    route: SharingRoute,
    store: CatalogueStore,
    *,
    agency: str,
    clock: Callable[[], float],
    limiter: Limiter | None = None,
    max_details: int = 0,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> SyncReport:
    """One sync run (see the module docstring). ``agency`` is the ``madonvi`` the calls are
    made as; ``max_details`` > 0 bounds the ``LayThuTuc`` calls of this run; ``progress`` is
    told ``(details done, details in all)`` after each one."""
    report = SyncReport(complete=False)

    async def ask(service: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if limiter is not None:
            await limiter.acquire()
        report.calls += 1
        return await route.share(service, agency, params)

    names = procedure_list(await ask(LIST_PROCEDURES))
    fields = field_list(await ask(LIST_FIELDS))
    agencies = agency_list(await ask(LIST_AGENCIES))
    details: dict[str, dict[str, Any] | None] = {}
    for code, text in (await store.pending_catalogue()).items():
        if code in names:
            details[code] = json.loads(text) or None
    report.resumed = len(details)
    todo = [code for code in names if code not in details]
    total = len(names)
    progress(len(details), total)
    for code in todo:
        if max_details and report.fetched >= max_details:
            break
        result = await ask(DESCRIBE_PROCEDURE, {"maTTHC": code})
        detail = result[0] if result else None
        details[code] = detail
        report.fetched += 1
        await store.keep_catalogue_detail(code, json.dumps(detail, ensure_ascii=False), clock())
        progress(len(details), total)
    report.remaining = total - len(details)
    if report.remaining:
        return report
    snapshot = Snapshot(
        procedures={code: procedure_entry(name, details[code]) for code, name in names.items()},
        fields=fields,
        agencies=agencies,
    )
    latest = await store.latest_catalogue()
    previous = Snapshot.from_json(latest[2]) if latest is not None else None
    snapshot = snapshot.with_retired_from(previous)
    report.complete = True
    report.changes = changes(previous, snapshot)
    if latest is not None and previous is not None and previous.digest() == snapshot.digest():
        report.version = latest[0]
        return report
    detail = {"summary": counts(report.changes), "changes": _bounded(report.changes)}
    report.version = await store.save_catalogue(
        snapshot.to_json(), snapshot.digest(), detail, clock()
    )
    report.stored = True
    return report


MAX_LISTED = 200
"""The audit entry lists at most this many codes per kind and change (the counts are whole)."""


def _bounded(report: dict[str, Any]) -> dict[str, Any]:
    return {
        kind: {k: (v[:MAX_LISTED] if isinstance(v, list) else v) for k, v in changes.items()}
        for kind, changes in report.items()
    }


async def current_snapshot(store: CatalogueStore) -> Snapshot | None:
    """The latest stored catalogue, or None before the first sync."""
    latest = await store.latest_catalogue()
    return Snapshot.from_json(latest[2]) if latest is not None else None


def calling_agency(config: GatewayConfig, given: str) -> str:
    """The ``madonvi`` sharing calls are made as: given, configured, or the first mapped one."""
    if given or config.catalogue.agency:
        return given or config.catalogue.agency
    tables = load_tables(config.routes.mappings)
    if tables.agencies is not None and tables.agencies.rows:
        return next(iter(tables.agencies.rows.values()))
    raise ConfigError(
        [Problem("catalogue.agency", "set the madonvi the catalogue calls are made as")]
    )
