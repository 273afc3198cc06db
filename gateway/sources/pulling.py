"""What every pulling source shares: translate a batch, commit it with the cursor, loop.

A pulling source (SQL polling, file drop) reads raw records from the vendor's system, has its
adapter translate them, and hands them to :meth:`Store.accept` together with its new cursor:
records, audit entries and cursor are one transaction. A crash before the commit re-reads
the same records next time (nothing lost); a crash after it starts from the new cursor, and
a record read twice has the same idempotency key (nothing duplicated).

:class:`PullLoop` runs one source: it polls again at once while the source says more is
waiting, otherwise waits ``interval_s`` or until stopped. A failing round is logged once when
the source becomes unavailable and once when it recovers, and the loop carries on: one
source's trouble never stops the daemon (this is the supervision the composition root
relies on).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import structlog

from adapters.contract import Adapter
from gateway.canonical import DEFAULT_RULES, RecordRules
from gateway.errors import GatewayError, TranslationError
from gateway.store.contract import Incoming, Receipt, Rejected, SourceCursor, Store, Validate

log = structlog.get_logger("gateway.sources")


class PullSource(Protocol):
    """A source the gateway reads by itself."""

    name: str

    async def poll_once(self) -> bool:
        """Read and commit one batch; return True if more is waiting right now."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Batch:
    """What one commit did."""

    receipts: list[Receipt]
    rejected: dict[int, TranslationError]

    def count(self, status: str) -> int:
        return sum(1 for r in self.receipts if r.status == status)


def jsonable(value: Any) -> Any:
    """A driver value as the JSON-like value adapters expect (timestamps as ISO-8601 text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():  # NaN, sNaN, Infinity: comparing a signalling NaN raises
            return str(value)
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def raw_digest(raw: object) -> str:
    """SHA-256 of a raw record's JSON form: what the audit log keeps instead of the record."""
    body = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    # A lone surrogate (a JSON "\ud800" escape) is hashed as it came, not refused here: the
    # record rules reject it with its field path.
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def translate_batch(
    source: str,
    adapter: Adapter,
    raws: Sequence[object],
    *,
    rules: RecordRules = DEFAULT_RULES,
    prepare: Callable[[object], object] = lambda raw: raw,
) -> tuple[list[Incoming | Rejected], dict[int, TranslationError]]:
    """Translate ``raws`` and check each record against ``rules``; a record the adapter
    refuses, that breaks a rule, or on which anything fails becomes a :class:`Rejected` item:
    one record never fails the batch."""
    items: list[Incoming | Rejected] = []
    rejected: dict[int, TranslationError] = {}
    for index, raw in enumerate(raws):
        digest = ""
        try:
            digest = raw_digest(raw)
            record = rules.check(adapter.translate(prepare(raw)))
        except TranslationError as exc:
            rejected[index] = exc
        except Exception as exc:  # noqa: BLE001 - one record must not block the whole stream
            # The message could quote the record (personal data): log only where it broke.
            where = where_it_broke(exc)
            log.error("adapter_crashed", source=source, adapter=adapter.name, error=where)
            rejected[index] = TranslationError.at("$", f"the adapter crashed ({where})")
        else:
            items.append(Incoming(source, record, digest))
            continue
        items.append(Rejected(source, digest, str(rejected[index])))
    return items, rejected


def where_it_broke(exc: BaseException) -> str:
    """``KeyError at adapter.py:42``: the exception's type and innermost frame, no message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    return f"{type(exc).__name__} at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


async def commit_batch(
    store: Store,
    source: str,
    adapter: Adapter,
    raws: Sequence[object],
    *,
    now: float,
    validate: Validate,
    cursor: SourceCursor | None,
    rules: RecordRules = DEFAULT_RULES,
) -> Batch:
    """Translate ``raws`` and commit them with ``cursor`` in one store transaction."""
    items, rejected = translate_batch(source, adapter, raws, rules=rules)
    receipts = await store.accept(items, now=now, validate=validate, cursor=cursor)
    return Batch(receipts, rejected)


class PullLoop:
    """Runs one pulling source until stopped."""

    def __init__(
        self,
        source: PullSource,
        interval_s: float,
        *,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.source = source
        self._interval_s = interval_s
        self._on_commit = on_commit
        self._failing = False
        self._round_done = asyncio.Event()
        self._one_at_a_time = asyncio.Lock()
        self.rounds = 0

    async def next_round(self) -> None:
        """Wait until the loop finishes its next round (tests use this instead of sleeping)."""
        await self._round_done.wait()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("source_started", source=self.source.name)
        try:
            while not stop.is_set():
                more = await self.round()
                if not more:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._interval_s)
        finally:
            await self.source.close()
            log.info("source_stopped", source=self.source.name)

    async def round(self) -> bool:
        """One poll, with its failure logged on the edge; return True if more is waiting.
        Rounds never overlap (a test or an operator may ask for one while the loop runs)."""
        async with self._one_at_a_time:
            return await self._round()

    async def _round(self) -> bool:
        more = False
        try:
            more = await self.source.poll_once()
        except GatewayError as exc:
            self._fail(exc, crashed=False)
        except Exception as exc:  # noqa: BLE001 - a source's bug must not stop the daemon
            self._fail(exc, crashed=True)
        else:
            if self._failing:
                log.info("source_recovered", source=self.source.name)
                self._failing = False
            self._on_commit()
        self.rounds += 1
        done, self._round_done = self._round_done, asyncio.Event()
        done.set()
        return more

    def _fail(self, exc: Exception, *, crashed: bool) -> None:
        """Logged when the source goes from working to failing, not on every round."""
        if not self._failing:
            if crashed:
                log.error("source_crashed", source=self.source.name, error=where_it_broke(exc))
            else:
                log.warning("source_unavailable", source=self.source.name, error=str(exc))
        self._failing = True
