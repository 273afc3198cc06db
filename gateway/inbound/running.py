"""The inbound side of a running gateway: its listener, the sink's loop and the report loop.

Handed the store and a ``report`` function by the composition root (:mod:`gateway.app`), so
this package picks no engine and knows no route.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from adapters import registry
from gateway.config.schema import InboundConfig
from gateway.inbound.endpoint import InboundEndpoint, limits_of, server_tls
from gateway.inbound.pulling import Fetch, HostedPull, Note
from gateway.inbound.transports import HttpTransport, OutboxTransport, SqlTransport
from gateway.inbound.worker import JobWorker, Send, SinkRunner
from gateway.store.inbound import InboundStore, JobKind

log = structlog.get_logger("gateway.inbound")


@dataclass
class Inbound:
    """The running inbound side (tests reach its parts through it)."""

    endpoint: InboundEndpoint
    port: int
    sink: JobWorker
    reports: JobWorker | None
    pull: HostedPull | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build_runner(config: InboundConfig) -> SinkRunner:
    """The configured sink plugin and the transports its deliveries may need."""
    sink = registry.create_sink(config.sink.plugin, config.sink.options, "inbound.sink")
    c = config.sink
    return SinkRunner(
        sink,
        http=HttpTransport(c.http.url, token=c.http.token, timeout_s=c.http.timeout_s)
        if c.http.url
        else None,
        sql=SqlTransport(c.sql.engine, c.sql.dsn, timeout_s=c.sql.timeout_s) if c.sql.dsn else None,
        outbox=OutboxTransport(c.outbox.path) if str(c.outbox.path) not in ("", ".") else None,
    )


@contextlib.asynccontextmanager
async def running_inbound(
    config: InboundConfig,
    store: InboundStore,
    *,
    report: Send,
    owner: str,
    fetch: Fetch | None = None,
    note: Note | None = None,
    clock: Callable[[], float] = time.time,
    grace_s: float = 10.0,
) -> AsyncIterator[Inbound | None]:
    """Run the inbound side for the ``async with`` block (nothing when not enabled)."""
    if not config.enabled:
        yield None
        return
    runner = build_runner(config)

    def worker(kind: JobKind, send: Send) -> JobWorker:
        return JobWorker(store, kind, send, config.retry, owner=owner,
                         batch_size=config.batch_size, lease_s=config.lease_s,
                         idle_poll_s=config.idle_poll_s, clock=clock)  # fmt: skip

    sink = worker(JobKind.DELIVER, runner.send)
    reports = worker(JobKind.REPORT, report) if config.report_status else None
    endpoint = InboundEndpoint(
        store, config, sink_name=runner.sink.name, on_commit=sink.wake, clock=clock
    )
    app_runner = web.AppRunner(endpoint.app(), access_log=None, handle_signals=False)
    stop = asyncio.Event()
    inbound: Inbound | None = None
    try:
        await app_runner.setup()
        site = web.TCPSite(app_runner, config.host, config.port, ssl_context=server_tls(config))
        await site.start()
        port = next(a[1] for a in app_runner.addresses if isinstance(a, tuple))
        inbound = Inbound(endpoint, port, sink, reports)
        inbound.tasks.append(asyncio.create_task(sink.run(stop), name="inbound:sink"))
        if reports is not None:
            inbound.tasks.append(asyncio.create_task(reports.run(stop), name="inbound:reports"))
        if config.pull.enabled and fetch is not None and note is not None:
            inbound.pull = HostedPull(store, fetch, note, config.pull, limits_of(config),
                                      sink_name=runner.sink.name, on_commit=sink.wake,
                                      clock=clock)  # fmt: skip
            inbound.tasks.append(asyncio.create_task(inbound.pull.run(stop), name="inbound:pull"))
        log.info("inbound_started", inbound=f"{config.host}:{port}{config.path}",
                 sink=runner.sink.name)  # fmt: skip
        yield inbound
    finally:
        endpoint.accepting = False
        await app_runner.cleanup()
        stop.set()
        if inbound is not None and inbound.tasks:
            _, late = await asyncio.wait(inbound.tasks, timeout=grace_s)
            for task in late:
                task.cancel()
        await runner.close()
