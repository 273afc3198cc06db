"""Group commit: the writes that queue up behind a commit share the next one.

With ``synchronous=FULL`` every commit waits for the disk (an ``fsync`` of the WAL), and a
busy daemon writes from many tasks at once: 16 portal calls in flight each commit their
outcomes, intake requests commit their receipts. The store's single database thread ran them
one transaction each, so a drain paid one disk flush per portal call. Here each write is a
job; the thread takes every job waiting when it gets to them and runs them in one
transaction, each inside its own ``SAVEPOINT``, then commits once. What does not change:

- a caller is answered only after the commit that holds its job (durability as before);
- a job that fails is rolled back to its savepoint alone, with the audit chain writer put
  back where it stood, and only its caller gets the error; the others commit;
- a commit that fails fails every job of the group: none of them happened;
- jobs run in the order they were submitted, so a write never overtakes an earlier one.

Nothing waits to form a group: a lone write commits at once. Groups form only while the
thread is busy, which is exactly when sharing the flush helps.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from gateway.audit.chain import ChainWriter
from gateway.store.sqlite.rows import SqliteTx

Job = Callable[[SqliteTx], Any]


@dataclass(slots=True)
class _Pending:
    job: Job
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class GroupCommit:
    """Queue of write jobs drained by the store's database thread, one transaction a group."""

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[tuple[SqliteTx, ChainWriter]]]
    ) -> None:
        self._transaction = transaction
        self._pending: deque[_Pending] = deque()
        self.groups = 0
        """Transactions committed (for the bench: jobs per commit)."""
        self.jobs = 0

    def submit(self, job: Job) -> asyncio.Future[Any]:
        """Queue ``job``; the future resolves after the commit that holds it. The caller
        must then schedule :meth:`flush` on the database thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Pending(job, future, loop))
        return future

    def flush(self) -> None:
        """Run every queued job in one transaction (on the database thread). A flush that
        finds the queue empty (an earlier one took its jobs) does nothing."""
        group = list(_take(self._pending))
        if not group:
            return
        done: list[tuple[_Pending, Any, BaseException | None]] = []
        try:
            with self._transaction() as (tx, writer):
                for pending in group:
                    done.append((pending, *_run_one(tx, writer, pending.job)))
        except BaseException as exc:  # the commit (or BEGIN) failed: nothing happened
            for pending in group:
                _settle(pending, None, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.groups += 1
        self.jobs += len(group)
        for pending, value, error in done:
            _settle(pending, value, error)


def _take(queue: deque[_Pending]) -> Iterator[_Pending]:
    while queue:
        try:
            yield queue.popleft()
        except IndexError:  # pragma: no cover - only this thread takes from the queue
            return


def _run_one(tx: SqliteTx, writer: ChainWriter, job: Job) -> tuple[Any, Exception | None]:
    """One job inside its own savepoint; on an error roll it back, chain writer included."""
    mark = writer.mark()
    tx.conn.execute("SAVEPOINT job")
    try:
        value = job(tx)
    except Exception as exc:  # noqa: BLE001 - its caller gets it, the group goes on
        tx.conn.execute("ROLLBACK TO job")
        tx.conn.execute("RELEASE job")
        writer.rewind(mark)
        return None, exc
    tx.conn.execute("RELEASE job")
    return value, None


def _settle(pending: _Pending, value: Any, error: BaseException | None) -> None:
    def resolve() -> None:
        if pending.future.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            pending.future.set_exception(error)
        else:
            pending.future.set_result(value)

    pending.loop.call_soon_threadsafe(resolve)
