"""A hypothesis state machine drives each store engine through whole histories.

Rules: enqueue (new records, duplicates, newer and backwards snapshots), claim, heartbeat,
complete (delivered, retryable, deferred, permanent), complete with a stale token, crash (the
worker forgets its leases; SQLite is reopened as a restarted process would), a clean
hand-back of the leases, rescue (lease expiry), replay, clock advance, and a drain that
delivers everything it can.
Invariants after every step: every accepted record is in exactly one state, nothing
acknowledged disappears, a delivered record stays delivered, at most one record of a dossier
is leased, the audit chain verifies, and never backwards: for every dossier, the snapshots
handed out to the worker (each may reach the portal, whatever its outcome) and those
delivered follow acceptance order, and no snapshot older than its dossier's latest is queued
(one may be leased: it is superseded when it comes back). After a drain, whatever is still
queued is reported as blocked (nothing stuck silently).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gateway.audit.chain import verify_chain
from gateway.model import Dossier, DossierStatus
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Claimed, DeadFilter, Incoming, Outcome, OutcomeKind, State
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.pg import pg_database, reset

T = TypeVar("T")
CODES = ["000.00.00.H56-261102-0000" + str(i) for i in range(3)]
STATUSES = [DossierStatus.RECEIVED, DossierStatus.PROCESSING, DossierStatus.FINISHED]
LEASE_S = 30.0


class StoreMachine(RuleBasedStateMachine):
    engine = "sqlite"
    dsn = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        self.now = 100.0
        self.store: SqliteStore | PostgresStore = self.run(self.open())
        self.accepted: set[int] = set()
        self.delivered: set[int] = set()
        self.held: dict[int, Claimed] = {}
        self.lost: list[Claimed] = []
        self.handed_out: dict[str, list[int]] = {}
        """Per dossier, the snapshots claims handed out, in order (each may reach the portal)."""
        self.delivered_snapshots: dict[str, list[int]] = {}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def open(self) -> SqliteStore | PostgresStore:
        if self.engine == "sqlite":
            return await SqliteStore.open(Path(self.folder.name) / "gw.db", now=self.now)
        store = await PostgresStore.open(self.dsn, now=self.now, max_connections=2)
        await reset(store.query)  # cheaper than TRUNCATE per example; checkpoints included
        return store

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        self.folder.cleanup()

    # -- rules ------------------------------------------------------------------------------

    @rule(
        code=st.sampled_from(CODES),
        status=st.sampled_from(STATUSES),
        minutes=st.integers(0, 3),
        with_step=st.booleans(),
    )
    def enqueue(self, code: str, status: DossierStatus, minutes: int, with_step: bool) -> None:
        records: list[Any] = [dossier(code, status=status)]
        if with_step:
            records.append(step(code, minutes=minutes))
        items = [Incoming("prop", r, f"d{i}") for i, r in enumerate(records)]
        receipts = self.run(self.store.accept(items, now=self.now, validate=validate_for_portal))
        for receipt in receipts:
            assert receipt.status in ("accepted", "duplicate")
            self.accepted.update(receipt.record_ids)

    @rule(limit=st.integers(1, 4))
    def claim(self, limit: int) -> None:
        claimed = self.run(self.store.claim("w", limit, self.now, LEASE_S))
        for c in claimed:
            assert c.record_id not in self.held, "a record leased twice"
            assert c.record_id not in self.delivered, "a delivered record was claimed again"
            self.held[c.record_id] = c
            if isinstance(c.record, Dossier):
                self.handed_out.setdefault(c.record.dossier_code, []).append(c.record_id)

    def _delivered(self, c: Claimed) -> None:
        self.delivered.add(c.record_id)
        if isinstance(c.record, Dossier):
            self.delivered_snapshots.setdefault(c.record.dossier_code, []).append(c.record_id)

    @precondition(lambda self: bool(self.held))
    @rule(
        kind=st.sampled_from(
            [OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.DEFERRED, OutcomeKind.DEAD]
        )
    )
    def complete(self, kind: OutcomeKind) -> None:
        rid = min(self.held)
        c = self.held.pop(rid)
        outcome = Outcome(
            rid, c.lease_token, kind, at=self.now, route="t", next_attempt_at=self.now + 5
        )
        applied = self.run(self.store.complete([outcome]))
        assert applied in (0, 1)
        if applied and kind is OutcomeKind.DELIVERED:
            self._delivered(c)

    @precondition(lambda self: bool(self.lost))
    @rule()
    def complete_with_a_stale_token(self) -> None:
        c = self.lost.pop()
        outcome = Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, at=self.now, route="t")
        counts_before = self.run(self.store.counts())
        applied = self.run(self.store.complete([outcome]))
        if applied:  # only possible if nobody took the lease over and it never expired
            self._delivered(c)
        else:
            assert self.run(self.store.counts()) == counts_before

    @rule()
    def heartbeat(self) -> None:
        tokens = [c.lease_token for c in self.held.values()]
        self.run(self.store.heartbeat("w", tokens, self.now, LEASE_S))

    @rule()
    def crash_and_restart(self) -> None:
        self.lost.extend(self.held.values())
        self.held.clear()
        self.run(self.store.close())
        self.store = self.run(self.reopen())

    async def reopen(self) -> SqliteStore | PostgresStore:
        if self.engine == "sqlite":
            return await SqliteStore.open(Path(self.folder.name) / "gw.db", now=self.now)
        return await PostgresStore.open(self.dsn, now=self.now, max_connections=2)

    @rule(seconds=st.sampled_from([1.0, 10.0, 40.0]))
    def advance_clock_and_rescue(self, seconds: float) -> None:
        self.now += seconds
        self.run(self.store.release_expired(self.now, max_rescues=3))
        # Leases the store may have taken back are no longer ours to complete.
        self.lost.extend(self.held.values())
        self.held.clear()

    @rule()
    def hand_the_leases_back(self) -> None:
        """A clean shutdown: the leases go back to the queue at once."""
        self.run(self.store.release("w", self.now))
        self.lost.extend(self.held.values())
        self.held.clear()

    @rule()
    def replay_everything_dead(self) -> None:
        self.run(self.store.replay(DeadFilter(), by="tester", now=self.now))

    @rule()
    def drain(self) -> None:
        """Let time pass and deliver everything that can go: what is still queued then must
        be reported as blocked (waiting for an operator), never stuck silently."""
        self.now += 1000.0
        self.run(self.store.release_expired(self.now, max_rescues=3))
        self.lost.extend(self.held.values())
        self.held.clear()
        for _ in range(50):
            self.claim(10)
            if not self.held:
                break
            for _ in range(len(self.held)):
                self.complete(OutcomeKind.DELIVERED)
        counts = self.run(self.store.counts())
        blocked = self.run(self.store.blocked())
        assert counts["leased"] == 0
        assert counts["queued"] == sum(b.records for b in blocked), "records stuck silently"
        assert self.run(self.store.next_due()) is None

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def every_record_is_in_exactly_one_state(self) -> None:
        rows = self.run(self.store.query("SELECT id, state FROM records"))
        states = {int(rid): state for rid, state in rows}
        assert len(states) == len(rows)
        assert self.accepted <= set(states), "an acknowledged record disappeared"
        assert set(states.values()) <= {str(s) for s in State}
        for rid in self.delivered:
            assert states[rid] == State.DELIVERED

    @invariant()
    def at_most_one_lease_per_dossier(self) -> None:
        rows = self.run(
            self.store.query(
                "SELECT dossier_code, COUNT(*) FROM records WHERE state = 'leased' "
                "GROUP BY dossier_code"
            )
        )
        assert all(n == 1 for _, n in rows)

    @invariant()
    def never_backwards(self) -> None:
        for code, sent in self.handed_out.items():
            assert sent == sorted(sent), f"{code}: an older snapshot was handed out after a newer"
        for code, done in self.delivered_snapshots.items():
            assert done == sorted(set(done)), f"{code}: snapshots delivered out of order"
        stale = self.run(
            self.store.query(
                "SELECT r.id FROM records r JOIN dossiers d ON d.dossier_code = r.dossier_code "
                "WHERE r.kind = 'dossier' AND r.state = 'queued' "
                "AND d.latest_snapshot_id <> r.id"
            )
        )
        assert stale == [], "a snapshot older than its dossier's latest may still be sent"

    @invariant()
    def audit_chain_verifies(self) -> None:
        assert verify_chain(self.run(self.store.audit_entries())) is None


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PG_SETTINGS = settings(SETTINGS, max_examples=8, stateful_step_count=15)  # round trips per step


def test_sqlite_store_state_machine() -> None:
    machine = type("SqliteMachine", (StoreMachine,), {"engine": "sqlite"})
    run_state_machine_as_test(machine, settings=SETTINGS)


@pytest.mark.timeout(300)
def test_postgresql_store_state_machine() -> None:
    loop = asyncio.new_event_loop()
    database = pg_database()
    try:
        dsn = loop.run_until_complete(database.__aenter__())
    except BaseException:
        loop.close()
        raise
    try:
        machine = type("PgMachine", (StoreMachine,), {"engine": "postgresql", "dsn": dsn})
        run_state_machine_as_test(machine, settings=PG_SETTINGS)
    finally:
        loop.run_until_complete(database.__aexit__(None, None, None))
        loop.close()
