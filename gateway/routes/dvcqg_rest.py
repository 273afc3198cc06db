"""Route ``dvcqg-rest``: the DVCQG adapter's JSON services over HTTPS (spec §3).

Login at ``login_path`` gives a session that is cached for ``session_ttl_s`` and renewed
when the portal reports it expired (once per call). Create-or-update follows spec §7, as
``portal.create_strategy`` says: ``insert-then-update`` (strategy b: a dossier the portal is
not known to hold goes with ``isUpdating = "False"``; if the portal answers "đã tồn tại" it
is sent again as an update) or ``look-up-first`` (strategy a: ``TraCuuHoSo`` decides).
Every request body is checked against its contract (:mod:`gateway.encoders.contract_check`) before
it is sent; a violation is a :class:`~gateway.errors.TranslationError` (quarantine).

The X-Road REST forward and LGSP routes reuse this class: they change where a path is sent
(:meth:`DvcqgRestRoute._url`), add headers (:meth:`DvcqgRestRoute._auth_headers`) and
renew their own tokens (:meth:`DvcqgRestRoute._refused_auth`).

This module is the aiohttp boundary: every aiohttp or timeout exception becomes a
:class:`~gateway.errors.RetryableDeliveryError` here.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import structlog

from contracts.fields import missing_dates
from gateway.audit.attempts import note_request
from gateway.config.schema import PortalConfig
from gateway.encoders.contract_check import check_message
from gateway.encoders.dvcqg_json import PERSONAL_FIELDS, encode_dossier, encode_step, envelope
from gateway.encoders.status_report import status_envelope
from gateway.errors import (
    LookupUnavailableError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SessionExpiredError,
)
from gateway.model import Dossier, ProgressStep
from gateway.routes import http
from gateway.routes.contract import Sent
from gateway.routes.lookup import StepLookupHealth

log = structlog.get_logger("gateway.routes.dvcqg_rest")
Json = dict[str, Any]

DOSSIER_SERVICE = "DongBoHoSoMC"
PROGRESS_SERVICE = "CapNhatTienDoHoSoMC"
LOOKUP_SERVICE = "TraCuuHoSo"
_EXISTS_PHRASE = "đã tồn tại"


class DvcqgRestRoute:
    """Sends records to the DVCQG REST adapter."""

    name = "dvcqg-rest"

    def __init__(
        self, config: PortalConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._clock = clock
        timeout = aiohttp.ClientTimeout(total=config.timeout_s)
        ssl_context: ssl.SSLContext | bool = (
            ssl.create_default_context() if config.verify_tls else False
        )
        self._http = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=64),
            headers={"Accept": "application/json"},
        )
        self._session: str | None = None
        self._session_until = 0.0
        self._login_lock = asyncio.Lock()
        self._lookups = asyncio.Semaphore(8)
        self._step_lookup = StepLookupHealth(self.name, config.progress_lookup_service, clock)

    async def close(self) -> None:
        await self._http.close()

    async def send_dossiers(self, dossiers: Sequence[Dossier], *, on_portal: bool) -> Sent:
        agency = _one_agency(dossiers)
        items = [encode_dossier(d) for d in dossiers]
        check_dates(items, relaxed=self._config.relax_status_dates)
        if not on_portal and self._config.create_strategy == "look-up-first":
            return await self._send_after_look_up(agency, items)
        try:
            return await self._call(DOSSIER_SERVICE, agency, items, updating=on_portal)
        except PermanentDeliveryError as exc:
            if on_portal or len(items) != 1 or not self._already_exists(exc):
                raise
            log.info("dossier_already_on_portal", ma_ho_so=dossiers[0].dossier_code)
            return await self._call(DOSSIER_SERVICE, agency, items, updating=True)

    async def send_steps(self, steps: Sequence[ProgressStep]) -> Sent:
        items = [encode_step(s) for s in steps]
        return await self._call(PROGRESS_SERVICE, _one_agency(steps), items, updating=None)

    async def send_status_report(self, agency: str, data: dict[str, Any]) -> Sent:
        """``DongBoTrangThaiHoSo`` for a portal-hosted dossier (``data`` from
        :func:`gateway.encoders.status_report.encode_status_report`, checked there)."""
        status, code, message, _ = await self._unchecked(
            lambda session: status_envelope(session=session, agency_code=agency, data=data)
        )
        return Sent(status, code, message)

    async def hosted_call(self, agency: str, service: str, params: dict[str, Any]) -> Json:
        """A look-up of portal-hosted dossiers (``DanhSachHoSo``, ``LayTaiLieuHoSo``): the
        answer's payload. These services have no contract in ``contracts/`` yet [?]."""
        body = {"madonvi": agency, "service": service, **params}
        return (await self._unchecked(lambda session: {"session": session, **body}))[3]

    async def _unchecked(
        self, build: Callable[[str], dict[str, Any]]
    ) -> tuple[int, str, str, dict[str, Any]]:
        """:meth:`_with_session` for the services without a JSON Schema contract."""
        for attempt in (1, 2):
            session = await self._current_session()
            try:
                return await self._exchange(self._config.service_path, build(session))
            except SessionExpiredError:
                self._session = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_after_look_up(self, agency: str, items: list[dict[str, Any]]) -> Sent:
        """Spec §7 strategy (a): ``TraCuuHoSo`` for each dossier, then creates and updates."""
        known = [await self.look_up(agency, item["MaHoSo"]) for item in items]
        sent: Sent | None = None
        for updating in (False, True):
            group = [item for item, on in zip(items, known, strict=True) if on is updating]
            if group:
                sent = await self._call(DOSSIER_SERVICE, agency, group, updating=updating)
        assert sent is not None
        return sent

    async def look_up(self, agency: str, dossier_code: str) -> bool:
        """``TraCuuHoSo``: does the portal hold this dossier (non-empty ``result``)?"""
        payload = await self._call_payload(LOOKUP_SERVICE, agency, {"mahoso": dossier_code})
        result = payload.get("result")
        return isinstance(result, list) and bool(result)

    @property
    def looks_up_steps(self) -> bool:
        """Whether the portal can be asked which steps it holds (configured, not refused)."""
        return self._step_lookup.available

    async def steps_on_portal(self, steps: Sequence[ProgressStep]) -> set[int]:
        """Ask ``portal.progress_lookup_service`` which of ``steps`` the portal holds (all
        fields we send equal). Raises :class:`LookupUnavailableError` when the service is not
        configured or the portal does not offer it (refused: learnt once, see
        :mod:`gateway.routes.lookup`), a retryable error when the portal fails to answer."""
        self._step_lookup.check()
        if not steps:
            return set()
        service = self._config.progress_lookup_service
        by_dossier = {step.dossier_code: step.agency_code for step in steps}
        lookups = [self._look_up(service, code, agency) for code, agency in by_dossier.items()]
        try:
            answers = await asyncio.gather(*lookups)
        except LookupUnavailableError:
            raise
        except PermanentDeliveryError as exc:
            raise self._step_lookup.refused(exc) from exc
        self._step_lookup.answered()
        held = dict(zip(by_dossier, answers, strict=True))
        return held_indexes(steps, held)

    async def dossiers_on_portal(self, dossiers: Sequence[Dossier]) -> set[int]:
        """``TraCuuHoSo`` for each dossier: a non-empty result means the portal holds it."""
        lookups = [self._look_up(LOOKUP_SERVICE, d.dossier_code, d.agency_code) for d in dossiers]
        results = await asyncio.gather(*lookups)
        return {index for index, result in enumerate(results) if result}

    async def _look_up(self, service: str, code: str, agency: str) -> list[dict[str, Any]]:
        return await self.share(service, agency, {"mahoso": code})

    async def share(
        self, service: str, agency: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """A sharing service (spec §2.2: look-ups, catalogues): its ``result`` objects, or
        none when ``result`` is not a list. No contract check: several sharing services
        have no contract yet; the caller reads the answer defensively."""
        async with self._lookups:
            for attempt in (1, 2):
                body = {
                    "session": await self._current_session(),
                    "madonvi": agency,
                    "service": service,
                    **(params or {}),
                }
                try:
                    _, _, _, payload = await self._exchange(self._config.service_path, body)
                except SessionExpiredError:
                    self._session = None
                    if attempt == 2:
                        raise
                    continue
                result = payload.get("result")
                if not isinstance(result, list):
                    return []
                return [item for item in result if isinstance(item, dict)]
        raise AssertionError("unreachable")  # pragma: no cover

    def _already_exists(self, exc: PermanentDeliveryError) -> bool:
        codes = {str(c) for c in self._config.exists_error_codes}
        return exc.code in codes and _EXISTS_PHRASE in exc.message.lower()

    async def _call(
        self, service: str, agency: str, data: list[dict[str, Any]], *, updating: bool | None
    ) -> Sent:
        def build(session: str) -> dict[str, Any]:
            return envelope(
                session=session, agency_code=agency, service=service, data=data, updating=updating
            )

        status, code, message, _ = await self._with_session(service, build)
        return Sent(status, code, message, updated=bool(updating))

    async def _call_payload(
        self, service: str, agency: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        def build(session: str) -> dict[str, Any]:
            return {"session": session, "madonvi": agency, "service": service, **params}

        return (await self._with_session(service, build))[3]

    async def _with_session(
        self, service: str, build: Callable[[str], dict[str, Any]]
    ) -> tuple[int, str, str, dict[str, Any]]:
        """Send ``build(session)``; on an expired session log in again, once."""
        # A contract violation quarantines the record before any login or send; the real
        # body differs from this one only by the session.
        check_message(f"{service}.request", build("(session)"))
        for attempt in (1, 2):
            session = await self._current_session()
            try:
                return await self._exchange(self._config.service_path, build(session))
            except SessionExpiredError:
                self._session = None
                if attempt == 2:
                    raise
                log.info("portal_session_expired", service=service, route=self.name)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _current_session(self) -> str:
        async with self._login_lock:
            if self._session is not None and self._clock() < self._session_until:
                return self._session
            body = {"username": self._config.username, "password": self._config.password}
            try:
                _, _, _, payload = await self._exchange(self._config.login_path, body)
            except PermanentDeliveryError as exc:
                # Wrong credentials are an operator's fix, not the record's fault: keep it.
                raise RetryableDeliveryError(
                    f"portal login refused: {exc.message}", code=exc.code
                ) from exc
            session = payload.get("session")
            if not isinstance(session, str) or not session:
                raise RetryableDeliveryError("portal login answered without a session")
            self._session = session
            self._session_until = self._clock() + self._config.session_ttl_s
            log.info("portal_logged_in")
            return session

    def _url(self, path: str) -> str:
        """Where a portal path is sent (the X-Road forwarder and the LGSP change this)."""
        return self._config.base_url.rstrip("/") + path

    async def _auth_headers(self) -> dict[str, str]:
        """Headers a gateway in front of the portal wants (the LGSP adds its token)."""
        return {}

    def _refused_auth(self, http_status: int, headers: Any) -> bool:
        """The gateway in front refused our own token: True to renew it and send once more."""
        return False

    def _classify(self, status: int, headers: Any, raw: bytes) -> tuple[int, str, str, Json]:
        return classify_response(
            status, headers.get("Content-Type", ""), headers.get("Retry-After"), raw, self._config
        )

    async def _exchange(self, path: str, body: dict[str, Any]) -> tuple[int, str, str, Json]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if path == self._config.service_path:  # the record's message, for the audit log
            note_request(f"{path} {body.get('service', '')}".strip(), data, PERSONAL_FIELDS)
        for attempt in (1, 2):
            headers = {"Content-Type": "application/json; charset=utf-8"}
            headers.update(await self._auth_headers())
            try:
                answer = await http.post(
                    self._http,
                    self._url(path),
                    data=data,
                    headers=headers,
                    max_bytes=self._config.max_response_bytes,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise RetryableDeliveryError(f"portal unreachable: {exc!r}") from exc
            if attempt == 1 and self._refused_auth(answer.status, answer.headers):
                log.info("gateway_token_expired", route=self.name)
                continue
            return self._classify(answer.status, answer.headers, answer.body)
        raise SessionExpiredError("the gateway in front of the portal refused a fresh token")


def check_dates(items: Sequence[dict[str, Any]], *, relaxed: bool) -> None:
    """Refuse, before sending, snapshots without a date the portal requires
    (``portal.relax_status_dates``: spec §4.1 as written, or the contract's inference)."""
    for item in items:
        missing = missing_dates(item, relaxed=relaxed)
        if missing:
            names = ", ".join(missing)
            raise PermanentDeliveryError(
                f"{item.get('MaHoSo')}: {names} required by spec §4.1 "
                "(portal.relax_status_dates is false): not sent"
            )


def held_indexes(steps: Sequence[ProgressStep], held: dict[str, list[dict[str, Any]]]) -> set[int]:
    """Indexes of ``steps`` whose encoded form the portal holds (every field we send equal),
    given the items the portal holds per ``MaHoSo``."""
    found = set()
    for index, step in enumerate(steps):
        encoded = encode_step(step)
        items = held.get(step.dossier_code, [])
        if any(all(_same(item.get(k), v) for k, v in encoded.items()) for item in items):
            found.add(index)
    return found


def _same(held: object, sent: object) -> bool:
    """A held value equals the one we sent (an empty text may come back absent or null)."""
    if sent == "" and held in (None, ""):
        return True
    return held == sent


def _one_agency(records: Sequence[Dossier] | Sequence[ProgressStep]) -> str:
    agencies = {r.agency_code for r in records}
    if len(agencies) != 1:
        raise ValueError(f"one portal call carries one agency's records, got {len(agencies)}")
    return agencies.pop()


def classify_response(
    http_status: int,
    content_type: str,
    retry_after: str | None,
    raw: bytes,
    config: PortalConfig,
) -> tuple[int, str, str, dict[str, Any]]:
    """Decide what a portal answer means; return it when it is a success, else raise."""
    if len(raw) > config.max_response_bytes:
        raise RetryableDeliveryError("portal answer too large", http_status=http_status)
    retry_after_s = parse_retry_after(retry_after)
    if http_status == 429 or http_status >= 500 or http_status == 408:
        raise RetryableDeliveryError(
            f"portal answered HTTP {http_status}",
            http_status=http_status,
            retry_after_s=retry_after_s,
        )
    if http_status in (401, 403):
        raise SessionExpiredError(f"portal answered HTTP {http_status}", http_status=http_status)
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        kind = content_type.split(";", maxsplit=1)[0].strip() or "no content type"
        raise RetryableDeliveryError(
            f"portal answer is not JSON ({kind}, HTTP {http_status})", http_status=http_status
        ) from None
    if http_status >= 400:
        message = payload.get("message", "") if isinstance(payload, dict) else ""
        raise PermanentDeliveryError(
            f"portal answered HTTP {http_status}: {message}", http_status=http_status
        )
    if not isinstance(payload, dict) or "error_code" not in payload:
        raise RetryableDeliveryError("portal answer has no error_code", http_status=http_status)
    code = parse_error_code(payload["error_code"])
    message = str(payload.get("message", ""))
    if code is None:
        raise RetryableDeliveryError(
            f"portal error_code {payload['error_code']!r} is not a number", http_status=http_status
        )
    if code == 0:
        return http_status, "0", message, payload
    lowered = message.lower()
    if code in config.session_error_codes or ("phiên" in lowered and "hết hạn" in lowered):
        raise SessionExpiredError(message, code=str(code), http_status=http_status)
    raise PermanentDeliveryError(
        message or "portal refused", code=str(code), http_status=http_status
    )


def parse_error_code(value: object) -> int | None:
    """``0``, ``"0"``, ``"00"`` and ``" 3 "`` are all numbers here (spec §3.1, [C])."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


RETRY_AFTER_MAX_S = 3600.0


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds or as an HTTP date, clamped to [0, 1 h]; None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, RETRY_AFTER_MAX_S))
