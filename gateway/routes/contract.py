"""The route contract: one way of reaching the portal (direct REST, X-Road, LGSP).

A route turns canonical records into wire messages (through a pure encoder), sends them,
and classifies every failure at its own boundary into
:class:`~gateway.errors.RetryableDeliveryError` or
:class:`~gateway.errors.PermanentDeliveryError`. Routes cache their session or token and
log in again once when the portal says it expired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gateway.model import Dossier, ProgressStep


@dataclass(frozen=True, slots=True)
class Sent:
    """The portal accepted the message."""

    http_status: int
    portal_code: str
    message: str
    updated: bool = False
    """For a dossier: it went as an update (``isUpdating = "True"``)."""
    not_synced: tuple[str, ...] = ()
    """Dossiers of the call the gateway deliberately did not send (derived inter-agency
    dossiers, spec §1.5): the store remembers them, and their steps are not sent either."""


NOT_SYNCED = "not-synced"
"""The ``portal_code`` of a call the gateway deliberately did not send at all."""


class Route(Protocol):
    """Delivers records in one portal call; raises ``DeliveryError`` subclasses on failure.

    A call is all-or-nothing at the portal (a rejection names the item), so the caller sends
    lists of records of one agency and splits a rejected list to find the record at fault.
    """

    name: str

    async def send_dossiers(self, dossiers: Sequence[Dossier], *, on_portal: bool) -> Sent:
        """``DongBoHoSoMC``. ``on_portal``: the portal is known to hold them (an update).
        A one-item create that the portal says already exists is re-sent as an update."""
        ...

    async def send_steps(self, steps: Sequence[ProgressStep]) -> Sent:
        """``CapNhatTienDoHoSoMC``."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Routing(Protocol):
    """A route that hands each agency's records to another route (the router): the worker
    asks it which one, so breakers, rate limits, logs and the audit name the real route."""

    def route_for(self, agency: str) -> Route: ...


@runtime_checkable
class PortalLookup(Protocol):
    """A route that can tell what the portal already holds. The worker asks before re-sending
    records whose earlier attempt may have reached the portal (an ambiguous failure, a lost
    lease, a refused batch the portal may have applied in part), so a step is not added
    twice and a dossier goes as an update, not a create."""

    @property
    def looks_up_steps(self) -> bool:
        """Whether steps can be looked up now (configured, and not refused by the portal)."""
        ...

    async def steps_on_portal(self, steps: Sequence[ProgressStep]) -> set[int]:
        """Indexes into ``steps`` of those the portal already holds. Raises
        :class:`~gateway.errors.LookupUnavailableError` when the portal cannot be asked (no
        look-up service), another ``DeliveryError`` when the look-up failed."""
        ...

    async def dossiers_on_portal(self, dossiers: Sequence[Dossier]) -> set[int]:
        """Indexes into ``dossiers`` of those the portal already holds (``TraCuuHoSo``)."""
        ...
