"""The HTTP intake API: ``POST /api/v1/intake/{source}`` with a JSON array of records.

The answer comes only after every accepted record is durably committed (with its audit
entries), so a 200 means the gateway owns the records. Each record gets a receipt, in
input order: ``accepted`` (with record ids), ``duplicate`` (the same logical event was
accepted before: nothing new is stored), ``quarantined`` (stored and visible, but the portal
would refuse it: the reason says which field), or ``rejected`` (the adapter could not
translate it; the errors list each field path and reason; nothing is stored).

Limits: the body size (``intake.max_body_bytes``, 413) and the number of records per request
(``intake.max_records_per_request``, 413). The body is read by the strict JSON reader
(:mod:`~gateway.sources.strict_json`): malformed JSON, nesting deeper than
``input.max_json_depth``, a repeated key or NaN/Infinity is a 400 that names the rule and
says where. Each record is translated and checked against the input rules
(:class:`~gateway.canonical.RecordRules`: dossier-code pattern, date range, control and bidi
characters); a record that fails, or on which the adapter crashes, is rejected with its field
paths while the good records of the same request are stored.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
from aiohttp import web

from adapters.contract import Adapter
from gateway.canonical import DEFAULT_RULES, RecordRules
from gateway.config.schema import IntakeConfig
from gateway.encoders.contract_check import check_message
from gateway.encoders.dvcqg_json import encode_dossier, encode_step, envelope
from gateway.encoders.mapping import MappingTables
from gateway.encoders.messages import Language, localise, rule_of
from gateway.errors import StoreError, TranslationError
from gateway.model import Dossier, ProgressStep, Record
from gateway.sources import strict_json
from gateway.sources.pulling import translate_batch
from gateway.sources.strict_json import DEFAULT_MAX_DEPTH, StrictJsonError
from gateway.store.contract import Receipt, Store

log = structlog.get_logger("gateway.intake")


@dataclass(frozen=True, slots=True)
class IntakeSource:
    """A configured source: its adapter and its optional bearer token."""

    name: str
    adapter: Adapter
    token: str = ""


def validate_for_portal(record: Record) -> None:
    """What the store quarantines instead of queueing: records the portal would refuse."""
    if isinstance(record, Dossier):
        encode_dossier(record)
    elif isinstance(record, ProgressStep):
        encode_step(record)


def portal_validator(tables: MappingTables) -> Callable[[Record], None]:
    """:func:`validate_for_portal` after the mapping tables, plus the contract check of the
    encoded item: an unknown local code or a contract violation is quarantined at intake."""

    def validate(record: Record) -> None:
        record = tables.apply(record)
        if isinstance(record, Dossier):
            item = encode_dossier(record)
            body = envelope(session="-", agency_code=record.agency_code, service="DongBoHoSoMC",
                            data=[item], updating=False)  # fmt: skip
            check_message("DongBoHoSoMC.request", body)
        elif isinstance(record, ProgressStep):
            body = envelope(session="-", agency_code=record.agency_code,
                            service="CapNhatTienDoHoSoMC", data=[encode_step(record)],
                            updating=None)  # fmt: skip
            check_message("CapNhatTienDoHoSoMC.request", body)

    return validate


INTAKE_KEY: web.AppKey[Intake] = web.AppKey("intake")


class Intake:
    """Turns HTTP requests into committed records."""

    def __init__(
        self,
        store: Store,
        sources: Mapping[str, IntakeSource],
        config: IntakeConfig,
        *,
        on_commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        validate: Callable[[Record], None] = validate_for_portal,
        prepare: Callable[[object], object] = lambda raw: raw,
        busy: Callable[[], Awaitable[str | None]] | None = None,
        rules: RecordRules = DEFAULT_RULES,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self._rules = rules
        self._max_depth = max_depth
        self._validate = validate
        self._prepare = prepare
        self._busy = busy
        self._store = store
        self._sources = sources
        self._config = config
        self._on_commit = on_commit
        self._clock = clock
        self.accepting = True
        self.observers: list[Callable[[str, Sequence[Receipt]], None]] = []
        """Called with each committed request's source and receipts (metrics)."""

    def use(
        self,
        sources: Mapping[str, IntakeSource] | None = None,
        *,
        validate: Callable[[Record], None] | None = None,
        prepare: Callable[[object], object] | None = None,
    ) -> None:
        """Switch to new sources and mappings (SIGHUP); requests in flight finish with the
        ones they started with."""
        if sources is not None:  # None: keep them (a new catalogue changes only the check)
            self._sources = dict(sources)
        if validate is not None:
            self._validate = validate
        if prepare is not None:
            self._prepare = prepare

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._config.max_body_bytes)
        app[INTAKE_KEY] = self
        app.router.add_post("/api/v1/intake/{source}", self.handle)
        app.router.add_get("/healthz", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok" if self.accepting else "draining"})

    async def handle(self, request: web.Request) -> web.Response:
        source = self._sources.get(request.match_info["source"])
        if source is None:
            return _error(404, f"unknown source {request.match_info['source']!r}")
        if source.token and not _authorised(request, source.token):
            return _error(401, "missing or wrong bearer token")
        if not self.accepting:
            return _error(503, "the gateway is shutting down", retry_after_s=5)
        try:
            busy = await self._busy() if self._busy is not None else None
        except StoreError as exc:
            return self._store_failed(source, exc)
        if busy is not None:
            log.warning("intake_refused_busy", reason=busy)
            return _error(503, busy, retry_after_s=self._config.busy_retry_after_s)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than {self._config.max_body_bytes} bytes")
        except web.RequestPayloadError:
            # A body that cannot be decoded as its Content-Encoding says (gzip that is not
            # gzip) or a broken chunked encoding: the sender's fault, never a 500.
            return _error(400, "the body could not be read as sent", rule="body")
        try:
            records = strict_json.loads(body, max_depth=self._max_depth)
        except StrictJsonError as exc:
            return _error(400, str(exc), rule=exc.rule)
        if not isinstance(records, list):
            return _error(400, "body must be a JSON array of records")
        if len(records) > self._config.max_records_per_request:
            return _error(
                413, f"more than {self._config.max_records_per_request} records in one request"
            )
        try:
            receipts, problems = await self._accept(source, records)
        except StoreError as exc:
            return self._store_failed(source, exc)
        self._on_commit()
        for observe in self.observers:
            observe(source.name, receipts)
        return web.json_response(_answer(receipts, problems, self._config.language), dumps=_dumps)

    def _store_failed(self, source: IntakeSource, exc: StoreError) -> web.Response:
        """Nothing was committed: 503, and the sender keeps the records and sends again."""
        log.error("intake_store_failed", source=source.name, error=str(exc))
        message = "the gateway's store failed; nothing was stored: send again later"
        return _error(503, message, retry_after_s=self._config.busy_retry_after_s)

    async def _accept(
        self, source: IntakeSource, records: list[Any]
    ) -> tuple[list[Receipt], dict[int, TranslationError]]:
        items, problems = translate_batch(
            source.name, source.adapter, records, rules=self._rules, prepare=self._prepare
        )
        receipts = await self._store.accept(items, now=self._clock(), validate=self._validate)
        log.info(
            "intake_committed", source=source.name, records=len(records), rejected=len(problems)
        )
        return receipts, problems


_dumps = partial(json.dumps, ensure_ascii=False)
"""Receipts carry Vietnamese as it is (UTF-8), never as ``\\uXXXX`` escapes."""


def _answer(
    receipts: list[Receipt], problems: dict[int, TranslationError], language: Language = "en"
) -> dict[str, Any]:
    """The answer body; each error names its path, the rule broken (a schema keyword or a
    catalogue rule) and the reason in ``language``."""
    results: list[dict[str, Any]] = []
    totals = {"accepted": 0, "duplicate": 0, "quarantined": 0, "rejected": 0}
    for index, receipt in enumerate(receipts):
        totals[receipt.status] += 1
        entry: dict[str, Any] = {"index": index, "status": receipt.status}
        if receipt.record_ids:
            entry["ids"] = list(receipt.record_ids)
        if index in problems:
            entry["errors"] = [
                {"path": p.path, "rule": p.rule or rule_of(p.reason),
                 "reason": localise(p.reason, language)}
                for p in problems[index].problems
            ]  # fmt: skip
        elif receipt.reason:
            entry["reason"] = localise(receipt.reason, language)
        results.append(entry)
    return {**totals, "errors": bool(totals["rejected"]), "results": results}


def _authorised(request: web.Request, token: str) -> bool:
    """aiohttp keeps a header's non-UTF-8 bytes as surrogates: they are compared as the bytes
    that came, so a hostile header is a wrong token (401), not an encoding error (500)."""
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def _error(
    status: int, message: str, *, retry_after_s: int | None = None, rule: str = ""
) -> web.Response:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    body = {"error": message, "rule": rule} if rule else {"error": message}
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)
