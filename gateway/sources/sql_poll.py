"""SQL polling: read a vendor's database with the vendor's query and a watermark.

The watermark is the last row's (``timestamp_column``, ``id_column``): the id breaks ties
between rows changed in the same instant, so none is skipped or read twice by the query. Each
batch is translated and committed to the outbox together with the new watermark
(:func:`~gateway.sources.pulling.commit_batch`), so the cursor never runs ahead of the records
it covers. A row the adapter rejects is audited and passed over (the watermark moves on: the
row is wrong, reading it again would not help). If the query returns rows out of order, the
source stops advancing and says so, rather than skip rows.

Example query (PostgreSQL, MySQL/MariaDB and SQLite all accept row comparisons)::

    SELECT d.*, d.modifiedDate AS updated_at, d.dossierId AS id FROM opencps_dossier d
    WHERE (d.modifiedDate, d.dossierId) > (:after_ts, :after_id)
    ORDER BY d.modifiedDate, d.dossierId LIMIT :limit
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog

from adapters.contract import Adapter
from gateway.canonical import DEFAULT_RULES, RecordRules
from gateway.config.schema import SqlPollConfig
from gateway.errors import SourceError
from gateway.sources.pulling import commit_batch, jsonable
from gateway.sources.vendor_db import Row, VendorDb
from gateway.store.contract import SourceCursor, Store, Validate

log = structlog.get_logger("gateway.sources.sql_poll")


class SqlPollSource:
    """One vendor query, polled in batches of ``batch_size`` rows."""

    def __init__(
        self,
        name: str,
        config: SqlPollConfig,
        adapter: Adapter,
        store: Store,
        db: VendorDb,
        *,
        validate: Validate,
        clock: Callable[[], float] = time.time,
        rules: RecordRules = DEFAULT_RULES,
    ) -> None:
        self.name = name
        self._rules = rules
        self._config = config
        self._adapter = adapter
        self._store = store
        self._db = db
        self._validate = validate
        self._clock = clock

    async def watermark(self) -> tuple[object, object]:
        """Where the next poll starts: the saved cursor, or the configured start."""
        saved = await self._store.get_cursor(self.name)
        if saved is None:
            start_id = self._config.start_after_id
            return (
                datetime.fromisoformat(self._config.start_after),
                int(start_id) if start_id.lstrip("-").isdigit() else start_id,
            )
        value = json.loads(saved)
        return _decode(value["ts"]), _decode(value["id"])

    async def poll_once(self) -> bool:
        after_ts, after_id = await self.watermark()
        rows = await self._db.fetch(
            {"after_ts": after_ts, "after_id": after_id, "limit": self._config.batch_size}
        )
        if not rows:
            return False
        last = self._checked(rows, (after_ts, after_id))
        cursor = json.dumps({"ts": _encode(last[0]), "id": _encode(last[1])}, sort_keys=True)
        batch = await commit_batch(
            self._store,
            self.name,
            self._adapter,
            [jsonable(row) for row in rows],
            now=self._clock(),
            validate=self._validate,
            cursor=SourceCursor(self.name, cursor),
            rules=self._rules,
        )
        log.info(
            "sql_poll_committed",
            source=self.name,
            rows=len(rows),
            accepted=batch.count("accepted"),
            duplicate=batch.count("duplicate"),
            quarantined=batch.count("quarantined"),
            rejected=len(batch.rejected),
        )
        return len(rows) >= self._config.batch_size

    def _checked(self, rows: list[Row], after: tuple[object, object]) -> tuple[object, object]:
        """The last row's watermark, after checking the rows come in watermark order."""
        ts_col, id_col = self._config.timestamp_column, self._config.id_column
        previous: tuple[Any, Any] = after
        for row in rows:
            if ts_col not in row or id_col not in row:
                raise SourceError(
                    f"{self.name}: the query must return the columns {ts_col!r} and {id_col!r}"
                )
            current = (row[ts_col], row[id_col])
            try:
                ordered = current > previous
            except TypeError:
                ordered = True  # the start value and the column differ in type: trust the query
            if not ordered:
                raise SourceError(
                    f"{self.name}: rows are not in ({ts_col}, {id_col}) order after the "
                    "watermark; fix the query's WHERE and ORDER BY"
                )
            previous = current
        return previous

    async def close(self) -> None:
        await self._db.close()


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if value is None or isinstance(value, str | int | float):
        return value
    raise SourceError(f"cannot keep a watermark of type {type(value).__name__}")


def _decode(value: Any) -> object:
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return date.fromisoformat(value["date"])
        if "decimal" in value:
            return Decimal(value["decimal"])
    return value
