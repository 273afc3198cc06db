"""Group commit in the SQLite store: writes that queue behind a commit share the next one,
each still answered only once committed, a failing one alone rolled back, the audit chain
whole. The database thread is held by a job of the test, so the group forms for certain
(no timing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit.chain import verify_chain
from gateway.model import Record
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind, Receipt
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    yield s
    await s.close()


def code(i: int) -> str:
    return f"000.00.00.H56-261102-{i:05d}"


def refuse(record: Record) -> None:
    raise RuntimeError("this batch's validation crashed")


async def held(store: SqliteStore) -> tuple[threading.Event, asyncio.Future[None]]:
    """Hold the database thread until the event is set (the writes queue up meanwhile)."""
    release = threading.Event()
    blocker = asyncio.ensure_future(store._run(release.wait))
    return release, blocker  # type: ignore[return-value]


async def queued(store: SqliteStore, jobs: int) -> None:
    # Yield until every task has queued its write: a condition, not a delay.
    while len(store._group._pending) < jobs:  # noqa: ASYNC110
        await asyncio.sleep(0)


async def test_writes_queued_behind_a_commit_share_the_next_one(store: SqliteStore) -> None:
    release, blocker = await held(store)
    before = store._group.groups
    tasks = [
        asyncio.ensure_future(
            store.accept(
                [Incoming("t", dossier(code(i)), f"k{i}")], now=1.0, validate=validate_for_portal
            )
        )
        for i in range(10)
    ]
    await queued(store, 10)
    assert not any(t.done() for t in tasks)  # nobody is answered before the commit
    release.set()
    await blocker
    receipts = await asyncio.gather(*tasks)
    assert [r[0].status for r in receipts] == ["accepted"] * 10
    assert store._group.groups - before == 1
    assert (await store.counts())["queued"] == 10
    assert verify_chain(await store.audit_entries()) is None

    claimed = await store.claim("w", 10, now=2.0, lease_s=60)
    release, blocker = await held(store)
    done = [
        asyncio.ensure_future(
            store.complete([Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, 3.0, "r")])
        )
        for c in claimed
    ]
    await queued(store, len(claimed))
    release.set()
    await blocker
    assert await asyncio.gather(*done) == [1] * len(claimed)
    assert (await store.counts())["delivered"] == 10
    assert verify_chain(await store.audit_entries()) is None


async def test_a_failing_write_is_rolled_back_alone_and_the_chain_stays_whole(
    store: SqliteStore,
) -> None:
    release, blocker = await held(store)

    def accept(i: int, validate: object) -> asyncio.Future[list[Receipt]]:
        items = [
            Incoming("t", dossier(code(i)), f"k{i}"),
            Incoming("t", dossier(code(i + 50)), f"j{i}"),
        ]
        return asyncio.ensure_future(store.accept(items, now=1.0, validate=validate))  # type: ignore[arg-type]

    tasks = [accept(1, validate_for_portal), accept(2, refuse), accept(3, validate_for_portal)]
    await queued(store, 3)
    release.set()
    await blocker
    first, failed, third = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(failed, RuntimeError)
    assert [r.status for r in first] == ["accepted", "accepted"]  # type: ignore[union-attr]
    assert [r.status for r in third] == ["accepted", "accepted"]  # type: ignore[union-attr]
    rows = await store.query("SELECT dossier_code FROM records ORDER BY id")
    assert [r[0] for r in rows] == [code(1), code(51), code(3), code(53)]
    entries = await store.audit_entries()
    assert verify_chain(entries) is None  # the rolled-back entries left no hole in the chain
    assert {e.dossier_code for e in entries} >= {code(1), code(3)}
    assert not {e.dossier_code for e in entries} & {code(2), code(52)}
