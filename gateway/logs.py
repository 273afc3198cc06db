"""Structured logging, configured once: JSON lines for the daemon, readable lines for people.

structlog renders every event; the standard library's loggers (aiohttp, the simulator) go
through the same renderer, so one process writes one format.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

import structlog


def configure(
    fmt: Literal["json", "console"] = "json",
    level: str = "INFO",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and standard logging to ``stream`` (stderr) in one format."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
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
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def reset() -> None:
    """Detach the handlers :func:`configure` installed (before their stream is closed)."""
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()
