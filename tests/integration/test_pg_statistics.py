"""The PostgreSQL store keeps the planner's statistics of its queue tables current itself,
so claims stay cheap when autovacuum is off or behind (this machine's server runs with
``autovacuum = off``, as some provincial servers do)."""

from __future__ import annotations

import io
import json
import uuid

import asyncpg

from gateway import logs
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.postgres.store import STATS_LOCK, PostgresStore
from tests.factories import dossier
from tests.pg import ADMIN_DSN, pg_database


async def accept_dossiers(store: PostgresStore, count: int) -> None:
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(count)]
    items = [Incoming("t", dossier(code), code) for code in codes]
    await store.accept(items, now=1.0, validate=validate_for_portal)
    async with store._conn() as conn:  # the pool's one connection: publish its counts now
        await conn.execute("SELECT pg_stat_force_next_flush()")


async def analyzed(dsn: str) -> dict[str, bool]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE relname IN ('records', 'dossiers')"
        )
    finally:
        await conn.close()
    return {str(name): bool(done) for name, done in rows}


async def test_the_queue_tables_are_analyzed_once_enough_of_them_changed() -> None:
    async with pg_database() as dsn:
        store = await PostgresStore.open(dsn, now=0.0, max_connections=1)
        try:
            await accept_dossiers(store, 100)
            few = await store.maintain()  # 100 rows changed: below 500 plus 10 %
            await accept_dossiers(store, 1000)
            stale = await store.maintain()
            again = await store.maintain()
        finally:
            await store.close()
        after = await analyzed(dsn)
    assert few == []
    assert stale == ["dossiers", "records"]
    assert again == []  # nothing changed since
    assert after == {"dossiers": True, "records": True}


async def test_one_process_refreshes_at_a_time_and_the_others_do_not_wait() -> None:
    async with pg_database() as dsn:
        store = await PostgresStore.open(dsn, now=0.0, max_connections=1)
        other = await asyncpg.connect(dsn)
        try:
            await accept_dossiers(store, 1000)
            async with other.transaction():
                await other.execute("SELECT pg_advisory_xact_lock($1)", STATS_LOCK)
                skipped = await store.maintain()
            done = await store.maintain()
        finally:
            await other.close()
            await store.close()
    assert skipped == []
    assert done == ["dossiers", "records"]


async def test_a_gateway_role_that_does_not_own_the_tables_leaves_them_to_autovacuum() -> None:
    """``db migrate`` run by the owner, the daemon connected as a role with rights on the
    rows only: PostgreSQL would skip the ANALYZE with a warning, and the store would try
    again every round, so it does not try."""
    role = f"dvcgw_i4_role_{uuid.uuid4().hex[:8]}"
    async with pg_database() as dsn:
        owner = await PostgresStore.open(dsn, now=0.0, max_connections=1)
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(f"CREATE ROLE {role} LOGIN")
            await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
            await admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
            await accept_dossiers(owner, 1000)
            other = await PostgresStore.open(
                dsn.replace("//postgres@", f"//{role}@"), now=0.0, max_connections=1
            )
            try:
                by_other = await other.maintain()
                code = "000.00.00.H56-261102-99999"  # and it works the queue as usual
                receipts = await other.accept(
                    [Incoming("t", dossier(code), code)], now=1.0, validate=validate_for_portal
                )
                claimed = await other.claim("w", 2000, now=2.0, lease_s=30.0)
            finally:
                await other.close()
            by_owner = await owner.maintain()
        finally:
            await owner.close()
            await admin.close()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
    finally:
        await admin.close()
    assert by_other == []
    assert by_owner == ["dossiers", "records"]
    assert receipts[0].status == "accepted"
    assert len(claimed) == 1001


async def test_a_server_without_autovacuum_is_named_at_start() -> None:
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    try:
        async with pg_database() as dsn:
            store = await PostgresStore.open(dsn, now=0.0, max_connections=1)
            try:
                async with store._conn() as conn:
                    setting = await conn.fetchval("SHOW autovacuum")
            finally:
                await store.close()
    finally:
        logs.reset()
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events.count("store_autovacuum_off") == (1 if setting == "off" else 0)
