"""The simulator's X-Road SOAP front refuses what a security server or the portal would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from lxml import etree

from gateway.config.schema import XRoadMemberConfig, XRoadSoapConfig
from gateway.encoders.dvcqg_json import encode_dossier, envelope
from gateway.encoders.wsdl import SOAP_ENV, XROAD_NS, parse_xml
from gateway.routes.xroad_soap import NO_SESSION, build_envelope
from gateway.simulator.portal import SimulatorSettings, create_app
from tests.factories import dossier

CONFIG = XRoadSoapConfig(
    security_server_url="http://unused",
    client=XRoadMemberConfig(member_code="000.00.00.H56", subsystem_code="motcua"),
)
XML = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}


@pytest.fixture
async def url() -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield f"http://127.0.0.1:{port}/xroad"
    await runner.cleanup()


def request(**item_changes: object) -> bytes:
    item = {**encode_dossier(dossier()), **item_changes}
    body = envelope(session=NO_SESSION, agency_code="000.00.00.H56", service="DongBoHoSoMC",
                    data=[item], updating=False)  # fmt: skip
    if item_changes:  # bypass our own contract check to see the simulator's
        from gateway.encoders import xroad_soap
        from gateway.encoders.wsdl import codec
        from gateway.routes.xroad_soap import member

        headers = xroad_soap.headers(client=member(CONFIG.client), provider=member(CONFIG.provider),
                                     operation="DongBoHoSoMC", message_id="m-1")  # fmt: skip
        return codec().build(xroad_soap.message(body, header_values=headers))
    return build_envelope(CONFIG, body, issue="X", message_id="m-1")


async def post(url: str, raw: bytes, headers: dict[str, str] = XML) -> tuple[int, etree._Element]:
    async with aiohttp.ClientSession() as http, http.post(url, data=raw, headers=headers) as resp:
        return resp.status, parse_xml(await resp.read())


def fault_code(root: etree._Element) -> str:
    code = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault/faultcode")
    return "" if code is None else (code.text or "")


async def test_a_valid_request_is_answered_with_echoed_headers_and_request_hash(url: str) -> None:
    status, root = await post(url, request())
    assert status == 200
    assert fault_code(root) == ""
    header = root.find(f"{{{SOAP_ENV}}}Header")
    assert header is not None
    names = [etree.QName(c).localname for c in header]
    assert names == ["client", "service", "id", "requestHash", "issue", "protocolVersion"]
    assert header.find(f"{{{XROAD_NS}}}id").text == "m-1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "headers", "code"),
    [
        (request(), {"Content-Type": "application/soap+xml"}, "Client.InvalidContentType"),
        (request(), {**XML, "SOAPAction": "urn:unquoted"}, "Client.InvalidSoapAction"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', XML,
         "Client.InvalidXml"),
        (b"<notsoap/>", XML, "Client.InvalidSoap"),
        (request().replace(b"<ns6:protocolVersion", b"<ns6:protocolVersionX").replace(
            b"</ns6:protocolVersion>", b"</ns6:protocolVersionX>"), XML,
         "Client.MissingHeaderField"),
        (request().replace(b">4.0<", b">3.1<"), XML, "Client.InvalidProtocolVersion"),
        (request().replace(b"vpcpdvcprovider", b"someoneelse"), XML,
         "Server.ClientProxy.UnknownMember"),
        (request(NgayHenTra="27/11/2026"), XML, "DVCQG.InvalidRequest"),
        (request(TrangThaiHoSo="11"), XML, "DVCQG.InvalidRequest"),
    ],
)  # fmt: skip
async def test_what_the_security_server_or_the_portal_refuses(
    url: str, raw: bytes, headers: dict[str, str], code: str
) -> None:
    status, root = await post(url, raw, headers)
    assert status == 200  # a security server answers faults with HTTP 200
    assert fault_code(root) == code
