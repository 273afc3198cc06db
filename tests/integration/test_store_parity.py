"""Both engines tell the same story: one scripted life of a batch, run on a SQLite file and on
a real PostgreSQL database, leaves the same receipts, the same record states and the same
audit entries (event, record, dossier, detail), in the same order, and the same signed
checkpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.audit.chain import verify_log
from gateway.model import DossierStatus, Result
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import DeadFilter, Incoming, Outcome, OutcomeKind, Rejected
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.audit_support import EVERY, SIGNER, policy
from tests.factories import T0, dossier, step
from tests.pg import pg_database

AnyStore = SqliteStore | PostgresStore


def batch() -> list[Incoming | Rejected]:
    a, b, c = (f"000.00.00.H56-261102-0000{i}" for i in (1, 2, 3))
    finished = Result(a, dossier(a).agency_code, DossierStatus.FINISHED, T0.replace(hour=15), "Lê")
    items: list[Incoming | Rejected] = [
        Incoming("t", dossier(a), "d1"),
        Incoming("t", step(a, 10), "d2"),
        Incoming("t", step(a, 10), "d2-again"),  # a duplicate inside the batch
        Incoming("t", dossier(a, status=DossierStatus.PROCESSING), "d3"),  # supersedes d1
        Incoming("t", dossier(a, status=DossierStatus.RECEIVED), "d4"),  # backwards: kept
        Incoming("t", finished, "d5"),  # an update of the in-batch latest and a closing step
        Incoming("t", dossier(b, summary=""), "d6"),  # the portal would refuse it
        Rejected("t", "d7", "$.status: not a status"),
        Incoming("t", dossier(c), "d8"),
    ]
    return items


def attempt(o: Outcome) -> Outcome:
    return Outcome(
        o.record_id,
        o.lease_token,
        o.kind,
        at=o.at,
        route="r",
        next_attempt_at=o.next_attempt_at,
        http_status=200,
        portal_code="0",
        message=o.message,
        latency_ms=12.5,
        request_target="/mapi/g",
        request_digest="ab" * 32,
        request_body='{"service": "DongBoHoSoMC"}',
    )


async def life(store: AnyStore) -> tuple[Any, ...]:
    """Accept, claim, deliver, retry, defer, lose a lease, dead-letter, replay."""
    receipts = await store.accept(batch(), now=1.0, validate=validate_for_portal)
    again = await store.accept(batch()[:2], now=1.5, validate=validate_for_portal)
    first = await store.claim("w", 10, now=2.0, lease_s=30)
    kinds = [OutcomeKind.DELIVERED, OutcomeKind.RETRY]
    await store.complete(
        [
            attempt(Outcome(c.record_id, c.lease_token, k, at=3.0, route="r", next_attempt_at=9))
            for c, k in zip(first, kinds, strict=True)
        ]
    )
    second = await store.claim("w", 10, now=10.0, lease_s=30)
    deferred = Outcome(
        second[0].record_id,
        second[0].lease_token,
        OutcomeKind.DEFERRED,
        at=11.0,
        route="r",
        next_attempt_at=20.0,
        message="circuit open",
    )
    await store.complete([deferred])
    await store.release_expired(now=100.0, max_rescues=1)
    third = await store.claim("w", 10, now=101.0, lease_s=30)
    await store.complete(
        [
            attempt(
                Outcome(
                    c.record_id,
                    c.lease_token,
                    OutcomeKind.DEAD,
                    at=102.0,
                    route="r",
                    message="thiếu MaTTHC",
                )
            )
            for c in third
        ]
    )
    replayed = await store.replay(DeadFilter(), by="operator", now=103.0)
    await store.note("config_reloaded", {"by": "SIGHUP"}, 104.0)
    assert await store.seal_audit(105.0)  # the newest entries were not signed yet
    assert not await store.seal_audit(106.0)  # nothing new since
    checkpoints = await store.audit_checkpoints()
    report = verify_log(
        await store.audit_entries(), checkpoints, public_key=SIGNER.public, max_gap=EVERY
    )
    assert report.ok, report.finding
    states = await store.query("SELECT id, state, attempts FROM records ORDER BY id")
    tokens: dict[int, int] = {}  # fencing tokens are opaque: compare their order of issue
    entries = []
    for e in await store.audit_entries():
        detail = dict(e.detail)
        if "token" in detail:
            detail["token"] = tokens.setdefault(detail["token"], len(tokens))
        entries.append((e.event, e.record_id, e.dossier_code, detail))
    signed = [(c.seq, c.at) for c in checkpoints]  # hashes cover the (opaque) fencing tokens
    return receipts, again, replayed, [tuple(s) for s in states], signed, entries


async def run_on(open_store: Callable[[], Awaitable[AnyStore]]) -> tuple[Any, ...]:
    store = await open_store()
    try:
        return await life(store)
    finally:
        await store.close()


async def test_both_engines_leave_the_same_story(tmp_path: Path) -> None:
    on_sqlite = await run_on(lambda: SqliteStore.open(tmp_path / "gw.db", now=0.0, audit=policy()))
    async with pg_database() as dsn:
        on_pg = await run_on(lambda: PostgresStore.open(dsn, now=0.0, audit=policy()))
    names = ("receipts", "receipts of the second push", "replayed", "states", "checkpoints")
    for name, mine, theirs in zip(names, on_sqlite, on_pg, strict=False):
        assert mine == theirs, name
    sqlite_entries, pg_entries = on_sqlite[-1], on_pg[-1]
    for i, (mine, theirs) in enumerate(zip(sqlite_entries, pg_entries, strict=False)):
        assert mine == theirs, f"audit entry {i}"
    assert len(sqlite_entries) == len(pg_entries)
    events = {e[0] for e in sqlite_entries}
    assert {
        "duplicate_ignored",
        "superseded",
        "quarantined",
        "intake_rejected",
        "attempt",
    } <= events
    assert {"deferred", "lease_expired", "dead_lettered", "replayed"} <= events


async def overtaken_life(store: AnyStore) -> tuple[Any, ...]:
    """Never backwards and nothing stuck: snapshots overtaken while leased come back through
    every door (retry, deferral, refusal, lost lease, hand-back) and are superseded; a dead
    snapshot blocks its steps until a newer snapshot supersedes it."""
    codes = [f"000.00.00.H56-261102-0001{i}" for i in range(5)]
    processing, finished = DossierStatus.PROCESSING, DossierStatus.FINISHED
    await store.accept(
        [Incoming("t", dossier(c), f"a{i}") for i, c in enumerate(codes)],
        now=1.0,
        validate=validate_for_portal,
    )
    held = await store.claim("w", 10, now=2.0, lease_s=30)
    await store.accept(
        [Incoming("t", dossier(c, status=processing), f"b{i}") for i, c in enumerate(codes)],
        now=3.0,
        validate=validate_for_portal,
    )
    kinds = [OutcomeKind.RETRY, OutcomeKind.DEFERRED, OutcomeKind.DEAD]
    by_code = {c.record.dossier_code: c for c in held}
    await store.complete(
        [
            attempt(Outcome(by_code[code].record_id, by_code[code].lease_token, kind, at=4.0,
                            route="r", next_attempt_at=50.0))
            for code, kind in zip(codes, kinds, strict=False)
        ]
    )  # fmt: skip
    await store.release_expired(now=40.0)  # the fourth and fifth lost their leases
    newer = await store.claim("w", 10, now=41.0, lease_s=30)
    await store.release("w", now=42.0)  # handed back: nothing older to supersede now
    again = await store.claim("w", 10, now=43.0, lease_s=30)
    refused = [
        Outcome(c.record_id, c.lease_token, OutcomeKind.DEAD, at=44.0, route="r", message="x")
        for c in again
    ]
    await store.complete(refused)
    await store.accept(
        [Incoming("t", step(codes[0], 5), "s0")], now=45.0, validate=validate_for_portal
    )
    blocked = await store.blocked()
    await store.accept(
        [Incoming("t", dossier(codes[0], status=finished), "c0")],
        now=46.0,
        validate=validate_for_portal,
    )
    states = await store.query("SELECT id, state, attempts, uncertain FROM records ORDER BY id")
    entries = [
        (e.event, e.record_id, e.dossier_code, {k: v for k, v in e.detail.items() if k != "token"})
        for e in await store.audit_entries()
    ]
    claims = [(c.record_id, c.uncertain) for c in newer + again]
    return (
        [(int(s[0]), str(s[1]), int(s[2]), bool(s[3])) for s in states],
        claims,
        blocked,
        entries,
    )


async def test_both_engines_supersede_and_block_alike(tmp_path: Path) -> None:
    on_sqlite = await run_life(overtaken_life, lambda: SqliteStore.open(tmp_path / "o.db", now=0.0))
    async with pg_database() as dsn:
        on_pg = await run_life(overtaken_life, lambda: PostgresStore.open(dsn, now=0.0))
    for name, mine, theirs in zip(("states", "claims", "blocked"), on_sqlite, on_pg, strict=False):
        assert mine == theirs, name
    for i, (mine, theirs) in enumerate(zip(on_sqlite[-1], on_pg[-1], strict=True)):
        assert mine == theirs, f"audit entry {i}"
    superseded = [e for e in on_sqlite[-1] if e[0] == "superseded"]
    reasons = {e[3].get("reason") or e[3].get("from_state") for e in superseded}
    assert reasons >= {"newer_snapshot_accepted_while_leased", "dead"}
    assert len(on_sqlite[2]) == 1  # the step of the dead dossier was blocked before c0


async def run_life(
    life_of: Callable[[AnyStore], Awaitable[tuple[Any, ...]]],
    open_store: Callable[[], Awaitable[AnyStore]],
) -> tuple[Any, ...]:
    store = await open_store()
    try:
        return await life_of(store)
    finally:
        await store.close()
