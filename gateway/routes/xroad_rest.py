"""Route ``xroad-rest``: the DVCQG JSON through a local X-Road REST forwarder (spec §1.2, §3.1).

Provinces on the national exchange platform (NDXP) reach DVCQG's REST adapter through a
local "XrdAdapter" that forwards plain REST calls to the provider named by ``dstcode``
(``VN:GOV:000.00.00.G22:vpcpdvcprovider``): ``{forwarder}/XrdAdapter/RestService/forward``
followed by the portal path (``/mapi/login``, ``/mapi/g``). OpenCPS sends ``dstcode`` as a
header [C1], Cà Mau's client as a query parameter [C1]: ``routes.xroad_rest.dstcode_in``
chooses (``header``, ``query`` or ``both``). Session and create-or-update are those of
``dvcqg-rest``.

How the forwarder reports X-Road faults is unknown [?] (x-road §7); an answer
carrying ``X-Road-Error`` is read as a PR-REST error object ``{type, message, detail}``
(x-road §2.4) and classified by :mod:`gateway.routes.xroad_faults`; anything else is the portal's
own answer.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from gateway.config.schema import PortalConfig, XRoadRestConfig
from gateway.routes.dvcqg_rest import DvcqgRestRoute, Json
from gateway.routes.xroad_faults import fault_error

MAX_ERROR_TEXT = 500


def forward_url(config: XRoadRestConfig, path: str) -> str:
    """Where the forwarder takes a portal path (with ``dstcode`` in the query if asked)."""
    url = config.forwarder_url.rstrip("/") + config.forward_path + path
    if config.dstcode_in in ("query", "both"):
        url += "?dstcode=" + quote(config.dstcode, safe=":")
    return url


def forward_headers(config: XRoadRestConfig) -> dict[str, str]:
    """The ``dstcode`` header, when the forwarder takes it as a header."""
    return {"dstcode": config.dstcode} if config.dstcode_in in ("header", "both") else {}


class XRoadRestRoute(DvcqgRestRoute):
    """``dvcqg-rest`` through an X-Road REST forwarder."""

    name = "xroad-rest"

    def __init__(self, portal: PortalConfig, xroad: XRoadRestConfig) -> None:
        super().__init__(portal)
        self._xroad = xroad

    def _url(self, path: str) -> str:
        return forward_url(self._xroad, path)

    async def _auth_headers(self) -> dict[str, str]:
        return forward_headers(self._xroad)

    def _classify(self, status: int, headers: Any, raw: bytes) -> tuple[int, str, str, Json]:
        code = headers.get("X-Road-Error")
        if not code:
            return super()._classify(status, headers, raw)
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        text = str(payload.get("message", ""))[:MAX_ERROR_TEXT]
        error = fault_error(str(payload.get("type") or code), text, str(payload.get("detail", "")))
        error.http_status = status
        raise error
