"""A hostile portal on loopback: redirects, answers split across TCP segments, drips, oversize
answers and wrong content types, on every route and every kind of call.

Redirects point at a second server on another loopback address (127.0.0.2) that would answer
"success" to anything: the tests assert it is never contacted (no password, session, token or
record leaves for another host) and that no record is marked delivered. The real delivery
worker and SQLite store run each case, so "not delivered" is read from the database.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from gateway.config.schema import DeliveryConfig, GatewayConfig, RetryConfig, RouteName
from gateway.delivery.worker import DeliveryWorker
from gateway.demo import demo_config
from gateway.errors import RetryableDeliveryError
from gateway.routes.router import RouterRoute, build_router
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier
from tests.hostile import Request, drip_forever, head, raw_server, write_in_pieces
from tests.unit.test_xroad_faults import answer as soap_answer

LOGIN = {
    "dvcqg-rest": "/mapi/login",
    "xroad-rest": "/XrdAdapter/RestService/forward/mapi/login",
    "lgsp": "/lgsp/dvcqg/mapi/login",
}
DATA = {
    "dvcqg-rest": "/mapi/g",
    "xroad-rest": "/XrdAdapter/RestService/forward/mapi/g",
    "lgsp": "/lgsp/dvcqg/mapi/g",
    "xroad-soap": "/xroad",
}
TOKEN = "/lgsp/token"
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=UTF-8"
REDIRECTS = (301, 302, 303, 307, 308)
SUCCESS = {"error_code": 0, "message": "Thành công"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def other_host() -> Iterator[HTTPServer]:
    """Another host (127.0.0.2) that says yes to everything: nothing may ever reach it."""
    server = HTTPServer(host="127.0.0.2", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def stolen(other_host: HTTPServer) -> Iterator[HTTPServer]:
    other_host.clear()
    yes = {**SUCCESS, "session": "stolen", "access_token": "stolen", "expires_in": 3600}
    other_host.expect_request("/steal").respond_with_json(yes)
    yield other_host
    other_host.clear()


def config(tmp_path: Path, url: str, route: RouteName, **portal: Any) -> GatewayConfig:
    base = demo_config(tmp_path, url, route)
    return replace(base, portal=replace(base.portal, **{"timeout_s": 5.0, **portal}))


class Rig:
    """A real store and delivery worker in front of ``route``, with a fake clock."""

    def __init__(self, store: SqliteStore, router: RouterRoute, clock: FakeClock) -> None:
        self.store = store
        self.router = router
        self.clock = clock
        delivery = DeliveryConfig(retry=RetryConfig(base_delay_s=1, max_delay_s=2))
        self.worker = DeliveryWorker(
            store, router, delivery, clock=clock, rng=random.Random(1), sleep=clock.sleep
        )

    async def deliver_one(self) -> tuple[str, str]:
        """Accept one dossier, run one delivery round; its (state, last error)."""
        await self.store.accept(
            [Incoming("t", dossier(), "d1")], now=self.clock(), validate=validate_for_portal
        )
        await self.worker.run_once()
        rows = await self.store.query("SELECT state, COALESCE(last_error, '') FROM records")
        assert len(rows) == 1
        return str(rows[0][0]), str(rows[0][1])


@pytest.fixture
async def rig_for(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Rig] = []

    async def make(gateway: GatewayConfig) -> Rig:
        clock = FakeClock()
        store = await SqliteStore.open(tmp_path / f"gw{len(made)}.db", now=clock())
        rig = Rig(store, build_router(gateway), clock)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        await rig.router.close()
        await rig.store.close()


def soap_success(message_id: str) -> bytes:
    return soap_answer(msg_id=message_id)


def answer_portal(
    server: HTTPServer, route: RouteName, *, redirect_at: str, status: int, to: str
) -> None:
    """Good answers on the way to ``redirect_at``, which answers ``status`` -> ``to``."""
    if route == "lgsp" and redirect_at != TOKEN:
        server.expect_request(TOKEN).respond_with_json({"access_token": "t", "expires_in": 3600})
    if route in LOGIN and redirect_at not in (LOGIN[route], TOKEN):
        server.expect_request(LOGIN[route]).respond_with_json({**SUCCESS, "session": "s1"})
    server.expect_request(redirect_at).respond_with_data(
        "moved", status=status, headers={"Location": to}
    )


CALLS: list[tuple[RouteName, str]] = [
    ("dvcqg-rest", LOGIN["dvcqg-rest"]),
    ("dvcqg-rest", DATA["dvcqg-rest"]),
    ("xroad-rest", LOGIN["xroad-rest"]),
    ("xroad-rest", DATA["xroad-rest"]),
    ("xroad-soap", DATA["xroad-soap"]),
    ("lgsp", TOKEN),
    ("lgsp", LOGIN["lgsp"]),
    ("lgsp", DATA["lgsp"]),
]


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize(("route", "path"), CALLS)
async def test_a_redirect_is_never_followed_and_never_counts_as_delivered(
    tmp_path: Path,
    httpserver: HTTPServer,
    stolen: HTTPServer,
    rig_for: Any,
    route: RouteName,
    path: str,
    status: int,
) -> None:
    target = stolen.url_for("/steal")
    answer_portal(httpserver, route, redirect_at=path, status=status, to=target)
    rig = await rig_for(config(tmp_path, httpserver.url_for("").rstrip("/"), route))
    state, error = await rig.deliver_one()
    assert stolen.log == []  # nothing, not even the login, reached the other host
    assert state == "queued"  # kept for a retry once the operator fixes the URL
    assert f"HTTP {status} redirect to {target}: not followed" in error
    assert httpserver.log[-1][0].path == path  # the redirecting call was the last one made


async def test_a_redirect_to_the_same_host_is_not_followed_either(
    tmp_path: Path, httpserver: HTTPServer, rig_for: Any
) -> None:
    answer_portal(httpserver, "dvcqg-rest", redirect_at="/mapi/g", status=307, to="/mapi/g2")
    httpserver.expect_request("/mapi/g2").respond_with_json(SUCCESS)
    rig = await rig_for(config(tmp_path, httpserver.url_for("").rstrip("/"), "dvcqg-rest"))
    state, error = await rig.deliver_one()
    assert state == "queued"
    assert "HTTP 307 redirect to /mapi/g2" in error
    assert "/mapi/g2" not in [entry[0].path for entry in httpserver.log]


# -- answers split across segments, large, slow, oversize, of the wrong type -----------------


async def rest_portal(request: Request, writer: asyncio.StreamWriter, *, data: bytes) -> None:
    """Login answers normally; the data call gets ``data`` (the test's plan) in 40 writes."""
    if request.path.endswith("/login"):
        body = json.dumps({**SUCCESS, "session": "s1"}).encode()
        writer.write(head(200, JSON_TYPE, len(body)) + body)
        return
    writer.write(head(200, JSON_TYPE, len(data)))
    await write_in_pieces(writer, data, pieces=40)


@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-rest"])
async def test_a_success_split_into_many_writes_is_delivered(
    tmp_path: Path, rig_for: Any, route: RouteName
) -> None:
    body = json.dumps(SUCCESS, ensure_ascii=False).encode()

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        await rest_portal(request, writer, data=body)

    async with raw_server(answer) as portal:
        rig = await rig_for(config(tmp_path, portal.url, route))
        state, error = await rig.deliver_one()
    assert (state, error) == ("delivered", "")
    assert [r.path for r in portal.requests] == [LOGIN[route], DATA[route]]


async def test_a_success_above_64_kib_is_read_whole(tmp_path: Path, rig_for: Any) -> None:
    body = json.dumps({**SUCCESS, "detail": "x" * 300_000}).encode()

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        await rest_portal(request, writer, data=body)

    async with raw_server(answer) as portal:
        rig = await rig_for(config(tmp_path, portal.url, "dvcqg-rest"))
        assert await rig.deliver_one() == ("delivered", "")


async def test_a_soap_success_split_into_many_writes_is_delivered(
    tmp_path: Path, rig_for: Any
) -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        body = soap_success(request.xroad_id())
        writer.write(head(200, XML_TYPE, None))  # no length: the end is the connection's close
        await write_in_pieces(writer, body, pieces=60)

    async with raw_server(answer) as portal:
        rig = await rig_for(config(tmp_path, portal.url, "xroad-soap"))
        state, error = await rig.deliver_one()
    assert (state, error) == ("delivered", "")
    assert [r.path for r in portal.requests] == ["/xroad"]


@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-soap"])
async def test_an_answer_that_drips_past_the_timeout_is_a_retryable_failure(
    tmp_path: Path, rig_for: Any, route: RouteName
) -> None:
    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/login"):
            body = json.dumps({**SUCCESS, "session": "s1"}).encode()
            writer.write(head(200, JSON_TYPE, len(body)) + body)
            return
        writer.write(head(200, JSON_TYPE if route != "xroad-soap" else XML_TYPE, 1_000_000))
        await drip_forever(writer)

    async with raw_server(answer) as portal:
        gateway = config(tmp_path, portal.url, route, timeout_s=0.5)
        gateway = replace(
            gateway,
            routes=replace(
                gateway.routes, xroad_soap=replace(gateway.routes.xroad_soap, timeout_s=0.5)
            ),
        )
        rig = await rig_for(gateway)
        state, error = await rig.deliver_one()
    assert state == "queued"
    assert "unreachable" in error
    assert "Timeout" in error


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-soap"])
async def test_an_oversize_answer_is_refused_whole(
    tmp_path: Path, rig_for: Any, route: RouteName, declared: bool
) -> None:
    limit = 4096

    async def answer(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/login"):
            body = json.dumps({**SUCCESS, "session": "s1"}).encode()
            writer.write(head(200, JSON_TYPE, len(body)) + body)
            return
        big = (soap_success(request.xroad_id()) if route == "xroad-soap" else b"{}") + b" " * (
            limit * 4
        )
        kind = XML_TYPE if route == "xroad-soap" else JSON_TYPE
        writer.write(head(200, kind, len(big) if declared else None))
        await write_in_pieces(writer, big, pieces=8, pause_s=0)

    async with raw_server(answer) as portal:
        gateway = config(tmp_path, portal.url, route, max_response_bytes=limit)
        gateway = replace(
            gateway,
            routes=replace(
                gateway.routes,
                xroad_soap=replace(gateway.routes.xroad_soap, max_response_bytes=limit),
            ),
        )
        rig = await rig_for(gateway)
        state, error = await rig.deliver_one()
    assert state == "queued"
    assert "answer too large" in error
    assert str(limit) in error


@pytest.mark.parametrize(
    ("route", "content_type", "body", "expected"),
    [
        ("dvcqg-rest", "text/html", b"<html><body>Bao tri he thong</body></html>", "not JSON"),
        ("dvcqg-rest", "", b"\xff\xfe garbage", "not JSON"),
        ("xroad-soap", "application/json", json.dumps(SUCCESS).encode(), "application/json"),
        ("xroad-soap", "text/html", b"<html>ok</html>", "text/html"),
    ],
)
async def test_a_success_status_with_the_wrong_content_is_not_delivered(
    tmp_path: Path,
    httpserver: HTTPServer,
    rig_for: Any,
    route: RouteName,
    content_type: str,
    body: bytes,
    expected: str,
) -> None:
    if route in LOGIN:
        httpserver.expect_request(LOGIN[route]).respond_with_json({**SUCCESS, "session": "s1"})
    httpserver.expect_request(DATA[route]).respond_with_data(
        body, status=200, content_type=content_type or None
    )
    rig = await rig_for(config(tmp_path, httpserver.url_for("").rstrip("/"), route))
    state, error = await rig.deliver_one()
    assert state == "queued"
    assert expected in error


async def test_a_redirect_is_a_retryable_error_naming_its_target(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """What the worker sees: a retryable error (the record is kept) with the status."""
    httpserver.expect_request("/mapi/login").respond_with_data(
        "", status=302, headers={"Location": "https://elsewhere.example/login"}
    )
    router = build_router(config(tmp_path, httpserver.url_for("").rstrip("/"), "dvcqg-rest"))
    try:
        with pytest.raises(RetryableDeliveryError) as caught:
            await router.send_dossiers([dossier()], on_portal=False)
    finally:
        await router.close()
    assert caught.value.http_status == 302
    assert "https://elsewhere.example/login" in caught.value.message


@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-rest", "lgsp"])
async def test_a_redirected_look_up_is_not_followed(
    tmp_path: Path, httpserver: HTTPServer, stolen: HTTPServer, route: RouteName
) -> None:
    """``TraCuuHoSo`` (asked before re-sending an ambiguous attempt) carries the session too."""
    target = stolen.url_for("/steal")
    answer_portal(httpserver, route, redirect_at=DATA[route], status=307, to=target)
    router = build_router(config(tmp_path, httpserver.url_for("").rstrip("/"), route))
    try:
        with pytest.raises(RetryableDeliveryError, match="HTTP 307 redirect to"):
            await router.dossiers_on_portal([dossier()])
    finally:
        await router.close()
    assert stolen.log == []
    assert json.loads(httpserver.log[-1][0].get_data())["service"] == "TraCuuHoSo"
