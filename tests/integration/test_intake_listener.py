"""The intake listener under slow and greedy clients: raw sockets that stall in a request
head or body, more connections than the cap, and a daemon process with few descriptors.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from gateway.app import Gateway, running
from gateway.canonical import record_to_json
from gateway.config.schema import GatewayConfig
from gateway.demo import demo_config
from gateway.simulator.portal import SimulatorSettings, create_app
from gateway.sources.listener import OverloadLog
from tests.daemons import free_port, recording_portal, wait_for_intake
from tests.factories import dossier

PARTIAL_HEAD = b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: gateway\r\nContent-Ty"
Socket = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def portal_url() -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def config(tmp_path: Path, url: str, **intake: Any) -> GatewayConfig:
    base = demo_config(tmp_path, url)
    return replace(base, intake=replace(base.intake, **intake))


async def post_one(port: int, n: int = 1) -> tuple[int, dict[str, Any]]:
    records = [record_to_json(dossier(f"000.00.00.H56-261102-{n:05d}"))]
    url = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
    async with aiohttp.ClientSession() as http, http.post(url, json=records) as response:
        return response.status, await response.json()


async def stalled(port: int, count: int, first_bytes: bytes) -> list[Socket]:
    sockets = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if first_bytes:
            writer.write(first_bytes)
            await writer.drain()
        sockets.append((reader, writer))
    return sockets


async def close_all(sockets: list[Socket]) -> None:
    for _, writer in sockets:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in sockets), return_exceptions=True)


async def settled(gw: Gateway, accepted: int) -> None:
    """Until the listener has seen ``accepted`` connections (accept runs in the same loop)."""
    guard = gw.listener.guard
    async with asyncio.timeout(30):
        await guard.wait_until(
            lambda: guard.open_connections + guard.closed_waiting + guard.refused >= accepted
        )


async def test_slowloris_does_not_keep_a_normal_client_out(tmp_path: Path, portal_url: str) -> None:
    gateway = config(tmp_path, portal_url, max_connections=20, header_timeout_s=60)
    with structlog.testing.capture_logs() as logs:
        async with running(gateway) as gw:
            sockets = await stalled(gw.port, 300, PARTIAL_HEAD)
            await settled(gw, 300)
            status, answer = await post_one(gw.port)
            open_now = gw.listener.guard.open_connections
            await close_all(sockets)
    assert status == 200
    assert answer["accepted"] == 1
    assert open_now <= 20
    overload = [e for e in logs if e["event"].startswith("intake_")]
    overload = [e for e in overload if e["event"] != "intake_committed"]
    assert [e["event"] for e in overload] == ["intake_waiting_connection_closed_at_cap"]
    assert not [e for e in logs if e.get("exc_info") or e["log_level"] in ("error", "critical")]


async def test_a_head_that_does_not_arrive_in_time_is_closed(
    tmp_path: Path, portal_url: str
) -> None:
    gateway = config(tmp_path, portal_url, header_timeout_s=0.2)
    with structlog.testing.capture_logs() as logs:
        async with running(gateway) as gw:
            begun = await stalled(gw.port, 5, PARTIAL_HEAD)
            silent = await stalled(gw.port, 5, b"")
            answers = [await reader.read() for reader, _ in begun + silent]
            status, _ = await post_one(gw.port)
            await close_all(begun + silent)
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers[:5])
    assert answers[5:] == [b""] * 5  # never said a word: closed without an answer
    assert status == 200
    lines = [e for e in logs if e["event"] == "intake_header_timed_out"]
    assert len(lines) == 1  # ten events, one line (the next would say how many since)
    assert lines[0]["events"] == 1


async def test_a_body_that_does_not_arrive_in_time_is_a_408_and_nothing_is_stored(
    tmp_path: Path, portal_url: str
) -> None:
    gateway = config(tmp_path, portal_url, body_timeout_s=0.3)
    head = (
        b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n[{"
    )
    with structlog.testing.capture_logs() as logs:
        async with running(gateway) as gw:
            sockets = await stalled(gw.port, 3, head)
            answers = [await reader.read() for reader, _ in sockets]
            counts = await gw.store.counts()
            await close_all(sockets)
    for answer in answers:
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 408")
        body = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert body == {"error": "request body not received within 0.3 s"}
    assert sum(counts.values()) == 0
    assert len([e for e in logs if e["event"] == "intake_body_timed_out"]) == 1
    assert not [e for e in logs if e.get("exc_info")]


async def test_at_the_cap_with_every_connection_inside_a_request_a_new_one_gets_503(
    tmp_path: Path, portal_url: str
) -> None:
    gateway = config(tmp_path, portal_url, max_connections=3, busy_retry_after_s=7)
    head = (
        b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n["
    )
    async with running(gateway) as gw:
        busy = await stalled(gw.port, 3, head)  # heads complete, bodies dripping
        async with asyncio.timeout(30):  # until the three heads reached the handler
            await gw.listener.guard.wait_until(lambda: not gw.listener.guard.waiting_connections)
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        answer = await reader.read()
        writer.close()
        await close_all(busy)
        refused = gw.listener.guard.refused
    head_part, _, body = answer.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 503")
    assert b"Retry-After: 7" in head_part
    assert "at most 3 connections" in json.loads(body)["error"]
    assert refused == 1


def test_overload_log_counts_what_it_did_not_log() -> None:
    now = [0.0]
    overload = OverloadLog(every_s=60, clock=lambda: now[0])
    with structlog.testing.capture_logs() as logs:
        logged = [overload.note("intake_header_timed_out") for _ in range(1000)]
        now[0] = 61.0
        logged.append(overload.note("intake_header_timed_out"))
        logged.append(overload.note("intake_body_timed_out"))
    assert logged.count(True) == 3
    assert [(e["event"], e["events"]) for e in logs] == [
        ("intake_header_timed_out", 1),
        ("intake_header_timed_out", 1000),
        ("intake_body_timed_out", 1),
    ]


async def test_a_daemon_with_few_descriptors_survives_400_slow_connections(
    tmp_path: Path,
) -> None:
    """The report's case: a low descriptor limit and 400 stalled clients. The daemon lowers
    its cap to half its limit; intake keeps answering, the file drop keeps reading, delivery
    keeps reaching the portal, and the log stays a handful of lines."""
    port = free_port()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log_file = tmp_path / "daemon.log"

    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    async with recording_portal() as portal:
        document = {
            "portal": {"base_url": portal.url, "username": "simulator", "password": "simulator"},
            "store": {"engine": "sqlite", "path": str(tmp_path / "gw.db")},
            "intake": {"port": port, "header_timeout_s": 60},
            "sources": {
                "file_drop": {
                    "drop": {
                        "adapter": "canonical",
                        "path": str(inbox),
                        "interval_s": 0.1,
                        "settle_s": 0.0,
                    }
                }
            },
            "delivery": {"idle_poll_s": 0.05},
            "audit": {"archive_dir": str(tmp_path / "archive")},
            "logging": {"format": "json", "level": "INFO"},
        }
        config_file = tmp_path / "gateway.yaml"
        config_file.write_text(json.dumps(document), encoding="utf-8")
        codes = [f"000.00.00.H56-261102-{n:05d}" for n in (1, 2, 3, 4)]
        all_delivered = portal.when(lambda: set(codes) <= set(portal.state.dossiers))
        with log_file.open("ab") as sink:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "run", "--config", str(config_file),
                stdout=asyncio.subprocess.DEVNULL, stderr=sink, preexec_fn=few_descriptors,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        try:
            await wait_for_intake(port, proc)
            sockets = await stalled(port, 400, PARTIAL_HEAD)
            dropped = inbox / "export.json.part"
            dropped.write_text(json.dumps([record_to_json(dossier(codes[3]))]), encoding="utf-8")
            dropped.rename(inbox / "export.json")
            answers = [await post_one(port, n) for n in (1, 2, 3)]
            async with asyncio.timeout(60):
                await all_delivered.wait()
            await close_all(sockets)
        finally:
            proc.terminate()
            await proc.wait()
    assert [status for status, _ in answers] == [200, 200, 200]
    assert (inbox / "done" / "export.json").exists()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line).get("event") for line in lines if line.startswith("{")]
    assert "intake_connection_cap_lowered" in events
    assert events.count("intake_waiting_connection_closed_at_cap") == 1
    assert len(lines) < 40, lines[:50]
    assert not any("Traceback" in line for line in lines)


async def test_asyncio_accept_errors_are_one_line_not_a_traceback_each() -> None:
    """What flooded the log (125,000 tracebacks in 31 s): asyncio reports every failed
    ``accept`` when the process is out of descriptors."""
    now = [0.0]
    overload = OverloadLog(every_s=60, clock=lambda: now[0])
    loop = asyncio.get_running_loop()
    context = {
        "message": "socket.accept() out of system resource",
        "exception": OSError(24, "Too many open files"),
    }
    with structlog.testing.capture_logs() as logs, overload.handling_loop_errors(loop):
        for _ in range(5000):
            loop.call_exception_handler(context)
        now[0] = 60.0
        loop.call_exception_handler(context)
    assert loop.get_exception_handler() is None  # restored
    assert [(e["event"], e["events"]) for e in logs] == [
        ("intake_accept_failed", 1),
        ("intake_accept_failed", 5000),
    ]
    assert "Too many open files" in logs[0]["error"]
