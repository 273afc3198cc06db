"""The SQLite schema of the outbox, its attempts and the audit log, as versioned migrations.

``SCHEMA`` is version 1 (idempotent, ``IF NOT EXISTS``); each entry of ``MIGRATIONS`` moves
the database one version on and runs in the transaction that records the new version in
``meta.schema_version``. The store applies whatever is missing when it opens a file.
"""

SCHEMA_VERSION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 1), ('lease_token', 0);

CREATE TABLE IF NOT EXISTS records (
    id              INTEGER PRIMARY KEY,
    event_key       TEXT NOT NULL UNIQUE,     -- idempotency key of the logical event
    source          TEXT NOT NULL,
    kind            TEXT NOT NULL,            -- dossier | progress | result (quarantined only)
    dossier_code    TEXT NOT NULL,            -- MaHoSo
    agency_code     TEXT NOT NULL,            -- madonvi
    order_at        REAL,                     -- progress: ThoiDiemXuLy (epoch s) for ordering
    payload         TEXT NOT NULL,            -- canonical JSON
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    lease_token     INTEGER,
    accepted_at     REAL NOT NULL,
    updated_at      REAL NOT NULL,
    last_error      TEXT,
    portal_code     TEXT
);
CREATE INDEX IF NOT EXISTS records_ready ON records (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS records_dossier ON records (dossier_code, state, kind);

CREATE TABLE IF NOT EXISTS dossiers (
    dossier_code       TEXT PRIMARY KEY,
    agency_code        TEXT NOT NULL,
    on_portal          INTEGER NOT NULL DEFAULT 0,
    latest_snapshot_id INTEGER REFERENCES records (id)
);

CREATE TABLE IF NOT EXISTS attempts (
    id          INTEGER PRIMARY KEY,
    record_id   INTEGER NOT NULL REFERENCES records (id),
    attempt     INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    route       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    http_status INTEGER,
    portal_code TEXT,
    message     TEXT,
    latency_ms  REAL
);
CREATE INDEX IF NOT EXISTS attempts_record ON attempts (record_id);

CREATE TABLE IF NOT EXISTS source_cursors (
    source     TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    seq          INTEGER PRIMARY KEY,
    at           REAL NOT NULL,
    event        TEXT NOT NULL,
    record_id    INTEGER,
    dossier_code TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_dossier ON audit (dossier_code);
CREATE INDEX IF NOT EXISTS audit_record ON audit (record_id);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);

-- Signed heads of the audit chain (gateway/audit/chain.py), written in the same transaction.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    at        REAL NOT NULL,
    hash      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- Archive files the oldest entries moved to (gateway/audit/archive.py), in order.
CREATE TABLE IF NOT EXISTS audit_archives (
    first_seq   INTEGER PRIMARY KEY,
    last_seq    INTEGER NOT NULL,
    last_hash   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    file_digest TEXT NOT NULL,
    created_at  REAL NOT NULL
);
"""

MIGRATIONS: dict[int, str] = {
    2: """
ALTER TABLE records ADD COLUMN rescues INTEGER NOT NULL DEFAULT 0;   -- leases lost
ALTER TABLE records ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0; -- may be on the portal
ALTER TABLE records ADD COLUMN status INTEGER;                       -- TrangThaiHoSo
CREATE INDEX IF NOT EXISTS records_dead ON records (state, updated_at);
""",
    3: """
ALTER TABLE dossiers ADD COLUMN not_synced INTEGER NOT NULL DEFAULT 0; -- derived (spec 1.5)
""",
    4: """
-- The national catalogue (gateway/catalogue): one row per synced version, whole, as JSON.
CREATE TABLE IF NOT EXISTS catalogue_versions (
    version   INTEGER PRIMARY KEY,
    synced_at REAL NOT NULL,
    digest    TEXT NOT NULL,
    content   TEXT NOT NULL,
    changes   TEXT NOT NULL
);
-- Procedure details fetched by a sync that has not finished yet (resumed by the next run).
CREATE TABLE IF NOT EXISTS catalogue_pending (
    code       TEXT PRIMARY KEY,
    detail     TEXT NOT NULL,
    fetched_at REAL NOT NULL
);
""",
    # 5: dossiers filed on the portal and pushed down, and the queue of what goes down to the
    # sink and back to the portal (gateway/store/inbound.py). Version 4 is another branch's.
    5: """
CREATE TABLE IF NOT EXISTS inbound_dossiers (
    dossier_code   TEXT PRIMARY KEY,          -- MaHoSo: the idempotency key
    procedure_code TEXT NOT NULL,
    source         TEXT NOT NULL,
    digest         TEXT NOT NULL,             -- SHA-256 of the body as received
    payload        TEXT NOT NULL,             -- canonical JSON (gateway/inbound/model.py)
    received_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS inbound_jobs (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,            -- deliver (to the sink) | report (to the portal)
    dossier_code    TEXT NOT NULL,
    target          TEXT NOT NULL,            -- the sink's name, or portal
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    lease_token     INTEGER,
    uncertain       INTEGER NOT NULL DEFAULT 0,
    accepted_at     REAL NOT NULL,
    updated_at      REAL NOT NULL,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS inbound_jobs_ready ON inbound_jobs (kind, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS inbound_jobs_dossier ON inbound_jobs (dossier_code, kind, state, id)
""",
}
