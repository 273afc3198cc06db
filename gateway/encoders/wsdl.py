"""The zeep boundary: SOAP envelopes built and parsed from the contract WSDL.

zeep reads ``contracts/dvcqg/v1/dvcqg-v1.wsdl`` once (with DTDs, entities and external
resources forbidden), builds request envelopes and parses response bodies; it never sends
anything (the route's aiohttp session does). Every XML document we receive is parsed here
with a hardened lxml parser: no DTD (a document with a ``DOCTYPE`` is refused), no entity
resolution, no network, no huge trees. zeep and lxml exceptions become
:class:`~gateway.errors.DeliveryError`\\s or :class:`~gateway.errors.TranslationError` here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import zeep
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.helpers import serialize_object

import contracts
from gateway.encoders.xroad_soap import SoapMessage
from gateway.errors import RetryableDeliveryError, TranslationError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
DVCQG_NS = "http://dichvucong.gov.vn/dvcqg/v1"
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
HEADER_ORDER = ("client", "service", "id", "userId", "issue", "protocolVersion")


class UnsafeXmlError(ValueError):
    """The document declares a DTD or cannot be parsed safely."""


def parse_xml(raw: bytes) -> etree._Element:
    """Parse untrusted XML: DTDs and entities refused, no network, size-bounded trees."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise UnsafeXmlError("XML with a DTD or entity declaration is refused")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise UnsafeXmlError("XML with a DTD is refused")
    return root


@dataclass(frozen=True, slots=True)
class SoapAnswer:
    """A parsed SOAP answer: the echoed X-Road headers and the body wrapper's values."""

    headers: dict[str, str]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SoapFault:
    """A SOAP 1.1 Fault (PR-MESS §2.5): ``faultcode`` is a plain dotted string."""

    code: str
    string: str
    detail: str


class SoapCodec:
    """Builds and parses the messages of the contract WSDL."""

    def __init__(self) -> None:
        settings = zeep.Settings(
            strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        self._client: Any = zeep.Client(  # type: ignore[no-untyped-call]
            str(contracts.wsdl_path()), settings=settings
        )

    def build(self, message: SoapMessage) -> bytes:
        """The UTF-8 envelope of ``message``; a value the XSD refuses is a TranslationError."""
        try:
            envelope = self._client.create_message(
                self._client.service,
                message.operation,
                _soapheaders=message.headers,
                **message.body,
            )
        except (ZeepError, TypeError, ValueError) as exc:
            # zeep may quote the value it refused, and reasons reach the audit log: keep the
            # rule and the element names, never a quoted value
            reason = "cannot build SOAP: " + _QUOTED.sub("'…'", str(exc))[:300]
            raise TranslationError.at(f"/{message.operation}", reason) from exc
        raw: bytes = etree.tostring(envelope, encoding="utf-8", xml_declaration=True)
        return raw

    def parse_body(self, wrapper: etree._Element) -> dict[str, Any]:
        """The values of a body wrapper element (request or response) as plain dicts."""
        element = self._client.get_element(wrapper.tag)
        value = element.parse(wrapper, self._client.wsdl.types)
        result: dict[str, Any] = _empty_text(serialize_object(value, dict))  # type: ignore[no-untyped-call]
        return result

    def parse(self, raw: bytes) -> tuple[dict[str, str], str, dict[str, Any]] | SoapFault:
        """A whole envelope: (echoed headers, wrapper local name, values) or its fault."""
        try:
            root = parse_xml(raw)
        except UnsafeXmlError as exc:
            raise RetryableDeliveryError(f"SOAP answer refused: {exc}") from None
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            raise RetryableDeliveryError("answer is XML but not a SOAP 1.1 envelope")
        body = root.find(f"{{{SOAP_ENV}}}Body")
        if body is None or len(body) != 1:
            raise RetryableDeliveryError("SOAP body must have exactly one child element")
        wrapper = body[0]
        if wrapper.tag == f"{{{SOAP_ENV}}}Fault":
            return _fault(wrapper)
        try:
            values = self.parse_body(wrapper)
        except (ZeepError, LookupError, ValueError) as exc:
            raise RetryableDeliveryError(f"SOAP answer does not match the WSDL: {exc}") from None
        return header_texts(root), etree.QName(wrapper).localname, values


def _empty_text(value: Any) -> Any:
    """zeep reads an empty element as ``None``; the JSON form (and the portal) say ``""``."""
    if value is None:
        return ""
    if isinstance(value, list):
        return [_empty_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _empty_text(v) for k, v in value.items()}
    return value


def header_texts(root: etree._Element) -> dict[str, str]:
    """Each X-Road header element as canonical text (for the echo check and the audit)."""
    header = root.find(f"{{{SOAP_ENV}}}Header")
    out: dict[str, str] = {}
    if header is None:
        return out
    for child in header:
        name = etree.QName(child)
        if name.namespace == XROAD_NS:
            parts = [f"{etree.QName(c).localname}={(c.text or '').strip()}" for c in child]
            out[name.localname] = "/".join(parts) if parts else (child.text or "").strip()
    return out


def _fault(fault: etree._Element) -> SoapFault:
    def text(tag: str) -> str:
        node = fault.find(tag)
        return "" if node is None else (node.text or "").strip()

    detail = fault.find("detail")
    detail_text = ""
    if detail is not None:
        detail_text = " ".join(str(t).strip() for t in detail.itertext() if str(t).strip())
    return SoapFault(text("faultcode"), text("faultstring"), detail_text)


@cache
def codec() -> SoapCodec:
    """The one codec of this process (loading the WSDL takes a moment)."""
    return SoapCodec()
