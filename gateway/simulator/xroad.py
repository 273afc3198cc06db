"""The X-Road fronts of the simulated portal: the REST forwarder and a SOAP security server.

- ``POST /XrdAdapter/RestService/forward/mapi/{login,g}``: the Vietnamese REST forwarder
  (spec §1.2). ``dstcode`` must name the portal, as a header or a query parameter; without
  it the answer is a PR-REST error object with ``X-Road-Error`` (x-road §2.4).
- ``POST /xroad``: a consumer security server in front of the portal's SOAP services
  (x-road §1, §6): ``text/xml``, a valid ``SOAPAction``, a SOAP 1.1 envelope
  with no DTD, the X-Road headers (validated with ``xmlschema`` against ``xroad.xsd``),
  exactly one body element named after ``serviceCode`` and valid against ``dvcqg-v1.xsd``.
  Technical errors are SOAP Faults with HTTP 200 (as a real security server answers) and
  ``Client.*`` / ``Server.ClientProxy.*`` codes; a body the portal's schema refuses is the
  portal's own fault ``DVCQG.InvalidRequest``; the portal's answers (``error_code``) are in a
  normal ``<op>Response`` body. Every request header is echoed in order, with
  ``requestHash`` (Base64 SHA-512 of the request) after ``id``.

The body is decoded with ``xmlschema`` and handed to the same service layer as ``/mapi/g``.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import xmlschema
from aiohttp import web
from lxml import etree

from contracts.fields import OBJECTS

from . import contracts

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
ID_NS = "http://x-road.eu/xsd/identifiers"
DVCQG_NS = "http://dichvucong.gov.vn/dvcqg/v1"
REQUIRED_HEADERS = ("client", "service", "id", "protocolVersion")
FORWARD = "/XrdAdapter/RestService/forward"
NO_PROVIDER = "Could not find addresses for service provider"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Portal:
    """What the fronts need from the portal: its service layer and its two handlers."""

    serve: Callable[..., dict[str, Any]]
    login: Handler
    service: Handler
    rejection: type[Exception]
    """The portal's refusal; carries ``error_code`` and ``message``."""


class Fault(Exception):
    """A SOAP Fault: ``faultcode`` is a plain dotted string (PR-MESS §2.5)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def register(app: web.Application, portal: Portal, dstcode: str) -> None:
    """Add the REST forwarder and the SOAP security server to the simulator's app."""

    async def forward(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("dstcode") or request.query.get("dstcode")
        if not given:
            return _rest_error(400, "Client.BadRequest", "dstcode is missing")
        if given != dstcode:
            return _rest_error(
                500,
                "Server.ClientProxy.UnknownMember",
                "Could not find addresses for service provider",
            )
        handler = portal.login if request.match_info["op"] == "login" else portal.service
        return await handler(request)

    async def soap(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            return _soap_answer(portal, request, raw, dstcode)
        except Fault as fault:
            return _fault_response(fault)

    app.router.add_post(FORWARD + "/mapi/{op:login|g}", forward)
    app.router.add_post("/xroad", soap)


def _rest_error(status: int, code: str, message: str) -> web.Response:
    body = {"type": code, "message": message, "detail": "sim-0000"}
    return web.json_response(body, status=status, headers={"X-Road-Error": code})


def _parse(raw: bytes) -> etree._Element:
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise Fault("Client.InvalidXml", "DTDs and entity declarations are not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise Fault("Client.InvalidXml", f"Malformed XML: {exc}") from None


def _check_transport(request: web.Request) -> None:
    kind = request.headers.get("Content-Type", "").split(";", maxsplit=1)[0].strip().lower()
    if kind != "text/xml":
        raise Fault("Client.InvalidContentType", f"Invalid content type: {kind or 'none'}")
    action = request.headers.get("SOAPAction")
    if action not in (None, "", '""') and not (action.startswith('"') and action.endswith('"')):
        raise Fault("Client.InvalidSoapAction", "Malformed SOAPAction header")


def _headers(envelope: etree._Element, dstcode: str) -> tuple[list[etree._Element], str]:
    header = envelope.find(f"{{{SOAP_ENV}}}Header")
    children = [] if header is None else [c for c in header if isinstance(c.tag, str)]
    names = {etree.QName(c).localname: c for c in children if etree.QName(c).namespace == XROAD_NS}
    for name in REQUIRED_HEADERS:
        if name not in names:
            raise Fault("Client.MissingHeaderField", f"Required field '{name}' is missing")
    version = (names["protocolVersion"].text or "").strip()
    if not version.startswith("4."):
        raise Fault("Client.InvalidProtocolVersion", f"(supported: 4.x, provided: {version})")
    for child in names.values():
        errors = list(contracts.header_schema().iter_errors(child))
        if errors:
            raise Fault(
                "Client.InvalidSoap", f"header {etree.QName(child).localname}: {errors[0].reason}"
            )
    service = {etree.QName(c).localname: (c.text or "").strip() for c in names["service"]}
    provider = ":".join(
        service.get(k, "") for k in ("xRoadInstance", "memberClass", "memberCode", "subsystemCode")
    )
    if provider != dstcode:
        raise Fault(
            "Server.ClientProxy.UnknownMember", "Could not find addresses for service provider"
        )
    return children, service.get("serviceCode", "")


def _soap_answer(portal: Portal, request: web.Request, raw: bytes, dstcode: str) -> web.Response:
    _check_transport(request)
    envelope = _parse(raw)
    if envelope.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Fault("Client.InvalidSoap", "not a SOAP 1.1 envelope")
    headers, operation = _headers(envelope, dstcode)
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    wrappers = [] if body is None else [c for c in body if isinstance(c.tag, str)]
    if len(wrappers) != 1:
        raise Fault("Client.InvalidBody", "body must have exactly one child element")
    wrapper = wrappers[0]
    if etree.QName(wrapper).localname != operation or etree.QName(wrapper).namespace != DVCQG_NS:
        raise Fault("Client.InconsistentHeaders", "service code does not match in header and body")
    schema = contracts.body_schema()
    if operation not in schema.elements:
        raise Fault("Server.ServerProxy.UnknownService", f"Unknown service: {operation}")
    try:  # one strict pass: validates against the XSD while decoding
        element: Any = wrapper
        values: Any = schema.elements[operation].decode(element, strip_namespaces=True)
    except xmlschema.XMLSchemaValidationError as error:
        raise Fault("DVCQG.InvalidRequest", f"{error.path}: {error.reason}") from None
    json_body = {"service": operation, **_json_values(values, operation)}
    try:
        extra = portal.serve(request.app, json_body, check_session=False)
        code, message = 0, "Thành công"
    except portal.rejection as rejection:
        code, message, extra = getattr(rejection, "error_code", -1), str(rejection), {}
    answer = {"error_code": code, "message": message, **extra}
    return _envelope_response(raw, headers, operation, answer)


_DATA_KINDS = {"DongBoHoSoMC": "HoSo", "CapNhatTienDoHoSoMC": "TienDo"}


def _json_values(values: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """The decoded body as the JSON form: ``None`` -> ``""``, absent arrays -> ``[]``."""
    out = {k: _plain(v) for k, v in values.items() if not k.startswith("@")}
    kind = _DATA_KINDS.get(operation)
    if kind is not None and "data" in out:
        data = out["data"] if isinstance(out["data"], list) else [out["data"]]
        out["data"] = [_complete(item, kind) for item in data]
    return out


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("@")}
    return value


def _complete(item: dict[str, Any], kind: str) -> dict[str, Any]:
    for field in OBJECTS[kind]:
        if field.kind == "array":
            values = item.get(field.name, [])
            values = values if isinstance(values, list) else [values]
            item[field.name] = [_complete(v, field.item) for v in values]
        elif field.name not in item and field.kind != "int":
            item[field.name] = ""
    return item


def _envelope_response(
    request_raw: bytes, headers: list[etree._Element], operation: str, answer: dict[str, Any]
) -> web.Response:
    digest = base64.b64encode(hashlib.sha512(request_raw).digest()).decode("ascii")
    echoed = []
    for child in headers:
        echoed.append(etree.tostring(child, encoding="unicode"))
        if etree.QName(child).localname == "id":
            echoed.append(
                f'<xrd:requestHash xmlns:xrd="{XROAD_NS}" '
                f'algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">{digest}</xrd:requestHash>'
            )
    if "result" in answer:
        answer["result"] = [_drop_empty(r) for r in answer["result"]]
        if not answer["result"]:  # no element at all (an empty list would encode as one)
            del answer["result"]
    element: Any = (
        contracts.body_schema()
        .elements[f"{operation}Response"]
        .encode(answer, namespaces={"": DVCQG_NS})
    )
    body = ET.tostring(element, encoding="unicode")
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}">'
        f"<SOAP-ENV:Header>{''.join(echoed)}</SOAP-ENV:Header>"
        f"<SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    return web.Response(body=text.encode("utf-8"), content_type="text/xml", charset="utf-8")


def _drop_empty(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v != []}


def _fault_response(fault: Fault) -> web.Response:
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}">'
        f"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>{_escape(fault.code)}</faultcode>"
        f"<faultstring>{_escape(fault.text)}</faultstring>"
        "<detail><faultDetail>sim-0000</faultDetail></detail>"
        "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    return web.Response(body=text.encode("utf-8"), content_type="text/xml", charset="utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
