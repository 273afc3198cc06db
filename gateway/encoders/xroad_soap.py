"""Canonical records -> the values of an X-Road SOAP message (x-road §1).

Pure: values in, values out. The body of each operation carries exactly the objects of the
JSON encoder (:mod:`gateway.encoders.dvcqg_json`), so one contract check covers both paths;
this module adds the X-Road header block (x-road §1.4): ``client``, ``service`` (whose
``serviceCode`` is the operation), a fresh ``id`` per attempt (given by the caller, who owns
the randomness), ``issue`` = the business key (``MaHoSo``), ``protocolVersion`` 4.0.
The envelope itself is built by zeep from the contract WSDL in :mod:`gateway.encoders.wsdl`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = "4.0"

PERSONAL_HEADERS = frozenset({"userId"})
"""X-Road header elements that may name a person (the end user a client acts for, PR-MESS
Table 1); the body's personal fields are those of the JSON encoder."""


@dataclass(frozen=True, slots=True)
class XRoadMember:
    """An X-Road client (member or subsystem) or the provider's subsystem (x-road §1.3)."""

    instance: str
    member_class: str
    member_code: str
    subsystem_code: str = ""


@dataclass(frozen=True, slots=True)
class SoapMessage:
    """One SOAP request: operation, X-Road headers and body values, ready for zeep."""

    operation: str
    headers: dict[str, Any]
    body: dict[str, Any]


def identifier(member: XRoadMember, object_type: str) -> dict[str, Any]:
    """An identifier as zeep takes it: children in their XSD order, then ``objectType``."""
    value: dict[str, Any] = {
        "xRoadInstance": member.instance,
        "memberClass": member.member_class,
        "memberCode": member.member_code,
    }
    if member.subsystem_code:
        value["subsystemCode"] = member.subsystem_code
    value["objectType"] = object_type
    return value


def headers(
    *,
    client: XRoadMember,
    provider: XRoadMember,
    operation: str,
    message_id: str,
    issue: str = "",
    service_version: str = "",
    user_id: str = "",
) -> dict[str, Any]:
    """The X-Road header block of one request (PR-MESS Table 1)."""
    service = identifier(provider, "SERVICE")
    service.pop("objectType")
    service["serviceCode"] = operation
    if service_version:
        service["serviceVersion"] = service_version
    service["objectType"] = "SERVICE"
    return {
        "client": identifier(client, "SUBSYSTEM" if client.subsystem_code else "MEMBER"),
        "service": service,
        "id": message_id,
        "userId": user_id or None,
        "issue": issue or None,
        "protocolVersion": PROTOCOL_VERSION,
    }


def message(json_body: dict[str, Any], *, header_values: dict[str, Any]) -> SoapMessage:
    """The SOAP form of a JSON request body: same service, same values, no session
    (on X-Road the security server authenticates the client, not a portal session)."""
    operation = str(json_body["service"])
    body = {k: v for k, v in json_body.items() if k not in ("session", "service")}
    return SoapMessage(operation, header_values, body)
