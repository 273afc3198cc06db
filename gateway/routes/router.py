"""The route the delivery worker sees: picks the configured road per agency (``madonvi``).

``routes.agencies`` maps a ``MaDinhDanh`` to one of ``dvcqg-rest``, ``xroad-rest``,
``xroad-soap``, ``lgsp``; every other agency takes ``routes.default``. Before a record is
routed its local codes are mapped to DVCQG codes (:mod:`gateway.encoders.mapping`; an
unknown code quarantines it, naming the table to extend). Derived inter-agency (liên thông)
dossiers (``origin_dossier_code`` set) are not synced, so one citizen's submission is not
counted twice (spec §1.5, [C1]), unless ``routes.sync_derived_dossiers`` is true. The
router names them in :attr:`Sent.not_synced`; the store remembers it with the dossier, and
the delivery worker skips the dossier's progress steps, also after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog

from gateway.config.mappings import load_tables
from gateway.config.schema import GatewayConfig
from gateway.encoders.mapping import MappingTables
from gateway.errors import GatewayError, LookupUnavailableError, TranslationError
from gateway.model import Dossier, ProgressStep
from gateway.routes.contract import NOT_SYNCED, PortalLookup, Route, Sent
from gateway.routes.dvcqg_rest import DvcqgRestRoute
from gateway.routes.lgsp import LgspRoute
from gateway.routes.xroad_rest import XRoadRestRoute
from gateway.routes.xroad_soap import XRoadSoapRoute

log = structlog.get_logger("gateway.routes.router")


def build_router(config: GatewayConfig) -> RouterRoute:
    """The routes the configuration uses, behind one router (raises ConfigError)."""
    routes_config = config.routes
    tables = load_tables(routes_config.mappings)
    used = {routes_config.default, *routes_config.agencies.values()}
    routes: dict[str, Route] = {}
    for name in sorted(used):
        if name == "dvcqg-rest":
            routes[name] = DvcqgRestRoute(config.portal)
        elif name == "xroad-rest":
            routes[name] = XRoadRestRoute(config.portal, routes_config.xroad_rest)
        elif name == "xroad-soap":
            routes[name] = XRoadSoapRoute(config.portal, routes_config.xroad_soap)
        else:
            routes[name] = LgspRoute(config.portal, routes_config.lgsp)
    return RouterRoute(
        routes,
        default=routes_config.default,
        agencies=routes_config.agencies,
        tables=tables,
        sync_derived=routes_config.sync_derived_dossiers,
    )


class RouterRoute:
    """Implements the Route protocol by delegating each call to the agency's route."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        *,
        default: str,
        agencies: Mapping[str, str] | None = None,
        tables: MappingTables | None = None,
        sync_derived: bool = False,
    ) -> None:
        if default not in routes:
            raise ValueError(f"default route {default!r} is not configured")
        self._routes = dict(routes)
        self._default = default
        self._agencies = dict(agencies or {})
        self._tables = tables or MappingTables()
        self._sync_derived = sync_derived
        only = {r.name for r in self._routes.values()}
        self.name = only.pop() if len(only) == 1 else "router"
        """The route's own name when only one is configured (what logs and the audit show)."""

    @property
    def tables(self) -> MappingTables:
        return self._tables

    def route_for(self, agency: str) -> Route:
        """The route an agency's records take."""
        return self._routes[self._agencies.get(agency, self._default)]

    async def send_dossiers(self, dossiers: Sequence[Dossier], *, on_portal: bool) -> Sent:
        mapped = [d for d in (self._tables.apply(d) for d in dossiers) if isinstance(d, Dossier)]
        skipped: tuple[str, ...] = ()
        if not self._sync_derived:
            skipped = tuple(d.dossier_code for d in mapped if d.origin_dossier_code)
            mapped = [d for d in mapped if not d.origin_dossier_code]
            for code in skipped:
                log.info("derived_dossier_not_synced", ma_ho_so=code)
            if not mapped:
                why = "derived inter-agency dossier: not synced (spec §1.5)"
                return Sent(0, NOT_SYNCED, why, not_synced=skipped)
        sent = await self.route_for(mapped[0].agency_code).send_dossiers(
            mapped, on_portal=on_portal
        )
        return replace(sent, not_synced=skipped) if skipped else sent

    async def send_steps(self, steps: Sequence[ProgressStep]) -> Sent:
        mapped = [self._tables.apply(s) for s in steps]
        to_send = [s for s in mapped if isinstance(s, ProgressStep)]
        return await self.route_for(to_send[0].agency_code).send_steps(to_send)

    @property
    def looks_up_steps(self) -> bool:
        """Every configured route can look steps up now (the worker asks per agency)."""
        return all(isinstance(r, PortalLookup) and r.looks_up_steps for r in self._routes.values())

    async def steps_on_portal(self, steps: Sequence[ProgressStep]) -> set[int]:
        """Which steps the portal holds, asked through each agency's route; a route that
        cannot look steps up raises :class:`LookupUnavailableError`."""
        return await self._held(steps, dossiers=False)

    async def dossiers_on_portal(self, dossiers: Sequence[Dossier]) -> set[int]:
        """Which dossiers the portal holds, asked through each agency's route (if it can)."""
        return await self._held(dossiers, dossiers=True)

    async def _held(self, records: Sequence[Dossier | ProgressStep], *, dossiers: bool) -> set[int]:
        groups: dict[str, tuple[PortalLookup, list[tuple[int, Any]]]] = {}
        for index, record in enumerate(records):
            try:
                mapped = self._tables.apply(record)  # the portal holds the mapped codes
            except TranslationError:
                continue  # cannot be on the portal under a code we cannot map
            route = self.route_for(mapped.agency_code)
            if isinstance(route, PortalLookup):
                groups.setdefault(route.name, (route, []))[1].append((index, mapped))
            elif not dossiers:
                raise LookupUnavailableError(f"route {route.name} cannot look progress steps up")
        found: set[int] = set()
        for lookup, items in groups.values():
            mapped_records = [m for _, m in items]
            held = await (
                lookup.dossiers_on_portal(mapped_records)
                if dossiers
                else lookup.steps_on_portal(mapped_records)
            )
            found |= {items[i][0] for i in held}
        return found

    async def share(
        self, service: str, agency: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """A sharing service (catalogue, ``TraCuuHoSo``) through ``agency``'s route (issue 16).
        ``dvcqg-rest`` and the routes built on it (``xroad-rest``, ``lgsp``) can; the SOAP
        route has no operation for these services in the packaged WSDL yet."""
        route = self.route_for(agency)
        share = getattr(route, "share", None)
        if share is None:
            raise GatewayError(
                f"route {route.name} cannot ask the portal's sharing services ({service}): "
                "route this agency over dvcqg-rest, xroad-rest or lgsp for catalogue sync "
                "and reconciliation"
            )
        result: list[dict[str, Any]] = await share(service, agency, params)
        return result

    async def close(self) -> None:
        for route in self._routes.values():
            await route.close()
