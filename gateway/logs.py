"""Structured logging, configured once: JSON lines for the daemon, readable lines for people.

structlog renders every event; the standard library's loggers (aiohttp, zeep, the simulator)
go through the same processors and the same renderer, so one process writes one format and
every line, whoever wrote it, passes the one masking point (:mod:`gateway.audit.masking`).
Per-record context (``ma_ho_so``, ``route``, ``attempt``) is bound with
``structlog.contextvars`` by the delivery worker, so lines written by a route or by a library
while it handles a record carry that context too.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog

from gateway.audit.masking import mask_event_dict

QUIET_LOGGERS = {
    "aiohttp.access": logging.WARNING,
    "zeep.transports": logging.WARNING,  # logs whole SOAP envelopes at DEBUG
    "zeep.xsd.schema": logging.WARNING,
    "zeep.wsdl.wsdl": logging.WARNING,
}


def shared_processors() -> list[structlog.typing.Processor]:
    """What every event passes through, structlog's own and the standard library's alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_event_dict,
    ]


def configure(
    fmt: Literal["json", "console"] = "json",
    level: str = "INFO",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and standard logging to ``stream`` (stderr) in one format."""
    shared = shared_processors()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet, logging.getLevelName(level)))


def reset() -> None:
    """Detach the handlers :func:`configure` installed (before their stream is closed)."""
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()
