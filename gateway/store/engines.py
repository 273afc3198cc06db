"""Open the store engine the configuration names (``store.engine``)."""

from __future__ import annotations

from gateway.audit import AuditPolicy
from gateway.config import StoreConfig
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore

AnyStore = SqliteStore | PostgresStore


async def open_store(
    config: StoreConfig,
    *,
    now: float,
    operator: bool = False,
    max_rescues: int = 5,
    audit: AuditPolicy | None = None,
) -> AnyStore:
    """SQLite: the file at ``store.path``; PostgreSQL: ``store.dsn`` (migrated on open).
    ``operator``: for commands run next to a live daemon (see ``SqliteStore.open``)."""
    if config.engine == "postgresql":
        return await PostgresStore.open(
            config.dsn, now=now, max_connections=config.max_connections, audit=audit
        )
    return await SqliteStore.open(
        config.path, now=now, operator=operator, max_rescues=max_rescues, audit=audit
    )
