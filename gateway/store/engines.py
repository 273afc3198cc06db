"""Open the store engine the configuration names (``store.engine``), or its audit log."""

from __future__ import annotations

from gateway.audit.archive import AuditRepository
from gateway.audit.chain import AuditPolicy
from gateway.config.schema import StoreConfig
from gateway.store.postgres.audit import PostgresAuditRepository
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.audit import SqliteAuditRepository
from gateway.store.sqlite.store import SqliteStore

AnyStore = SqliteStore | PostgresStore


async def open_store(
    config: StoreConfig,
    *,
    now: float,
    operator: bool = False,
    max_rescues: int = 5,
    audit: AuditPolicy | None = None,
    migrate: bool = False,
) -> AnyStore:
    """SQLite: the file at ``store.path``; PostgreSQL: ``store.dsn`` (migrated on open).
    ``operator``: for commands run next to a live daemon (see ``SqliteStore.open``); they
    open an existing store only (StoreUnavailableError naming it), except that ``migrate``
    (``db migrate``) may create the schema in an existing PostgreSQL database."""
    if config.engine == "postgresql":
        return await PostgresStore.open(
            config.dsn,
            now=now,
            max_connections=config.max_connections,
            audit=audit,
            existing=operator and not migrate,
        )
    return await SqliteStore.open(
        config.path, now=now, operator=operator, max_rescues=max_rescues, audit=audit
    )


def open_audit_repository(config: StoreConfig, *, writable: bool = False) -> AuditRepository:
    """The audit log of an existing store, on a connection of its own (synchronous: for
    operator commands and worker threads). ``writable``: to archive; on PostgreSQL it holds
    the one archive lock until closed. Raises StoreUnavailableError for a missing database."""
    if config.engine == "postgresql":
        return PostgresAuditRepository(config.dsn, writable=writable)
    return SqliteAuditRepository(config.path, writable=writable)
