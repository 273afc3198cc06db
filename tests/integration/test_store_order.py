"""Never backwards, on the store alone (no network), on both engines.

A snapshot in flight when a newer snapshot of its dossier is accepted must never reach the
portal after the newer one: whatever comes back from its lease (a retryable failure, a
deferral, a permanent refusal, a lost lease, a clean hand-back), it is superseded, and the
newer snapshot goes in its place. Steps are never superseded and go once their dossier is on
the portal. Issue 11: before the fix, a retryable failure put the older snapshot back in the
queue with a backoff, the next claim handed out the newer one, and the older one followed it
(status 10, then status 4, at the portal).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.model import Dossier, DossierStatus
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import (
    STATUS_RANK,
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
CODE = "000.00.00.H56-261102-00001"
S4 = dossier(CODE, status=DossierStatus.PROCESSING)
S9 = dossier(CODE, status=DossierStatus.FINISHED, summary="Đã có kết quả")


async def accept(store: AnyStore, *records: object, now: float = 1.0) -> list[int]:
    items = [Incoming("test", r, f"d-{i}") for i, r in enumerate(records)]  # type: ignore[arg-type]
    receipts = await store.accept(items, now=now, validate=validate_for_portal)
    assert all(r.status == "accepted" for r in receipts), receipts
    return [rid for r in receipts for rid in r.record_ids]


def outcome(c: Claimed, kind: OutcomeKind, at: float, retry_at: float = 0.0) -> Outcome:
    return Outcome(c.record_id, c.lease_token, kind, at=at, route="t", next_attempt_at=retry_at)


async def drain(store: AnyStore, start: float, portal: list[Claimed]) -> None:
    """Claim and deliver everything, as time goes by, noting what the portal receives."""
    now = start
    for _ in range(20):
        claimed = await store.claim("w", 10, now=now, lease_s=60)
        portal.extend(claimed)
        assert await store.complete([outcome(c, OutcomeKind.DELIVERED, now) for c in claimed]) == (
            len(claimed)
        )
        now += 100.0


def statuses(portal: list[Claimed]) -> list[int]:
    return [int(c.record.status) for c in portal if isinstance(c.record, Dossier)]


def never_backwards(portal: list[Claimed]) -> bool:
    ranks = [STATUS_RANK[s] for s in statuses(portal)]
    return ranks == sorted(ranks)


async def states(store: AnyStore) -> dict[int, str]:
    return {int(rid): str(s) for rid, s in await store.query("SELECT id, state FROM records")}


async def test_a_snapshot_failing_after_a_newer_one_was_accepted_is_never_sent_after_it(
    store: AnyStore,
) -> None:
    """The issue's reproduction: accept S4, claim it, accept S9, fail S4 retryably, claim."""
    [s4] = await accept(store, S4)
    [held] = await store.claim("w", 10, now=2.0, lease_s=60)
    [s9] = await accept(store, S9, now=3.0)
    assert await store.claim("w", 10, now=3.5, lease_s=60) == []  # S4's outcome comes first
    assert await store.complete([outcome(held, OutcomeKind.RETRY, 4.0, retry_at=50.0)]) == 1
    portal = [held]
    await drain(store, 10.0, portal)
    assert statuses(portal) == [4, 9], "status went backwards at the portal"
    assert (await states(store))[s4] == "superseded"
    assert (await states(store))[s9] == "delivered"


@pytest.mark.parametrize("kind", [OutcomeKind.DEFERRED, OutcomeKind.DEAD])
async def test_any_return_of_an_older_snapshot_supersedes_it(
    store: AnyStore, kind: OutcomeKind
) -> None:
    [s4] = await accept(store, S4)
    [held] = await store.claim("w", 10, now=2.0, lease_s=60)
    [s9] = await accept(store, S9, now=3.0)
    assert await store.complete([outcome(held, kind, 4.0, retry_at=50.0)]) == 1
    assert (await states(store))[s4] == "superseded"
    portal = [held]
    await drain(store, 10.0, portal)
    assert [c.record_id for c in portal] == [s4, s9]
    assert never_backwards(portal)
    assert await store.dead_letters(DeadFilter()) == []  # a newer snapshot replaced it


async def test_a_lost_lease_after_a_newer_snapshot_supersedes_the_older(store: AnyStore) -> None:
    """A killed worker: the lease expires, and the older snapshot is not queued again. The
    newer one may find the dossier on the portal already (the lost call may have reached it),
    so it is claimed as uncertain: the worker looks before it creates."""
    [s4] = await accept(store, S4)
    await store.claim("killed", 10, now=2.0, lease_s=10)
    [s9] = await accept(store, S9, now=3.0)
    assert await store.release_expired(now=20.0) == 1
    assert (await states(store))[s4] == "superseded"
    [newer] = await store.claim("w", 10, now=21.0, lease_s=60)
    assert newer.record_id == s9
    assert newer.uncertain
    events = [(e.event, e.record_id) for e in await store.audit_entries()]
    assert ("superseded", s4) in events


async def test_a_clean_hand_back_after_a_newer_snapshot_supersedes_the_older(
    store: AnyStore,
) -> None:
    [s4] = await accept(store, S4)
    await store.claim("stopping", 10, now=2.0, lease_s=600)
    [s9] = await accept(store, S9, now=3.0)
    assert await store.release("stopping", now=4.0) == 1
    assert (await states(store))[s4] == "superseded"
    [newer] = await store.claim("w", 10, now=5.0, lease_s=60)
    assert (newer.record_id, newer.uncertain) == (s9, True)


async def test_an_older_snapshot_delivered_first_is_followed_by_the_newer(store: AnyStore) -> None:
    [s4] = await accept(store, S4)
    [held] = await store.claim("w", 10, now=2.0, lease_s=60)
    [s9] = await accept(store, S9, now=3.0)
    assert await store.claim("w", 10, now=3.5, lease_s=60) == []
    assert await store.complete([outcome(held, OutcomeKind.DELIVERED, 4.0)]) == 1
    portal = [held]
    await drain(store, 5.0, portal)
    assert [c.record_id for c in portal] == [s4, s9]


async def test_steps_are_never_superseded_and_go_after_the_newer_snapshot(
    store: AnyStore,
) -> None:
    """S4 in flight, a step accepted, then S9, then S4 fails: the step waits for the dossier
    to be on the portal (S9 delivered), and is delivered; nothing is lost."""
    [s4] = await accept(store, S4)
    [held] = await store.claim("w", 10, now=2.0, lease_s=60)
    [x, s9] = await accept(store, step(CODE, minutes=30), S9, now=3.0)
    assert await store.complete([outcome(held, OutcomeKind.RETRY, 4.0, retry_at=50.0)]) == 1
    portal = [held]
    await drain(store, 10.0, portal)
    assert [c.record_id for c in portal] == [s4, s9, x]
    final = await states(store)
    assert (final[s4], final[s9], final[x]) == ("superseded", "delivered", "delivered")


async def test_steps_of_a_dossier_on_the_portal_are_kept_when_a_snapshot_is_superseded(
    store: AnyStore,
) -> None:
    [first] = await accept(store, dossier(CODE))
    [c] = await store.claim("w", 10, now=2.0, lease_s=60)
    await store.complete([outcome(c, OutcomeKind.DELIVERED, 2.5)])
    [s4] = await accept(store, S4, now=3.0)
    [held] = await store.claim("w", 10, now=3.5, lease_s=60)
    [x, s9, y] = await accept(store, step(CODE, minutes=30), S9, step(CODE, minutes=40), now=4.0)
    assert await store.complete([outcome(held, OutcomeKind.RETRY, 5.0, retry_at=50.0)]) == 1
    portal = [c, held]
    await drain(store, 10.0, portal)
    delivered = [p.record_id for p in portal]
    assert sorted(delivered) == sorted([first, s4, x, s9, y])  # every step reached the portal
    assert delivered.index(x) < delivered.index(y)  # in their order
    assert never_backwards(portal)
    assert (await states(store))[s4] == "superseded"


async def test_a_newer_snapshot_inherits_may_be_on_the_portal_from_a_queued_one(
    store: AnyStore,
) -> None:
    """S4's attempt timed out (it may have created the dossier) and S4 waits in backoff when
    S9 arrives: S9 replaces it and is looked up before it is sent as a create."""
    await accept(store, S4)
    [held] = await store.claim("w", 10, now=2.0, lease_s=60)
    assert await store.complete([outcome(held, OutcomeKind.RETRY, 3.0, retry_at=50.0)]) == 1
    [s9] = await accept(store, S9, now=4.0)
    [newer] = await store.claim("w", 10, now=5.0, lease_s=60)
    assert (newer.record_id, newer.uncertain) == (s9, True)


async def test_a_snapshot_replacing_one_never_tried_is_not_doubtful(store: AnyStore) -> None:
    await accept(store, S4)
    [s9] = await accept(store, S9, now=2.0)
    [newer] = await store.claim("w", 10, now=3.0, lease_s=60)
    assert (newer.record_id, newer.uncertain) == (s9, False)


async def test_a_restart_after_a_kill_supersedes_the_older_snapshot(tmp_path: Path) -> None:
    """SQLite releases a killed process's leases when the next one opens the file."""
    path = tmp_path / "killed.db"
    store = await SqliteStore.open(path, now=0.0)
    [s4] = await accept(store, S4)
    await store.claim("killed", 10, now=2.0, lease_s=600)
    [s9] = await accept(store, S9, now=3.0)
    await store.close()  # the process dies holding the lease
    store = await SqliteStore.open(path, now=4.0)
    try:
        assert (await states(store))[s4] == "superseded"
        [newer] = await store.claim("w", 10, now=5.0, lease_s=60)
        assert (newer.record_id, newer.uncertain) == (s9, True)
    finally:
        await store.close()
