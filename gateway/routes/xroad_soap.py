"""Route ``xroad-soap``: DVCQG services as X-Road message protocol 4.0 SOAP (docs/spec/x-road.md).

The request body carries the same objects as ``dvcqg-rest`` (checked against the same JSON
contract first), wrapped by zeep from the contract WSDL with the X-Road header block (a
fresh ``id`` per attempt, ``issue`` = ``MaHoSo``). It is sent by our aiohttp session to our
own security server: ``POST``, ``text/xml; charset=UTF-8``, ``SOAPAction: ""`` (x-road §6). There
is no portal session: the security server authenticates us (mutual TLS when
``tls_client_cert`` is set). Answers are classified here, at one boundary (x-road §4.2):
a SOAP Fault with HTTP 200 or 500 by its ``faultcode`` (:mod:`gateway.routes.xroad_faults`);
HTML pages, truncated or non-XML bodies, wrong content types and answers whose ``id`` or
``service`` do not echo ours are retryable; a body ``error_code`` other than 0 is the
portal's refusal (permanent), except "đã tồn tại" on a one-item create, which goes again as
an update (spec §7), exactly as on the REST route.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import structlog

from gateway.audit.attempts import note_request
from gateway.config.schema import PortalConfig, XRoadSoapConfig
from gateway.encoders import xroad_soap
from gateway.encoders.contract_check import check_message
from gateway.encoders.dvcqg_json import PERSONAL_FIELDS, encode_dossier, encode_step, envelope
from gateway.encoders.wsdl import SoapCodec, SoapFault, codec
from gateway.errors import (
    DeliveryError,
    LookupUnavailableError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from gateway.model import Dossier, ProgressStep
from gateway.routes import http
from gateway.routes.contract import Sent
from gateway.routes.dvcqg_rest import (
    check_dates,
    held_indexes,
    parse_error_code,
    parse_retry_after,
)
from gateway.routes.lookup import StepLookupHealth
from gateway.routes.xroad_faults import fault_error

log = structlog.get_logger("gateway.routes.xroad_soap")

NO_SESSION = "(x-road)"
"""The JSON contract wants a session; on X-Road the security server authenticates us."""
_EXISTS_PHRASE = "đã tồn tại"


def member(config: Any) -> xroad_soap.XRoadMember:
    return xroad_soap.XRoadMember(
        config.instance, config.member_class, config.member_code, config.subsystem_code
    )


class XRoadSoapRoute:
    """Sends records as X-Road SOAP messages to our security server."""

    name = "xroad-soap"

    def __init__(
        self,
        portal: PortalConfig,
        config: XRoadSoapConfig,
        *,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._portal = portal
        self._config = config
        self._new_id = new_id
        self._codec: SoapCodec = codec()
        timeout = aiohttp.ClientTimeout(total=config.timeout_s, connect=config.connect_timeout_s)
        ssl_context: ssl.SSLContext | bool = False
        if config.security_server_url.startswith("https://"):
            ssl_context = ssl.create_default_context()
            if not config.verify_tls:
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            if config.tls_client_cert:
                ssl_context.load_cert_chain(config.tls_client_cert, config.tls_client_key or None)
        self._http = aiohttp.ClientSession(
            timeout=timeout, connector=aiohttp.TCPConnector(ssl=ssl_context, limit=64)
        )
        self._lookups = asyncio.Semaphore(8)
        self._step_lookup = StepLookupHealth(
            self.name, portal.progress_lookup_service, time.monotonic
        )

    async def close(self) -> None:
        await self._http.close()

    async def send_dossiers(self, dossiers: Sequence[Dossier], *, on_portal: bool) -> Sent:
        agency = _one_agency(dossiers)
        items = [encode_dossier(d) for d in dossiers]
        check_dates(items, relaxed=self._portal.relax_status_dates)
        issue = dossiers[0].dossier_code if len(dossiers) == 1 else ""
        if not on_portal and self._portal.create_strategy == "look-up-first":
            known = [await self.look_up(agency, item["MaHoSo"]) for item in items]
            sent: Sent | None = None
            for updating in (False, True):
                group = [i for i, on in zip(items, known, strict=True) if on is updating]
                if group:
                    sent = await self._sync(agency, group, updating, issue)
            assert sent is not None
            return sent
        try:
            return await self._sync(agency, items, on_portal, issue)
        except PermanentDeliveryError as exc:
            if on_portal or len(items) != 1 or not self._already_exists(exc):
                raise
            log.info("dossier_already_on_portal", ma_ho_so=issue, route=self.name)
            return await self._sync(agency, items, True, issue)

    async def send_steps(self, steps: Sequence[ProgressStep]) -> Sent:
        items = [encode_step(s) for s in steps]
        body = envelope(
            session=NO_SESSION,
            agency_code=_one_agency(steps),
            service="CapNhatTienDoHoSoMC",
            data=items,
            updating=None,
        )
        issue = steps[0].dossier_code if len(steps) == 1 else ""
        status, code, message, _ = await self.call(body, issue=issue)
        return Sent(status, code, message)

    async def look_up(self, agency: str, dossier_code: str) -> bool:
        """``TraCuuHoSo`` over SOAP: does the portal hold this dossier?"""
        body = {
            "session": NO_SESSION,
            "madonvi": agency,
            "service": "TraCuuHoSo",
            "mahoso": dossier_code,
        }
        _, _, _, values = await self.call(body, issue=dossier_code)
        return bool(values.get("result"))

    @property
    def looks_up_steps(self) -> bool:
        """Whether the portal can be asked which steps it holds (configured, not refused)."""
        return self._step_lookup.available

    async def steps_on_portal(self, steps: Sequence[ProgressStep]) -> set[int]:
        """``portal.progress_lookup_service`` over SOAP, as on the REST route: which of
        ``steps`` the portal holds. A fault or refusal of the service itself (for instance
        ``Server.ServerProxy.UnknownService``) marks the look-up missing
        (:class:`LookupUnavailableError`); a transient fault is retryable."""
        self._step_lookup.check()
        if not steps:
            return set()
        service = self._portal.progress_lookup_service
        by_dossier = {step.dossier_code: step.agency_code for step in steps}
        asks = [self._held(service, agency, code) for code, agency in by_dossier.items()]
        try:
            answers = await asyncio.gather(*asks)
        except LookupUnavailableError:
            raise
        except PermanentDeliveryError as exc:
            raise self._step_lookup.refused(exc) from exc
        self._step_lookup.answered()
        return held_indexes(steps, dict(zip(by_dossier, answers, strict=True)))

    async def dossiers_on_portal(self, dossiers: Sequence[Dossier]) -> set[int]:
        """``TraCuuHoSo`` for each dossier: a non-empty result means the portal holds it."""
        asks = [self._held("TraCuuHoSo", d.agency_code, d.dossier_code) for d in dossiers]
        results = await asyncio.gather(*asks)
        return {index for index, result in enumerate(results) if result}

    async def _held(self, service: str, agency: str, code: str) -> list[dict[str, Any]]:
        body = {"session": NO_SESSION, "madonvi": agency, "service": service, "mahoso": code}
        async with self._lookups:
            _, _, _, values = await self.call(body, issue=code)
        result = values.get("result")
        if isinstance(result, dict):
            result = [result]
        if not isinstance(result, list):
            return []
        return [item for item in result if isinstance(item, dict)]

    def _already_exists(self, exc: PermanentDeliveryError) -> bool:
        codes = {str(c) for c in self._portal.exists_error_codes}
        return exc.code in codes and _EXISTS_PHRASE in exc.message.lower()

    async def _sync(
        self, agency: str, items: list[dict[str, Any]], updating: bool, issue: str
    ) -> Sent:
        body = envelope(
            session=NO_SESSION,
            agency_code=agency,
            service="DongBoHoSoMC",
            data=items,
            updating=updating,
        )
        status, code, message, _ = await self.call(body, issue=issue)
        return Sent(status, code, message, updated=updating)

    def build(self, body: dict[str, Any], *, issue: str, message_id: str) -> bytes:
        """The envelope for a JSON request body (contract-checked first)."""
        return build_envelope(self._config, body, issue=issue, message_id=message_id)

    async def call(
        self, body: dict[str, Any], *, issue: str
    ) -> tuple[int, str, str, dict[str, Any]]:
        message_id = self._new_id()
        raw = self.build(body, issue=issue, message_id=message_id)
        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
        url = self._config.security_server_url
        personal = PERSONAL_FIELDS | xroad_soap.PERSONAL_HEADERS  # masked in the audit log
        note_request(f"soap {body['service']} {message_id}", raw, personal)
        try:
            answer = await http.post(
                self._http,
                url,
                data=raw,
                headers=headers,
                max_bytes=self._config.max_response_bytes,
                peer="security server",
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"security server unreachable: {exc!r}") from exc
        try:
            return classify_soap(
                answer.status,
                answer.headers.get("Content-Type", ""),
                answer.body,
                codec=self._codec,
                operation=str(body["service"]),
                message_id=message_id,
                max_bytes=self._config.max_response_bytes,
            )
        except DeliveryError as exc:
            if exc.retry_after_s is None and isinstance(exc, RetryableDeliveryError):
                # A 429 or 503 in front of the service says when to come back.
                exc.retry_after_s = parse_retry_after(answer.headers.get("Retry-After"))
            raise


def build_envelope(
    config: XRoadSoapConfig, body: dict[str, Any], *, issue: str, message_id: str
) -> bytes:
    """The SOAP envelope of a JSON request body, contract-checked first (``translate`` too)."""
    check_message(f"{body['service']}.request", body)
    headers = xroad_soap.headers(
        client=member(config.client),
        provider=member(config.provider),
        operation=str(body["service"]),
        message_id=message_id,
        issue=issue,
        service_version=config.service_version,
    )
    return codec().build(xroad_soap.message(body, header_values=headers))


def classify_soap(
    http_status: int,
    content_type: str,
    raw: bytes,
    *,
    codec: SoapCodec,
    operation: str,
    message_id: str,
    max_bytes: int,
) -> tuple[int, str, str, dict[str, Any]]:
    """What an answer of the security server means; return it on success, else raise."""
    if len(raw) > max_bytes:
        raise RetryableDeliveryError("SOAP answer too large", http_status=http_status)
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if kind not in ("text/xml", "application/xml"):
        # an HTML error page from a proxy, or a truncated stream without a type: ambiguous
        error_cls: type[DeliveryError] = RetryableDeliveryError
        if 400 <= http_status < 500 and http_status not in (408, 429):
            error_cls = PermanentDeliveryError
        raise error_cls(
            f"security server answered HTTP {http_status} with {kind or 'no content type'}",
            http_status=http_status,
        )
    parsed = codec.parse(raw)
    if isinstance(parsed, SoapFault):
        error = fault_error(parsed.code, parsed.string, parsed.detail)
        error.http_status = http_status
        raise error
    headers, wrapper, values = parsed
    if http_status != 200:
        raise RetryableDeliveryError(
            f"security server answered HTTP {http_status} without a fault", http_status=http_status
        )
    if wrapper != f"{operation}Response":
        raise RetryableDeliveryError(f"SOAP answer is {wrapper}, expected {operation}Response")
    if headers.get("id") != message_id or operation not in headers.get("service", ""):
        raise RetryableDeliveryError("SOAP answer does not echo our X-Road id and service")
    code = parse_error_code(values.get("error_code"))
    message = str(values.get("message") or "")
    if code == 0:
        # The request hash is the security servers' audit key for this exchange (x-road §1.6).
        trace = f" [x-road id {message_id}, requestHash {headers.get('requestHash', '-')}]"
        return http_status, "0", message + trace, values
    raise PermanentDeliveryError(
        message or "portal refused", code=str(code), http_status=http_status
    )


def _one_agency(records: Sequence[Dossier] | Sequence[ProgressStep]) -> str:
    agencies = {r.agency_code for r in records}
    if len(agencies) != 1:
        raise ValueError(f"one portal call carries one agency's records, got {len(agencies)}")
    return agencies.pop()
