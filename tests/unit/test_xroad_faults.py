"""Table-driven: what each answer of an X-Road security server means for the record.

One boundary classifies (gateway/routes/xroad_soap.py ``classify_soap`` and
gateway/routes/xroad_faults.py); this table is the documentation of its decisions
(x-road §4.3).
"""

from __future__ import annotations

import pytest

from gateway.encoders.wsdl import codec
from gateway.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SessionExpiredError,
)
from gateway.routes.lgsp import parse_token_answer
from gateway.routes.xroad_faults import fault_error
from gateway.routes.xroad_soap import classify_soap

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
IDN = "http://x-road.eu/xsd/identifiers"
TNS = "http://dichvucong.gov.vn/dvcqg/v1"
XML = "text/xml; charset=UTF-8"
MSG_ID = "0b6e4d2a-1111-4c1d-9c33-5f0e8a7b2c10"


def answer(
    error_code: str = "0",
    message: str = "Thành công",
    *,
    msg_id: str = MSG_ID,
    op: str = "DongBoHoSoMC",
    wrapper: str | None = None,
) -> bytes:
    service = (
        f'<xrd:service id:objectType="SERVICE"><id:xRoadInstance>VN</id:xRoadInstance>'
        f"<id:memberClass>GOV</id:memberClass><id:memberCode>000.00.00.G22</id:memberCode>"
        f"<id:subsystemCode>vpcpdvcprovider</id:subsystemCode><id:serviceCode>{op}</id:serviceCode>"
        f"</xrd:service>"
    )
    name = wrapper or f"{op}Response"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{ENV}" xmlns:xrd="{XRD}" '
        f'xmlns:id="{IDN}" xmlns:t="{TNS}"><e:Header>{service}<xrd:id>{msg_id}</xrd:id>'
        f'<xrd:requestHash algorithmId="x">abc=</xrd:requestHash>'
        f"<xrd:protocolVersion>4.0</xrd:protocolVersion></e:Header><e:Body><t:{name}>"
        f"<t:error_code>{error_code}</t:error_code><t:message>{message}</t:message>"
        f"</t:{name}></e:Body></e:Envelope>"
    ).encode()


def fault(code: str, text: str = "failed") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="{ENV}">'
        f"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>{text}</faultstring><detail><faultDetail>6c1e0f3a-uuid</faultDetail>"
        f"</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


OK = None
SOAP_CASES: list[tuple[str, int, str, bytes, type[DeliveryError] | None]] = [
    ("success", 200, XML, answer(), OK),
    ("success, error_code '00'", 200, XML, answer("00"), OK),
    ("portal refusal in the body", 200, XML, answer("-1", "Thiếu MaTTHC"), PermanentDeliveryError),
    ("already exists", 200, XML, answer("-3", "Hồ sơ X đã tồn tại"), PermanentDeliveryError),
    ("fault, HTTP 200, our SS cannot reach the provider", 200, XML,
     fault("Server.ClientProxy.NetworkError"), RetryableDeliveryError),
    ("fault, HTTP 500, malformed request", 500, XML, fault("Client.InvalidSoap"),
     PermanentDeliveryError),
    ("fault, HTTP 200, missing header", 200, XML, fault("Client.MissingHeaderField"),
     PermanentDeliveryError),
    ("fault, access not granted", 200, XML, fault("Server.ServerProxy.AccessDenied"),
     PermanentDeliveryError),
    ("fault, unknown provider", 200, XML, fault("Server.ClientProxy.UnknownMember"),
     PermanentDeliveryError),
    ("fault, backend timeout (ambiguous, idempotent: retry)", 500, XML,
     fault("Server.ServerProxy.ServiceFailed.IOError"), RetryableDeliveryError),
    ("fault, backend answered 503", 200, XML,
     fault("Server.ServerProxy.ServiceFailed.HttpError", "Server responded with error 503"),
     RetryableDeliveryError),
    ("fault, backend answered 404", 200, XML,
     fault("Server.ServerProxy.ServiceFailed.HttpError", "Server responded with error 404: x"),
     PermanentDeliveryError),
    ("fault, service disabled (deferred)", 200, XML, fault("Server.ServerProxy.ServiceDisabled"),
     RetryableDeliveryError),
    ("fault, inconsistent response", 200, XML,
     fault("Server.ClientProxy.ServiceFailed.InconsistentResponse"), RetryableDeliveryError),
    ("fault, outdated global conf", 200, XML, fault("Server.ClientProxy.OutdatedGlobalConf"),
     RetryableDeliveryError),
    ("fault of DVCQG itself, relayed unchanged", 500, XML, fault("DVCQG.InvalidRequest"),
     PermanentDeliveryError),
    ("HTML error page from a proxy", 502, "text/html", b"<html><h1>502</h1></html>",
     RetryableDeliveryError),
    ("HTML 404 page: wrong security server URL", 404, "text/html", b"<html>404</html>",
     PermanentDeliveryError),
    ("wrong content type on HTTP 200", 200, "application/json", b'{"error_code": 0}',
     RetryableDeliveryError),
    ("no content type at all", 200, "", answer(), RetryableDeliveryError),
    ("truncated body", 200, XML, answer()[:-40], RetryableDeliveryError),
    ("answer with a DTD", 200, XML,
     b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "y">]><e>&x;</e>', RetryableDeliveryError),
    ("XML but not SOAP", 200, XML, b"<ok/>", RetryableDeliveryError),
    ("id not echoed", 200, XML, answer(msg_id="someone-else"), RetryableDeliveryError),
    ("answer for another operation", 200, XML, answer(op="TraCuuHoSo"), RetryableDeliveryError),
    ("HTTP 500 without a fault", 500, XML, answer(), RetryableDeliveryError),
    ("too large", 200, XML, answer() + b" " * 70_000, RetryableDeliveryError),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "ctype", "raw", "expected"),
    [case[1:] for case in SOAP_CASES],
    ids=[case[0] for case in SOAP_CASES],
)
def test_soap_answers(
    status: int, ctype: str, raw: bytes, expected: type[DeliveryError] | None
) -> None:
    def classify() -> tuple[int, str, str, dict[str, object]]:
        return classify_soap(
            status, ctype, raw, codec=codec(), operation="DongBoHoSoMC", message_id=MSG_ID,
            max_bytes=64_000,
        )  # fmt: skip

    if expected is None:
        assert classify()[1] == "0"
        return
    with pytest.raises(expected) as caught:
        classify()
    assert type(caught.value) is expected


def test_fault_keeps_its_code_and_the_log_uuid() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        classify_soap(200, XML, fault("Client.InvalidBody"), codec=codec(),
                      operation="DongBoHoSoMC", message_id=MSG_ID, max_bytes=64_000)  # fmt: skip
    assert caught.value.code == "Client.InvalidBody"
    assert "6c1e0f3a-uuid" in caught.value.message


def test_portal_code_and_message_are_kept() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        classify_soap(200, XML, answer("-3", "Hồ sơ X đã tồn tại"), codec=codec(),
                      operation="DongBoHoSoMC", message_id=MSG_ID, max_bytes=64_000)  # fmt: skip
    assert caught.value.code == "-3"
    assert "đã tồn tại" in caught.value.message


@pytest.mark.parametrize(
    ("code", "text", "permanent"),
    [
        ("Client.InvalidHttpMethod", "", True),
        ("Server.ClientProxy.SslAuthenticationFailed", "TLS handshake failed", False),
        ("Server.ClientProxy.SslAuthenticationFailed", "did not supply TLS certificate", True),
        ("Server.ClientProxy.InternalError", "Reading SOAP from request timed out", False),
        ("Server.ClientProxy.IOError", "", False),
        ("Server.ClientProxy.InvalidClientIdentifier", "", True),
        ("Server.ServerProxy.UnknownService", "", True),
        ("Server.ServerProxy.ServiceFailed.NetworkError", "", False),
        ("Server.ServerProxy.ServiceFailed.HttpError", "Server responded with error 504", False),
        ("Server.ServerProxy.ServiceFailed.HttpError", "Server responded with error 403", True),
        ("Server.ServerProxy.DatabaseError", "", False),
        ("Server.ServerProxy.NetworkError", "", False),  # REST spelling, no ServiceFailed
        ("Server", "", False),
        ("DVCQG.InvalidRequest", "", True),
    ],
)
def test_xroad_fault_codes(code: str, text: str, permanent: bool) -> None:
    error = fault_error(code, text)
    assert isinstance(error, PermanentDeliveryError) is permanent
    assert isinstance(error, RetryableDeliveryError) is not permanent
    assert error.code == code


@pytest.mark.parametrize(
    ("status", "raw", "ok"),
    [
        (200, b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}', True),
        (200, b'{"access_token": "t"}', True),
        (401, b'{"error": "invalid_client"}', False),
        (200, b'{"token_type": "Bearer"}', False),
        (200, b"<html>login</html>", False),
        (503, b"", False),
    ],
)
def test_lgsp_token_answers(status: int, raw: bytes, ok: bool) -> None:
    if ok:
        token, lifetime = parse_token_answer(status, raw, 300.0)
        assert token == "t"
        assert lifetime in (3600.0, 300.0)
        return
    with pytest.raises(RetryableDeliveryError) as caught:
        parse_token_answer(status, raw, 300.0)
    assert not isinstance(caught.value, SessionExpiredError)


def test_success_keeps_the_xroad_id_and_request_hash_for_the_audit() -> None:
    _, code, message, _ = classify_soap(
        200, XML, answer(), codec=codec(), operation="DongBoHoSoMC", message_id=MSG_ID,
        max_bytes=64_000,
    )  # fmt: skip
    assert code == "0"
    assert MSG_ID in message
    assert "requestHash abc=" in message
