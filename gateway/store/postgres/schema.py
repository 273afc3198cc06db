"""The PostgreSQL schema as versioned migrations, and the migrator.

``dvc-gateway db migrate`` and every gateway start call :func:`migrate`. It holds a
session-level advisory lock while it works, so several gateway processes starting at once
apply each migration exactly once; each migration runs in one transaction together with its
row in ``schema_migrations``. Migrations are append-only: a released one is never edited.
"""

from __future__ import annotations

import time
from typing import Any

MIGRATION_LOCK = 0x64766367  # "dvcg": the advisory lock key of the migrator

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE records (
    id              BIGSERIAL PRIMARY KEY,
    event_key       TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    dossier_code    TEXT NOT NULL,
    agency_code     TEXT NOT NULL,
    order_at        DOUBLE PRECISION,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    status          INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    rescues         INTEGER NOT NULL DEFAULT 0,
    uncertain       BOOLEAN NOT NULL DEFAULT FALSE,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_owner     TEXT,
    lease_until     DOUBLE PRECISION,
    lease_token     BIGINT,
    accepted_at     DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    last_error      TEXT,
    portal_code     TEXT
);
CREATE INDEX records_ready ON records (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX records_dossier ON records (dossier_code, state, kind);
CREATE INDEX records_leased ON records (lease_until) WHERE state = 'leased';
CREATE INDEX records_dead ON records (state, updated_at);

CREATE TABLE dossiers (
    dossier_code       TEXT PRIMARY KEY,
    agency_code        TEXT NOT NULL,
    on_portal          BOOLEAN NOT NULL DEFAULT FALSE,
    latest_snapshot_id BIGINT REFERENCES records (id),
    in_flight          BIGINT
);

CREATE TABLE attempts (
    id          BIGSERIAL PRIMARY KEY,
    record_id   BIGINT NOT NULL REFERENCES records (id),
    attempt     INTEGER NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL,
    route       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    http_status INTEGER,
    portal_code TEXT,
    message     TEXT,
    latency_ms  DOUBLE PRECISION
);
CREATE INDEX attempts_record ON attempts (record_id);

CREATE TABLE source_cursors (
    source     TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE audit (
    seq          BIGINT PRIMARY KEY,
    at           DOUBLE PRECISION NOT NULL,
    event        TEXT NOT NULL,
    record_id    BIGINT,
    dossier_code TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_dossier ON audit (dossier_code);
CREATE INDEX audit_record ON audit (record_id);

-- The head of the audit chain: every transaction that writes audit entries locks this one
-- row last (SELECT ... FOR UPDATE), so processes append to one chain and never fork it.
CREATE TABLE audit_head (
    one  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (one, seq, hash) VALUES (TRUE, 0, repeat('0', 64));

CREATE SEQUENCE lease_tokens;
""",
    2: """
-- Signed heads of the audit chain (gateway/audit/chain.py), written in the same transaction as the
-- entries they cover; audit_head remembers the newest one, so the writer knows when the next
-- is due without reading this table.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    at        DOUBLE PRECISION NOT NULL,
    hash      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);
-- Archive files the oldest entries moved to (gateway/audit/archive.py), in order.
CREATE TABLE audit_archives (
    first_seq   BIGINT PRIMARY KEY,
    last_seq    BIGINT NOT NULL,
    last_hash   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    file_digest TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL
);
ALTER TABLE audit_head ADD COLUMN checkpoint_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN checkpoint_at DOUBLE PRECISION;
CREATE INDEX audit_at ON audit (at);
""",
    3: """
-- A derived inter-agency dossier the route does not sync (spec 1.5): its steps are skipped.
ALTER TABLE dossiers ADD COLUMN not_synced BOOLEAN NOT NULL DEFAULT FALSE;
""",
    4: """
-- The claim's ordering rule (gateway/store/outcomes.py STEP_MAY_GO_SQL) looks for an earlier
-- queued record of the same dossier. This index answers it from the dossier's own entries
-- whatever the statistics say: a plan made while the tables were empty, and kept because
-- nothing analyzed them since (autovacuum off or behind), scanned every queued record for
-- each candidate instead, and claims grew with the square of the backlog.
CREATE INDEX records_queued_in_dossier ON records (dossier_code, kind, order_at, id)
    WHERE state = 'queued';
""",
    5: """
-- The national catalogue (gateway/catalogue): one row per synced version, whole, as JSON.
CREATE TABLE catalogue_versions (
    version   INTEGER PRIMARY KEY,
    synced_at DOUBLE PRECISION NOT NULL,
    digest    TEXT NOT NULL,
    content   TEXT NOT NULL,
    changes   TEXT NOT NULL
);
-- Procedure details fetched by a sync that has not finished yet (resumed by the next run).
CREATE TABLE catalogue_pending (
    code       TEXT PRIMARY KEY,
    detail     TEXT NOT NULL,
    fetched_at DOUBLE PRECISION NOT NULL
);
""",
    # 6: dossiers filed on the portal and pushed down, and the queue of what goes down to the
    # sink and back to the portal (gateway/store/inbound.py). Version 5 is another branch's.
    6: """
CREATE TABLE inbound_dossiers (
    dossier_code   TEXT PRIMARY KEY,
    procedure_code TEXT NOT NULL,
    source         TEXT NOT NULL,
    digest         TEXT NOT NULL,
    payload        TEXT NOT NULL,
    received_at    DOUBLE PRECISION NOT NULL
);
CREATE TABLE inbound_jobs (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    dossier_code    TEXT NOT NULL,
    target          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_owner     TEXT,
    lease_until     DOUBLE PRECISION,
    lease_token     BIGINT,
    uncertain       BOOLEAN NOT NULL DEFAULT FALSE,
    accepted_at     DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    last_error      TEXT
);
CREATE INDEX inbound_jobs_ready ON inbound_jobs (kind, state, next_attempt_at);
CREATE INDEX inbound_jobs_dossier ON inbound_jobs (dossier_code, kind, state, id);
""",
}

LATEST = max(MIGRATIONS)


async def migrate(conn: Any) -> list[int]:
    """Apply every missing migration on an asyncpg connection; return the versions applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            # only then: a role with rights on the rows but none to create may start
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version in sorted(v for v in MIGRATIONS if v not in done):
            async with conn.transaction():
                await conn.execute(MIGRATIONS[version])
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    version,
                    time.time(),
                )
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def current_version(conn: Any) -> int:
    """The highest applied migration, 0 for an empty database."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
