"""The route contract: one way of reaching the portal (direct REST, X-Road, LGSP).

A route turns canonical records into wire messages (through a pure encoder), sends them,
and classifies every failure at its own boundary into
:class:`~gateway.errors.RetryableDeliveryError` or
:class:`~gateway.errors.PermanentDeliveryError`. Routes cache their session or token and
log in again once when the portal says it expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.model import Dossier, ProgressStep


@dataclass(frozen=True, slots=True)
class Sent:
    """The portal accepted the message."""

    http_status: int
    portal_code: str
    message: str
    updated: bool = False
    """For a dossier: it went as an update (``isUpdating = "True"``)."""


class Route(Protocol):
    """Delivers one record at a time; raises ``DeliveryError`` subclasses on failure."""

    name: str

    async def send_dossier(self, dossier: Dossier, *, on_portal: bool) -> Sent: ...

    async def send_step(self, step: ProgressStep) -> Sent: ...

    async def close(self) -> None: ...
