"""Sending a status report of a portal-hosted dossier on the agency's road to the portal.

The REST road (and the roads built on it) sends ``DongBoTrangThaiHoSo``; a road that cannot
is a permanent failure that names it, so the report is dead-lettered, not retried forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.encoders.status_report import encode_status_report
from gateway.errors import PermanentDeliveryError, TranslationError
from gateway.routes.contract import Sent


async def send_status_report(routing: object, report: Mapping[str, Any]) -> Sent:
    """Encode ``report`` and send it on the road of its agency (``routing`` is the router,
    or one road)."""
    try:
        data = encode_status_report(report)
    except TranslationError as exc:
        raise PermanentDeliveryError(f"status report refused before sending: {exc}") from exc
    agency = str(report.get("agency_code", ""))
    route_for = getattr(routing, "route_for", None)
    route = routing if route_for is None else route_for(agency)
    sender = getattr(route, "send_status_report", None)
    if sender is None:
        name = getattr(route, "name", type(route).__name__)
        raise PermanentDeliveryError(f"route {name} cannot send DongBoTrangThaiHoSo")
    sent: Sent = await sender(agency, data)
    return sent
