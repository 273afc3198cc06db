"""Backpressure at intake: refuse (503 + ``Retry-After``) what the gateway should not take on.

Two signals: the backlog (records queued or leased) above ``intake.max_backlog``, and free
disk under ``intake.min_free_disk_bytes`` on the SQLite store's volume (a PostgreSQL server
watches its own disk). The backlog count is cached for ``refresh_s`` so a busy intake does not
count the whole table on every request. A refused request stores nothing: the source keeps the
records and sends them again later.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from gateway.config.schema import IntakeConfig
from gateway.store.contract import Store


class Backpressure:
    def __init__(
        self,
        store: Store,
        config: IntakeConfig,
        disk: Path | None,
        clock: Callable[[], float],
        *,
        refresh_s: float = 1.0,
        free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
    ) -> None:
        self._store = store
        self._config = config
        self._disk = disk
        self._clock = clock
        self._refresh_s = refresh_s
        self._free_bytes = free_bytes
        self._checked_at = float("-inf")
        self._backlog = 0

    async def reason(self) -> str | None:
        """Why intake must refuse now, or None."""
        if self._disk is not None:
            free = self._free_bytes(self._disk)
            if free < self._config.min_free_disk_bytes:
                return f"free disk space is low ({free} bytes left)"
        if self._config.max_backlog <= 0:
            return None
        now = self._clock()
        if now - self._checked_at >= self._refresh_s:
            counts = await self._store.counts()
            self._backlog = counts["queued"] + counts["leased"]
            self._checked_at = now
        if self._backlog >= self._config.max_backlog:
            return f"backlog of {self._backlog} records waiting for the portal"
        return None
