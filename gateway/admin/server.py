"""The admin listener: the API, the console and the metrics on one aiohttp application."""

from __future__ import annotations

from aiohttp import web

from gateway.admin.api import AdminApi, AdminDeps
from gateway.admin.console import Console

MAX_BODY_BYTES = 64 * 1024
"""Admin requests are small (filters, a token): nothing bigger is read."""


def admin_app(deps: AdminDeps) -> tuple[web.Application, AdminApi]:
    """The application serving the API (``/api/v1``, ``/healthz``, ``/readyz``, ``/metrics``)
    and the console (``/`` and ``/console``)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    api = AdminApi(deps)
    api.add_routes(app)
    Console(api).add_routes(app)
    return app, api
