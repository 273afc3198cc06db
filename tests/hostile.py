"""A raw asyncio HTTP server that plays a hostile portal, security server or LGSP.

aiohttp's and werkzeug's servers write an answer the way a well-behaved server does; this one
writes exactly the bytes a test plans, in as many writes as it wants, as slowly as it wants
(answers split across TCP segments, drips that never end, lying ``Content-Length``s). Each
request is read whole (``Content-Length`` bodies), handed to the test's ``answer`` coroutine
with a writer, and the connection is closed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Answer = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def xroad_id(self) -> str:
        """The X-Road message id of a SOAP request (the answer must echo it)."""
        found = re.search(rb"<(?:\w+:)?id(?:\s[^>]*)?>([^<]+)</(?:\w+:)?id>", self.body)
        assert found is not None, self.body[:300]
        return found.group(1).decode()


@dataclass
class RawServer:
    answer: Answer
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, headers, body)
            self.requests.append(request)
            await self.answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.tasks.discard(task)


@contextlib.asynccontextmanager
async def raw_server(answer: Answer, host: str = "127.0.0.1") -> AsyncIterator[RawServer]:
    server = RawServer(answer)
    listener = await asyncio.start_server(server.handle, host, 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        listener.close()
        for task in list(server.tasks):
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
        await listener.wait_closed()


def head(status: int, content_type: str, length: int | None, **extra: str) -> bytes:
    """An answer's status line and headers (``length`` None: no ``Content-Length``)."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def write_in_pieces(
    writer: asyncio.StreamWriter, data: bytes, pieces: int, pause_s: float = 0.005
) -> None:
    """``data`` in ``pieces`` separate writes, each flushed, with a short pause between them so
    each reaches the client as its own segment (the client reads what has arrived so far)."""
    size = max(1, -(-len(data) // pieces))
    for start in range(0, len(data), size):
        writer.write(data[start : start + size])
        await writer.drain()
        await asyncio.sleep(pause_s)


async def drip_forever(writer: asyncio.StreamWriter, pause_s: float = 0.02) -> None:
    """One byte at a time until the client hangs up (a body that never ends)."""
    while not writer.is_closing():
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(pause_s)
