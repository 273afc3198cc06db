"""The one way a route talks HTTP: a POST that never follows a redirect and reads the whole
answer, bounded.

aiohttp follows redirects by default, with the body and headers of the request: a portal, a
proxy or a security server answering ``307`` to another host would receive the portal password,
the session or the LGSP credentials and the citizens' records, and a ``302`` to a host that
answers ``error_code: 0`` would have a record counted as delivered that the portal never got.
So every call goes with ``allow_redirects=False`` and a 3xx answer is a
:class:`~gateway.errors.RetryableDeliveryError` naming the ``Location`` (the operator fixes the
URL; the record is kept).

``response.content.read(n)`` returns what is buffered *now*, not ``n`` bytes: an answer that
arrives in several TCP segments (any answer above ~64 KB, or a proxy that flushes in pieces)
was cut and misread. :func:`post` reads until the end of the body or one byte past
``max_bytes``, whatever the chunking; the route's ``ClientTimeout`` bounds the whole exchange,
so an answer that drips forever is a timeout, not a hang.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.errors import RetryableDeliveryError

READ_CHUNK_BYTES = 64 * 1024
MAX_LOCATION_CHARS = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete HTTP answer: its status, headers and whole body (at most ``max_bytes``)."""

    status: int
    headers: Mapping[str, str]
    """aiohttp's case-insensitive headers."""
    body: bytes


class AnswerTooLargeError(RetryableDeliveryError):
    """The answer is longer than the route's ``max_response_bytes``: nothing of it is used."""


class RedirectRefusedError(RetryableDeliveryError):
    """The peer answered 3xx: the gateway never follows a redirect (its target is named)."""


async def post(
    http: aiohttp.ClientSession,
    url: str,
    *,
    data: Any,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    peer: str = "portal",
) -> Answer:
    """POST ``data`` to ``url`` and return the whole answer.

    Raises :class:`RedirectRefusedError` for a 3xx (never followed),
    :class:`AnswerTooLargeError` past ``max_bytes`` (declared or read), and lets aiohttp's
    errors and timeouts through for the route to classify at its boundary."""
    async with http.post(url, data=data, headers=headers, allow_redirects=False) as response:
        if 300 <= response.status < 400:
            raise redirect_error(response.status, response.headers.get("Location"), peer)
        declared = response.content_length
        if declared is not None and declared > max_bytes:
            raise AnswerTooLargeError(
                f"{peer} answer too large: {declared} bytes declared, limit {max_bytes}",
                http_status=response.status,
            )
        body = await read_bounded(response.content, max_bytes)
        if body is None:
            raise AnswerTooLargeError(
                f"{peer} answer too large: more than {max_bytes} bytes",
                http_status=response.status,
            )
        return Answer(response.status, response.headers, body)


async def read_bounded(stream: aiohttp.StreamReader, max_bytes: int) -> bytes | None:
    """Every byte of ``stream`` up to its end, or None once it passes ``max_bytes``."""
    body = bytearray()
    while True:
        chunk = await stream.read(min(READ_CHUNK_BYTES, max_bytes + 1 - len(body)))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            return None


def redirect_error(status: int, location: str | None, peer: str) -> RedirectRefusedError:
    """The error for a 3xx answer, naming where it pointed (shortened; never followed)."""
    where = (location or "no Location").strip()
    if len(where) > MAX_LOCATION_CHARS:
        where = where[:MAX_LOCATION_CHARS] + "…"
    return RedirectRefusedError(
        f"{peer} answered HTTP {status} redirect to {where}: not followed (check the URL)",
        http_status=status,
    )
