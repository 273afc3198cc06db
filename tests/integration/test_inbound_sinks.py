"""The reference sinks through the delivery loop, against real targets: an HTTP server that
fails first, PostgreSQL and MariaDB tables, an outbox folder. Retries follow the upward
policy with a fake clock; a refused dossier is dead-lettered and replayed; a delivery made
twice (a crash before its outcome was saved) changes nothing at the vendor."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from adapters.registry import create_sink
from adapters.sinks import JsonHttpSink, OutboxFileSink, SqlRowsSink
from gateway.config.schema import RetryConfig
from gateway.errors import ConfigError
from gateway.inbound.model import parse_portal_dossier
from gateway.inbound.transports import HttpTransport, OutboxTransport, SqlTransport
from gateway.inbound.worker import JobWorker, SinkRunner
from gateway.store.inbound import JobKind
from gateway.store.sqlite.store import SqliteStore
from tests.inbound_factories import PDF, portal_body
from tests.sink_targets import fetch, sink_database

RETRY = RetryConfig(base_delay_s=1.0, max_delay_s=4.0, max_attempts=4)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    yield s
    await s.close()


async def receive(store: SqliteStore, *codes: str, sink: str = "outbox") -> None:
    for code in codes:
        dossier = parse_portal_dossier(portal_body(code))
        await store.inbound.receive("dvcqg-push", dossier, code, sink=sink, now=1.0)


def worker(store: SqliteStore, runner: SinkRunner, clock: Clock) -> JobWorker:
    return JobWorker(store.inbound, JobKind.DELIVER, runner.send, RETRY, owner="w",
                     clock=clock, rng=random.Random(7))  # fmt: skip


async def test_outbox_files_appear_whole_under_the_dossier_code(
    store: SqliteStore, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    await receive(store, "G22-1", "G22-2")
    runner = SinkRunner(OutboxFileSink(), outbox=OutboxTransport(outbox))
    assert await worker(store, runner, Clock()).run_once() == 2
    assert sorted(p.name for p in outbox.iterdir()) == ["G22-1.json", "G22-2.json"]
    content = json.loads((outbox / "G22-1.json").read_text(encoding="utf-8"))
    assert content["applicant_name"] == "Công ty TNHH Ánh Dương"
    assert base64.b64decode(content["attachments"][0]["base64"]) == PDF
    delivered = [e for e in await store.audit_entries() if e.event == "sink_delivered"]
    assert sorted(e.detail["file"] for e in delivered) == ["G22-1.json", "G22-2.json"]


class Vendor:
    """The vendor's HTTP endpoint: fails the first ``fail`` calls, then stores by key."""

    def __init__(self, fail: int, status: int = 503) -> None:
        self.fail = fail
        self.status = status
        self.calls: list[str] = []
        self.stored: dict[str, dict[str, Any]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        self.calls.append(key)
        if request.headers.get("Authorization") != "Bearer vendor-token":
            return web.Response(status=401)
        if self.fail:
            self.fail -= 1
            return web.Response(status=self.status)
        self.stored.setdefault(key, await request.json())
        return web.json_response({"ok": True})


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(vendor: Vendor) -> str:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_post("/hoso", vendor.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}/hoso"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_http_sink_retries_with_backoff_and_keys_every_call(
    store: SqliteStore, serve: Any
) -> None:
    vendor = Vendor(fail=2)
    http = HttpTransport(await serve(vendor), token="vendor-token")
    clock = Clock()
    loop = worker(store, SinkRunner(JsonHttpSink(), http=http), clock)
    await receive(store, "G22-7", sink="http")
    assert await loop.run_once() == 1
    assert await loop.run_once() == 0  # backing off: not due yet
    due = await store.inbound.next_job_due(JobKind.DELIVER)
    assert due is not None
    assert 100.0 <= due <= 101.0  # full jitter under base_delay_s after the first failure
    for _ in range(2):
        clock.now += 10
        await loop.run_once()
    await http.close()
    assert vendor.calls == ["G22-7"] * 3
    assert vendor.stored["G22-7"]["dossier_code"] == "G22-7"
    events = [e.event for e in await store.audit_entries() if e.dossier_code == "G22-7"]
    assert events == ["inbound_received", "sink_retry", "sink_retry", "sink_delivered"]


async def test_a_refusal_is_dead_at_once_and_a_replay_delivers_it(
    store: SqliteStore, serve: Any
) -> None:
    vendor = Vendor(fail=1, status=422)
    http = HttpTransport(await serve(vendor), token="vendor-token")
    clock = Clock()
    loop = worker(store, SinkRunner(JsonHttpSink(), http=http), clock)
    await receive(store, "G22-8", sink="http")
    await loop.run_once()
    [dead] = await store.inbound.jobs(JobKind.DELIVER, state="dead")
    assert "HTTP 422" in dead.last_error
    assert await store.inbound.replay_jobs(JobKind.DELIVER, by="op", now=clock.now) == [dead.job_id]
    await loop.run_once()
    await http.close()
    assert list(vendor.stored) == ["G22-8"]


async def test_a_sink_without_its_transport_is_a_dead_letter_that_says_so(
    store: SqliteStore,
) -> None:
    await receive(store, "G22-9", sink="sql")
    await worker(store, SinkRunner(SqlRowsSink()), Clock()).run_once()
    [dead] = await store.inbound.jobs(JobKind.DELIVER, state="dead")
    assert "no transport for it is configured" in dead.last_error


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
async def test_sql_sink_inserts_each_dossier_once_even_when_delivered_twice(
    store: SqliteStore, engine: str
) -> None:
    async with sink_database(engine) as dsn:
        runner = SinkRunner(SqlRowsSink(), sql=SqlTransport(engine, dsn))
        await receive(store, "G22-10", "G22-11", sink="sql")
        assert await worker(store, runner, Clock()).run_once() == 2
        # a crash after the insert and before the outcome: the job runs again
        await store.query("UPDATE inbound_jobs SET state = 'queued'")
        assert await worker(store, runner, Clock()).run_once() == 2
        dossiers = await fetch(engine, dsn, "SELECT ma_ho_so, nguoi_nop FROM dvc_inbound_dossier "
                               "ORDER BY ma_ho_so")  # fmt: skip
        files = await fetch(engine, dsn, "SELECT ma_ho_so, thu_tu, loai_tep, noi_dung FROM "
                            "dvc_inbound_attachment ORDER BY ma_ho_so, thu_tu")  # fmt: skip
    assert dossiers == [("G22-10", "Công ty TNHH Ánh Dương"), ("G22-11", "Công ty TNHH Ánh Dương")]
    assert [(f[0], f[1], f[2]) for f in files] == [
        ("G22-10", 0, "application/pdf"),
        ("G22-10", 1, "image/png"),
        ("G22-11", 0, "application/pdf"),
        ("G22-11", 1, "image/png"),
    ]
    assert bytes(files[0][3]) == PDF
    delivered = [e.detail for e in await store.audit_entries() if e.event == "sink_delivered"]
    assert [d["inserted"] for d in delivered][-2:] == [0, 0]  # the second time inserted nothing


def test_the_registry_finds_the_reference_sinks_and_checks_options() -> None:
    assert create_sink("outbox", {}, "inbound.sink").name == "outbox"
    with pytest.raises(ConfigError, match="not installed"):
        create_sink("nope", {}, "inbound.sink")
    with pytest.raises(ConfigError) as caught:
        create_sink("sql", {"dossier_tabel": "x"}, "inbound.sink")
    assert caught.value.problems[0].path.startswith("inbound.sink.options.")
