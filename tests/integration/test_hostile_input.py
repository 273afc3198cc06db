"""The hostile-input corpus (issue 12, items 6-7): every input a careless or hostile vendor
sent, to a running gateway's intake over raw sockets (on SQLite and PostgreSQL), to a live
intake under hypothesis, and to ``dvc-gateway translate``. Nothing answers 500, every bad
record gets a reason with its field path and rule (never its value), and the good records
sent beside the bad ones are stored and delivered. The same inputs go through the pulling
sources in :mod:`tests.integration.test_hostile_sources`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.canonical import CanonicalAdapter
from gateway.app import running
from gateway.canonical import record_to_json
from gateway.cli import main
from gateway.config.schema import (
    IntakeConfig,
    SourceConfig,
    StoreConfig,
)
from gateway.sources.intake import Intake, IntakeSource
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier
from tests.integration.test_end_to_end import (  # noqa: F401 - portal is a fixture
    Portal,
    drained,
    gateway_config,
    portal,
)
from tests.pg import pg_database

TOKEN = "s3cret-token"
CODE = "000.00.00.H56-261102-00001"


# (name, change to a good dossier, the path that must be named, the rule that must be named,
#  text that must not appear in the answer)
def named(reason: str, rule: str) -> bool:
    """Whether a rejection reason names the rule: an input rule or the schema's."""
    return f"rule {rule}" in reason or "(schema rule " in reason


BAD_RECORDS: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("status true", {"status": True}, "$.status", "enum-number", ""),
    ("status 1.0", {"status": 1.0}, "$.status", "enum-number", ""),
    ("status superscript two", {"status": "²"}, "$.status", "enum-number", ""),
    ("status arabic-indic three", {"status": "٣"}, "$.status", "enum-number", ""),
    ("status text float", {"status": "2.0"}, "$.status", "enum-number", ""),
    ("status out of range", {"status": 11}, "$.status", "enum-value", ""),
    ("channel true", {"channel": True}, "$.channel", "enum-number", ""),
    ("date year 1", {"received_at": "0001-01-01T00:00:00+07:00"}, "$.received_at",
     "date-range", "0001"),
    ("date year 9999", {"due_at": "9999-12-31T23:59:59-07:00"}, "$.due_at", "date-range",
     "9999"),
    ("date 1989", {"received_at": "1989-12-31T23:59:59+07:00"}, "$.received_at",
     "date-range", "1989"),
    ("date not ISO", {"received_at": "31/12/2026"}, "$.received_at", "iso-8601", "31/12"),
    ("code CR LF", {"dossier_code": "000.00.00.H56-261127-00009\r\nX-Injected: 1"},
     "$.dossier_code", "control-character", "Injected"),
    ("code dot dot slash", {"dossier_code": "../../etc/passwd"}, "$.dossier_code",
     "dossier-code-pattern", "passwd"),
    ("code RLO", {"dossier_code": "000.00.00.H56-261127-\u202e00009"}, "$.dossier_code",
     "bidi-control", "\u202e"),
    ("code NUL", {"dossier_code": "000.00.00.H56-261127-00009\u0000"}, "$.dossier_code",
     "control-character", "\u0000"),
    ("code empty", {"dossier_code": ""}, "$.dossier_code", "dossier-code-pattern", ""),
    ("name NUL", {"owner_name": "Nguyễn\u0000Văn An"}, "$.owner_name", "control-character",
     "Nguyễn"),
    ("name isolate", {"owner_name": "Trần \u2066Bình"}, "$.owner_name", "bidi-control",
     "Bình"),
    ("name lone surrogate", {"owner_name": "Lê \ud800Hoa"}, "$.owner_name", "surrogate",
     "Hoa"),
    ("procedure LF", {"procedure_code": "1.001193\n"}, "$.procedure_code",
     "control-character", ""),
    ("summary bell", {"summary": "Đăng ký\u0007 khai sinh"}, "$.summary", "control-character",
     "khai"),
    ("file name bidi", {"documents": [{"file_id": "f1", "file_name": "to-khai\u202egpj.exe",
     "download_url": "https://motcua.example.gov.vn/f1.pdf"}]},
     "$.documents[0].file_name", "bidi-control", "exe"),
]  # fmt: skip

BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("10,000 deep", b"[" * 10_000 + b"]" * 10_000, "depth"),
    ("deep inside a record", b'[{"kind": "dossier", "note": ' + b"[" * 500 + b"]" * 500
     + b"}]", "depth"),
    ("duplicate key", b'[{"kind": "dossier", "status": 2, "status": 10}]', "duplicate-key"),
    ("NaN", b'[{"kind": "dossier", "status": NaN}]', "non-finite-number"),
    ("Infinity", b'[{"kind": "dossier", "status": -Infinity}]', "non-finite-number"),
    ("1e999", b'[{"kind": "dossier", "status": 1e999}]', "non-finite-number"),
    ("5,000 digits", b'[{"kind": "dossier", "status": ' + b"9" * 5000 + b"}]",
     "number-too-long"),
    ("latin-1 body", b'[{"owner_name": "Nguy\xean"}]', "encoding"),
    ("lone continuation byte", b'[{"kind": "dossier\x80"}]', "encoding"),
    ("truncated", b'[{"kind": "dossier", ', "syntax"),
]  # fmt: skip


def good(n: int) -> dict[str, Any]:
    return record_to_json(dossier(f"000.00.00.H56-261127-{n:05d}"))


async def raw_post(port: int, body: bytes, authorization: bytes) -> tuple[int, dict[str, Any]]:
    """POST with exactly these bytes (an HTTP client would refuse to send a non-UTF-8
    header); return the status and the JSON answer."""
    head = (
        b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Authorization: " + authorization + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    status, payload = await raw_request(port, head + body)
    return status, json.loads(payload) if payload else {}


async def raw_request(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


HOSTILE_REQUESTS: list[tuple[str, bytes, int]] = [
    ("non-UTF-8 path", b"POST /api/v1/intake/\xff\xfe HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 2\r\nConnection: close\r\n\r\n[]", 400),
    ("non-UTF-8 header name", b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: x\r\n"
     b"X-\xff: \xff\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]", 400),
    ("NUL in a header", b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: x\r\n"
     b"Authorization: Bearer x\x00\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]",
     400),
    ("gzip that is not gzip", b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: x\r\n"
     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Encoding: gzip\r\n"
     b"Content-Length: 2\r\nConnection: close\r\n\r\n[]", 400),
    ("broken chunks", b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: x\r\n"
     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n"
     b"Connection: close\r\n\r\nzz\r\n[]\r\n0\r\n\r\n", 400),
    ("latin-1 content type", b"POST /api/v1/intake/canonical HTTP/1.1\r\nHost: x\r\n"
     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Type: text/\xe9\r\n"
     b"Content-Length: 2\r\nConnection: close\r\n\r\n[]", 200),
]  # fmt: skip


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_the_intake_corpus_gets_400s_and_per_record_reasons_never_a_500(
    tmp_path: Path,
    portal: Portal,  # noqa: F811
    engine: str,
) -> None:
    sources = {"canonical": SourceConfig(adapter="canonical", token=TOKEN)}
    config = gateway_config(tmp_path, portal.url)
    config = replace(config, intake=IntakeConfig(port=0, sources=sources))
    bearer = f"Bearer {TOKEN}".encode()
    statuses: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        if engine == "postgresql":  # its text columns hold no NUL, its JSON no "\u0000"
            dsn = await stack.enter_async_context(pg_database())
            config = replace(config, store=StoreConfig(engine="postgresql", dsn=dsn))
        gw = await stack.enter_async_context(running(config))
        for name, body, rule in BAD_BODIES:
            status, answer = await raw_post(gw.port, body, bearer)
            statuses.append(status)
            assert (status, answer.get("rule")) == (400, rule), name
        deep = await raw_post(gw.port, b"[" * 10_000 + b"]" * 10_000, bearer)
        assert "64" in deep[1]["error"]  # the depth limit is named
        duplicate = await raw_post(gw.port, BAD_BODIES[2][1], bearer)
        assert '"status"' in duplicate[1]["error"]  # the key is named
        for header in (b"Bearer \xff\xfe\xfd", b"\xc3\x28 " + bearer, bearer + b"\x80"):
            status, answer = await raw_post(gw.port, b"[]", header)
            statuses.append(status)
            assert status == 401, header
        for name, request, expected in HOSTILE_REQUESTS:
            status, _ = await raw_request(gw.port, request)
            statuses.append(status)
            assert status == expected, name

        batch: list[Any] = []
        for n, (_, change, _, _, _) in enumerate(BAD_RECORDS):
            batch += [good(2 * n + 1), {**good(2 * n + 2), **change}]
        batch += [42, None, "x", [], {"kind": "dossier\u0000"}, {**good(9999), "x\u0000\u202e": 1}]
        body = json.dumps(batch).encode()  # a lone surrogate travels as its \\u escape
        status, answer = await raw_post(gw.port, body, bearer)
        statuses.append(status)
        assert status == 200
        results = answer["results"]
        await drained(gw)
        stored = {c for (c,) in await gw.store.query("SELECT dossier_code FROM records")}

    assert 500 not in statuses
    goods = {good(2 * n + 1)["dossier_code"] for n in range(len(BAD_RECORDS))}
    assert stored == goods  # every good record of the batch is stored, no bad one is
    assert set(portal.state.dossiers) == goods  # and only they reached the portal
    for n, (name, _, path, rule, secret) in enumerate(BAD_RECORDS):
        assert results[2 * n]["status"] == "accepted", name
        bad = results[2 * n + 1]
        assert bad["status"] == "rejected", name
        reasons = {e["path"]: e["reason"] for e in bad["errors"]}
        assert path in reasons, (name, reasons)
        # The input rule names it, or the published canonical schema (checked first for the
        # canonical adapter) names its own rule for the same path.
        assert named(reasons[path], rule), (name, reasons)
        if secret:
            assert secret not in json.dumps(bad, ensure_ascii=False), name
    tail = results[2 * len(BAD_RECORDS) :]
    assert [r["status"] for r in tail] == ["rejected"] * 6
    assert all(r["errors"][0]["path"].startswith("$") for r in tail)
    assert tail[-1]["errors"] == [
        {
            "path": '$["x\\u0000\\u202e"]',
            "rule": "additionalProperties",
            "reason": "unknown field (schema rule additionalProperties)",
        }
    ]


def test_fuzzed_bodies_to_a_live_intake_never_get_a_500(tmp_path: Path) -> None:
    """Hypothesis bodies, hostile bytes and mutated good batches, against a real intake
    server: every answer is 200, 400 or 413; a 200 gives every record a receipt, and a
    rejected one its field paths."""
    loop = asyncio.new_event_loop()
    opened = loop.run_until_complete(SqliteStore.open(tmp_path / "gw.db", now=0))
    intake = Intake(opened, {"canonical": IntakeSource("canonical", CanonicalAdapter({}))},
                    IntakeConfig(max_body_bytes=64 * 1024))  # fmt: skip
    server = TestServer(intake.app())
    loop.run_until_complete(server.start_server())

    async def open_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    session = loop.run_until_complete(open_session())
    url = str(server.make_url("/api/v1/intake/canonical"))

    async def post(body: bytes) -> tuple[int, Any]:
        async with session.post(url, data=body) as response:
            return response.status, await response.read()

    template = json.dumps([good(1), good(2)]).encode()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.binary(max_size=300)
        | st.tuples(st.integers(0, len(template)), st.binary(min_size=1, max_size=8)).map(
            lambda cut: template[: cut[0]] + cut[1] + template[cut[0] :]
        )
    )
    def send(body: bytes) -> None:
        status, payload = loop.run_until_complete(post(body))
        assert status in (200, 400, 413)
        if status == 200:
            answer = json.loads(payload)
            assert len(answer["results"]) == len(json.loads(body))
            for result in answer["results"]:
                if result["status"] == "rejected":
                    assert all(e["path"].startswith("$") for e in result["errors"])

    try:
        send()
    finally:
        loop.run_until_complete(session.close())
        loop.run_until_complete(server.close())
        loop.run_until_complete(opened.close())
        loop.close()


def test_translate_refuses_what_intake_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The vendor's dry run gives the gateway's own answer: the same strict reader and rules."""
    example = Path(__file__).parents[2] / "config" / "gateway.example.yaml"
    args = ["translate", "--config", str(example), "--adapter", "canonical", "--input"]
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 10_000 + b"]" * 10_000)
    assert main([*args, str(deep)]) == 2
    assert "rule depth" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    records = [good(1), {**good(2), "received_at": "0001-01-01T00:00:00+07:00"}]
    bad.write_text(json.dumps(records), encoding="utf-8")
    assert main([*args, str(bad)]) == 1
    out = capsys.readouterr().out
    assert "# record 1: quarantined or rejected: $.received_at: rule date-range" in out
    assert "# record 0: dossier" in out
