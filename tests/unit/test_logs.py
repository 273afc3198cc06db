"""The logging pipeline: one format for structlog and stdlib loggers, masked, with context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from gateway import logs


@pytest.fixture
def sink() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("json", "DEBUG", stream=stream)
    yield stream
    logs.reset()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_foreign_loggers_share_the_json_pipeline_and_masking(sink: io.StringIO) -> None:
    logging.getLogger("aiohttp.client").warning("retrying 0912345678 for a@b.vn")
    logging.getLogger("zeep.wsdl.bindings.soap").error("fault for CCCD %s", "038190012345")
    structlog.get_logger("gateway.x").info("sent", owner="CMND 123456789")
    found = lines(sink)
    assert [f["logger"] for f in found] == [
        "aiohttp.client",
        "zeep.wsdl.bindings.soap",
        "gateway.x",
    ]
    assert found[0]["event"] == "retrying <phone> for <email>"
    assert found[1]["event"] == "fault for CCCD <cccd>"
    assert found[2]["owner"] == "CMND <cmnd>"
    assert all("timestamp" in f and "level" in f for f in found)


def test_exceptions_are_masked_too(sink: io.StringIO) -> None:
    try:
        raise ValueError("bad phone 0987654321")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("handler failed")
    [found] = lines(sink)
    assert "<phone>" in str(found["exception"])
    assert "0987654321" not in sink.getvalue()


def test_zeep_transport_dumps_are_kept_quiet(sink: io.StringIO) -> None:
    logging.getLogger("zeep.transports").debug("HTTP Post to ...: <soap:Envelope>")
    assert sink.getvalue() == ""


def test_bound_context_reaches_stdlib_lines(sink: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(ma_ho_so="H56-1", attempt=2):
        logging.getLogger("aiohttp.client").info("connecting")
    [found] = lines(sink)
    assert (found["ma_ho_so"], found["attempt"]) == ("H56-1", 2)


def test_console_format_is_for_people() -> None:
    stream = io.StringIO()
    logs.configure("console", "INFO", stream=stream)
    try:
        structlog.get_logger("gateway.x").info("portal_recovered", route="dvcqg-rest")
    finally:
        logs.reset()
    text = stream.getvalue()
    assert "portal_recovered" in text
    assert "route=dvcqg-rest" in text
    assert not text.lstrip().startswith("{")
