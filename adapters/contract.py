"""The adapter contract: how a vendor's record becomes a canonical record.

An adapter is pure: it takes one raw record (already parsed from JSON, a CSV row, a SQL row)
and returns one canonical record, or raises :class:`~gateway.errors.TranslationError` naming
the field path and the reason. It opens no sockets or files, reads no clock and no
environment: the gateway owns all I/O and passes in everything an adapter needs.

A vendor ships an adapter as an installable package that declares an entry point in the
group ``dvc_gateway.adapters``; the entry point names a factory (usually the class) that is
called with the adapter's own options from the gateway configuration::

    [project.entry-points."dvc_gateway.adapters"]
    acme = "acme_dvc.adapter:AcmeAdapter"

The reference implementation is :class:`adapters.canonical.CanonicalAdapter` (~20 lines).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from gateway.inbound.model import InboundDossier, SinkDelivery
from gateway.model import Record

ENTRY_POINT_GROUP = "dvc_gateway.adapters"


@runtime_checkable
class Adapter(Protocol):
    """Translates one vendor record into one canonical record."""

    name: str
    """Short name, as registered (``canonical``, ``opencps``)."""

    def translate(self, raw: object) -> Record:
        """Return the canonical record, or raise ``TranslationError`` with field paths."""
        ...


AdapterFactory = Callable[[Mapping[str, Any]], Adapter]
"""What an entry point names: called with the adapter's options from the configuration.
It raises ``ConfigError`` (with paths relative to the options) when the options are wrong."""


SINK_ENTRY_POINT_GROUP = "dvc_gateway.sinks"


@runtime_checkable
class Sink(Protocol):
    """The other direction: hands a dossier filed on the national portal down to the vendor's
    one-stop system. Pure like an adapter: it says *what* to deliver (an HTTP body, rows to
    insert, a file for the outbox folder: :data:`gateway.inbound.model.SinkDelivery`); the
    gateway does the I/O, with the outbox's guarantees (retry, order, dead letters, audit).

    Declared in the group ``dvc_gateway.sinks``::

        [project.entry-points."dvc_gateway.sinks"]
        acme = "acme_dvc.sink:AcmeSink"
    """

    name: str

    def render(self, dossier: InboundDossier) -> SinkDelivery:
        """What to deliver for ``dossier``; raise ``TranslationError`` (with field paths) for
        one the vendor's system cannot take: it is dead-lettered, never retried."""
        ...


SinkFactory = Callable[[Mapping[str, Any]], Sink]
