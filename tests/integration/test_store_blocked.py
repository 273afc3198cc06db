"""Nothing stuck silently, on both engines: steps waiting behind a dead-lettered (or
quarantined) snapshot are reported as blocked, with the record that blocks them, and have no
"next attempt due"; replaying that snapshot, or accepting a newer one, releases them, and
they go in their order (issue 11)."""

from __future__ import annotations

from gateway.model import DossierStatus
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import (
    BlockedDossier,
    Claimed,
    DeadFilter,
    Incoming,
    Outcome,
    OutcomeKind,
)
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step

AnyStore = SqliteStore | PostgresStore
A, B = "000.00.00.H56-261102-00001", "000.00.00.H56-261102-00002"
REFUSAL = "Thủ tục 9.9 không có trong danh mục TTHC"


async def accept(store: AnyStore, *records: object, now: float = 1.0) -> list[int]:
    items = [Incoming("test", r, f"d-{i}") for i, r in enumerate(records)]  # type: ignore[arg-type]
    receipts = await store.accept(items, now=now, validate=validate_for_portal)
    return [rid for r in receipts for rid in r.record_ids]


def refused(c: Claimed, at: float) -> Outcome:
    return Outcome(
        c.record_id, c.lease_token, OutcomeKind.DEAD, at=at, route="t", portal_code="-1",
        message=REFUSAL,
    )  # fmt: skip


async def dead_snapshot_with_steps(store: AnyStore) -> tuple[int, int, int]:
    """Dossier A: its snapshot refused by the portal, two steps queued behind it."""
    [s1, x, y] = await accept(store, dossier(A), step(A, minutes=30), step(A, minutes=10))
    [c] = await store.claim("w", 10, now=2.0, lease_s=60)
    assert c.record_id == s1
    assert await store.complete([refused(c, 3.0)]) == 1
    return s1, x, y


async def drain(store: AnyStore, start: float) -> list[int]:
    """Claim and deliver everything; the record ids in the order the portal got them."""
    now, sent = start, list[int]()
    for _ in range(10):
        claimed = await store.claim("w", 10, now=now, lease_s=60)
        sent.extend(c.record_id for c in claimed)
        done = [Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, at=now, route="t")
                for c in claimed]  # fmt: skip
        await store.complete(done)
        now += 10.0
    return sent


async def test_steps_behind_a_dead_snapshot_are_blocked_and_have_no_due_time(
    store: AnyStore,
) -> None:
    s1, x, _ = await dead_snapshot_with_steps(store)
    assert await store.blocked() == [BlockedDossier(A, 2, x, s1, "dead", "-1", REFUSAL)]
    assert await store.next_due() is None  # not "due" at 1.0, long past, for ever
    assert (await store.counts())["queued"] == 2  # still queued: nothing is lost
    assert await store.claim("w", 10, now=50.0, lease_s=60) == []


async def test_replaying_the_dead_snapshot_releases_its_steps_in_order(store: AnyStore) -> None:
    s1, x, y = await dead_snapshot_with_steps(store)
    assert await store.replay(DeadFilter(record_ids=(s1,)), by="op", now=4.0) == [s1]
    assert await store.blocked() == []
    assert await store.next_due() == 1.0  # the steps count again (due since accepted)
    assert await drain(store, 5.0) == [s1, y, x]  # y is the earlier step (minutes=10)


async def test_a_newer_snapshot_supersedes_the_dead_one_and_releases_the_steps(
    store: AnyStore,
) -> None:
    s1, x, y = await dead_snapshot_with_steps(store)
    [s2] = await accept(store, dossier(A, status=DossierStatus.PROCESSING, summary="Sửa"), now=4.0)
    states = dict(await store.query("SELECT id, state FROM records"))
    assert states[s1] == "superseded"
    assert await store.dead_letters(DeadFilter()) == []  # no longer waiting for an operator
    assert await store.blocked() == []
    assert await drain(store, 5.0) == [s2, y, x]
    entries = [(e.event, e.record_id, e.detail) for e in await store.audit_entries()]
    assert ("superseded", s1, {"by": s2, "from_state": "dead"}) in entries


async def test_a_backwards_snapshot_does_not_supersede_the_dead_one(store: AnyStore) -> None:
    s1, _, _ = await dead_snapshot_with_steps(store)
    backwards = dossier(A, status=DossierStatus.SUBMITTED, received_at=None, due_at=None)
    [stale] = await accept(store, backwards, now=4.0)
    states = dict(await store.query("SELECT id, state FROM records"))
    assert (states[stale], states[s1]) == ("superseded", "dead")
    [blocked] = await store.blocked()
    assert blocked.blocked_by == s1  # the stale snapshot is never sent, so it frees nothing


async def test_steps_behind_a_quarantined_snapshot_are_blocked(store: AnyStore) -> None:
    [bad, x] = await accept(store, dossier(A, summary=""), step(A))  # the portal would refuse it
    [blocked] = await store.blocked()
    assert (blocked.blocked_by, blocked.blocker_state, blocked.records) == (bad, "quarantined", 1)
    assert blocked.first_record_id == x


async def test_waiting_for_a_snapshot_in_flight_is_not_blocked(store: AnyStore) -> None:
    await accept(store, dossier(A), step(A))
    [c] = await store.claim("w", 10, now=2.0, lease_s=60)
    assert await store.blocked() == []
    assert await store.complete([refused(c, 3.0)]) == 1
    assert [b.dossier_code for b in await store.blocked()] == [A]


async def test_a_dead_step_does_not_hold_the_later_steps(store: AnyStore) -> None:
    """The rule as documented: a step refused by the portal does not block its dossier."""
    [s1, x, y] = await accept(store, dossier(A), step(A, minutes=10), step(A, minutes=20))
    [c] = await store.claim("w", 10, now=2.0, lease_s=60)
    await store.complete([Outcome(s1, c.lease_token, OutcomeKind.DELIVERED, at=2.5, route="t")])
    [first] = await store.claim("w", 10, now=3.0, lease_s=60)
    assert first.record_id == x
    assert await store.complete([refused(first, 3.5)]) == 1
    assert await store.blocked() == []
    assert await drain(store, 4.0) == [y]


async def test_next_due_skips_blocked_records_only(store: AnyStore) -> None:
    await dead_snapshot_with_steps(store)
    [b1] = await accept(store, dossier(B), now=5.0)
    [c] = await store.claim("w", 10, now=6.0, lease_s=60)
    retry = Outcome(b1, c.lease_token, OutcomeKind.RETRY, at=7.0, route="t", next_attempt_at=50.0)
    assert await store.complete([retry]) == 1
    assert await store.next_due() == 50.0
