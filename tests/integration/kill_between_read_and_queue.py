"""Run one pulling source and SIGKILL this process around its n-th commit.

Used by the crash tests as a subprocess::

    python kill_between_read_and_queue.py '{"kind": "sql_poll", "config": {...},
        "store": "gw.db", "kill_at": 2, "when": "before"}'

``when`` is ``before`` (the batch was read and translated, not yet queued) or ``after``
(queued and committed, not yet acknowledged to the source loop). The kill is a real
``kill -9`` of this process: no ``finally`` runs, no buffer is flushed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters import registry
from gateway.config.schema import FileDropConfig, SqlPollConfig
from gateway.sources.file_drop import FileDropSource
from gateway.sources.intake import validate_for_portal
from gateway.sources.pulling import PullSource
from gateway.sources.sql_poll import SqlPollSource
from gateway.sources.vendor_db import open_vendor_db
from gateway.store.contract import Incoming, Receipt, Rejected
from gateway.store.sqlite.store import SqliteStore


class KillingStore:
    """The real store, with a kill -9 of this process around the n-th ``accept``."""

    def __init__(self, inner: SqliteStore, kill_at: int, when: str) -> None:
        self.inner = inner
        self.kill_at = kill_at
        self.when = when
        self.calls = 0

    async def accept(self, items: Sequence[Incoming | Rejected], **kw: Any) -> list[Receipt]:
        self.calls += 1
        if self.calls == self.kill_at and self.when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        receipts = await self.inner.accept(items, **kw)
        if self.calls == self.kill_at and self.when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return receipts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def main(spec: dict[str, Any]) -> None:
    inner = await SqliteStore.open(Path(spec["store"]), now=1.0)
    store: Any = KillingStore(inner, spec["kill_at"], spec["when"])
    source: PullSource
    if spec["kind"] == "sql_poll":
        sql = SqlPollConfig(**spec["config"])
        adapter = registry.create(sql.adapter, sql.options, "crash")
        db = open_vendor_db(sql, "crash")
        source = SqlPollSource("onestop", sql, adapter, store, db, validate=validate_for_portal)
    else:
        drop = FileDropConfig(**{**spec["config"], "path": Path(spec["config"]["path"])})
        adapter = registry.create(drop.adapter, drop.options, "crash")
        source = FileDropSource("drop", drop, adapter, store, validate=validate_for_portal)
    while await source.poll_once():
        pass
    await source.close()
    await inner.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
    sys.exit(3)  # the kill did not happen: the test fails on this exit code
