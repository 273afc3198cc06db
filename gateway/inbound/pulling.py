"""Pulling portal-hosted dossiers by date range, for services the portal does not push
(spec dvcqg §2.2: ``DanhSachHoSo`` with ``ngayNhan1``/``ngayNhan2``/``donViXuLy``, then
``LayTaiLieuHoSo`` per dossier for its papers) [C1].

Each round asks for ``[cursor, min(cursor + window_s, now - settle_s))``; the dossiers found
and the new cursor (the end of that range) are committed in one transaction
(:meth:`~gateway.store.inbound.InboundStore.receive_batch`), so a crash in between asks for
the same range again, and ``MaHoSo`` makes the repeat harmless. A dossier that fails the
checks is audited with its field paths and skipped; a failed call leaves the cursor where it
was. The date format of the range parameters is our reading [I]: ``yyyyMMddHHmmss``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from gateway.config.schema import InboundPullConfig
from gateway.errors import DeliveryError, PermanentDeliveryError, StoreError, TranslationError
from gateway.inbound.model import PORTAL_DATE, Limits, parse_portal_dossier
from gateway.model import PORTAL_TZ
from gateway.store.contract import SourceCursor
from gateway.store.inbound import InboundStore

log = structlog.get_logger("gateway.inbound")

Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""``fetch(service, params)``: the answer's payload of one portal call."""
Note = Callable[[str, dict[str, Any], float], Awaitable[None]]
"""The store's audit of an event about no stored record (``Store.note``)."""

SOURCE = "dvcqg-pull"


class HostedPull:
    """One agency's pull loop."""

    def __init__(
        self,
        store: InboundStore,
        fetch: Fetch,
        note: Note,
        config: InboundPullConfig,
        limits: Limits,
        *,
        sink_name: str,
        on_commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._note = note
        self._config = config
        self._limits = limits
        self._sink_name = sink_name
        self._on_commit = on_commit
        self._clock = clock
        self.cursor_name = f"{SOURCE}:{config.agency}"

    async def run_once(self) -> int:
        """One date range; return how many new dossiers it stored."""
        saved = await self._store.get_cursor(self.cursor_name)
        since = datetime.fromisoformat(saved or self._config.start_at)
        if since.tzinfo is None:
            since = since.replace(tzinfo=PORTAL_TZ)
        now = datetime.fromtimestamp(self._clock(), PORTAL_TZ)
        until = min(since + timedelta(seconds=self._config.window_s),
                    now - timedelta(seconds=self._config.settle_s))  # fmt: skip
        if until <= since:
            return 0
        agency = self._config.agency
        listed = await self._fetch("DanhSachHoSo", {
            "ngayNhan1": since.astimezone(PORTAL_TZ).strftime(PORTAL_DATE),
            "ngayNhan2": until.astimezone(PORTAL_TZ).strftime(PORTAL_DATE),
            "donViXuLy": agency,
        })  # fmt: skip
        found = listed.get("result")
        items = []
        for raw in found if isinstance(found, list) else []:
            body = dict(raw) if isinstance(raw, Mapping) else {}
            if "TaiLieuNop" not in body and isinstance(body.get("MaHoSo"), str):
                papers = await self._fetch("LayTaiLieuHoSo", {"mahoso": body["MaHoSo"]})
                body["TaiLieuNop"] = papers.get("result", [])
            try:
                dossier = parse_portal_dossier(body, self._limits)
            except TranslationError as exc:
                await self._refused(body, exc)
                continue
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            items.append((dossier, digest))
        receipts = await self._store.receive_batch(
            SOURCE, items, sink=self._sink_name, now=self._clock(),
            cursor=SourceCursor(self.cursor_name, until.isoformat()),
        )  # fmt: skip
        created = sum(r.status == "created" for r in receipts)
        if created:
            self._on_commit()
        log.info("inbound_pulled", agency=agency, until=until.isoformat(), listed=len(items),
                 created=created)  # fmt: skip
        return created

    async def _refused(self, body: Mapping[str, Any], exc: TranslationError) -> None:
        code = str(body.get("MaHoSo", ""))[:100]
        paths = [p.path for p in exc.problems][:20]
        log.warning("inbound_pull_refused", ma_ho_so=code, paths=paths)
        await self._note("inbound_pull_refused", {"ma_ho_so": code, "paths": paths}, self._clock())

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a range at a time, back to back while behind, else every
        ``interval_s``; a failed call or commit is logged and tried at the next turn."""
        while not stop.is_set():
            behind = False
            try:
                await self.run_once()
                behind = await self._behind()
            except (DeliveryError, StoreError) as exc:
                log.warning("inbound_pull_failed", agency=self._config.agency, error=str(exc))
            if behind:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._config.interval_s)

    async def _behind(self) -> bool:
        saved = await self._store.get_cursor(self.cursor_name)
        if saved is None:
            return False
        horizon = self._clock() - self._config.settle_s
        return datetime.fromisoformat(saved).timestamp() < horizon


def fetch_on(current_route: Callable[[], object], agency: str) -> Fetch:
    """Pull calls on the agency's current road (a reload may change it); a road without
    ``hosted_call`` (the SOAP one) is a permanent failure that names it."""

    async def fetch(service: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        routing = current_route()
        route_for = getattr(routing, "route_for", None)
        route = routing if route_for is None else route_for(agency)
        call = getattr(route, "hosted_call", None)
        if call is None:
            name = getattr(route, "name", type(route).__name__)
            raise PermanentDeliveryError(f"route {name} cannot pull {service}")
        found: Mapping[str, Any] = await call(agency, service, dict(params))
        return found

    return fetch
