"""The store's inbound side on both engines: receiving by ``MaHoSo``, the job queue with its
order, retries, dead letters and replays, lost leases, and status reports diverted from the
upward outbox; every step audited in the one chain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.audit.chain import verify_chain
from gateway.errors import TranslationError
from gateway.inbound.model import parse_portal_dossier
from gateway.model import Dossier, DossierStatus, ProgressStep
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, SourceCursor
from gateway.store.inbound import JobKind, JobOutcome, JobOutcomeKind
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.inbound_factories import portal_body
from tests.pg import SharedDatabase, reset

AnyStore = SqliteStore | PostgresStore
CODE = "000.00.00.H56-261127-09001"


@pytest.fixture(scope="module")
def shared_pg() -> Iterator[SharedDatabase]:
    database = SharedDatabase()
    yield database
    database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, shared_pg: SharedDatabase
) -> AsyncIterator[AnyStore]:
    if request.param == "sqlite":
        s: AnyStore = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
        yield s
        await s.close()
        return
    s = await PostgresStore.open(shared_pg.dsn, now=0.0, max_connections=2)
    await reset(s.query)
    await s.query("DELETE FROM inbound_jobs")
    await s.query("DELETE FROM inbound_dossiers")
    yield s
    await s.close()


async def receive(store: AnyStore, code: str = CODE, digest: str = "d1") -> str:
    dossier = parse_portal_dossier(portal_body(code))
    receipt = await store.inbound.receive("dvcqg-push", dossier, digest, sink="outbox", now=1.0)
    return receipt.status


async def events(store: AnyStore, code: str) -> list[str]:
    return [e.event for e in await store.audit_entries() if e.dossier_code == code]


async def test_a_dossier_is_received_once_and_audited_without_personal_data(
    store: AnyStore,
) -> None:
    assert await receive(store) == "created"
    assert await receive(store, digest="d2") == "duplicate"
    jobs = await store.inbound.jobs(JobKind.DELIVER)
    assert [(j.dossier_code, j.state) for j in jobs] == [(CODE, "queued")]
    entries = [e for e in await store.audit_entries() if e.dossier_code == CODE]
    assert [e.event for e in entries] == ["inbound_received", "inbound_duplicate"]
    assert entries[0].detail["sink"] == "outbox"
    assert [a["content_type"] for a in entries[0].detail["attachments"]] == [
        "application/pdf",
        "image/png",
    ]
    assert entries[1].detail["same"] is False
    flat = str([e.detail for e in entries])
    assert "Ánh Dương" not in flat
    assert "2801234567" not in flat
    assert verify_chain(await store.audit_entries()) is None


async def test_claimed_dossier_carries_the_canonical_json_with_its_files(store: AnyStore) -> None:
    await receive(store)
    [job] = await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=2.0, lease_s=60)
    assert job.payload["dossier_code"] == CODE
    assert [a["name"] for a in job.payload["attachments"]] == ["don-dang-ky.pdf", "mau-phieu.png"]
    assert await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=2.0, lease_s=60) == []
    done = JobOutcome(job.job_id, job.lease_token, JobOutcomeKind.DELIVERED, 3.0,
                      detail={"file": "x.json"})  # fmt: skip
    stale = replace(done, lease_token=job.lease_token + 1000)
    assert await store.inbound.complete_jobs([stale]) == 0  # a lost lease decides nothing
    assert await store.inbound.complete_jobs([done]) == 1
    assert [j.state for j in await store.inbound.jobs(JobKind.DELIVER)] == ["delivered"]
    assert (await events(store, CODE))[-1] == "sink_delivered"


async def test_retry_then_dead_then_replay(store: AnyStore) -> None:
    await receive(store)
    [job] = await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=2.0, lease_s=60)
    retry = JobOutcome(job.job_id, job.lease_token, JobOutcomeKind.RETRY, 3.0,
                       next_attempt_at=50.0, message="HTTP 503")  # fmt: skip
    await store.inbound.complete_jobs([retry])
    assert await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=49.0, lease_s=60) == []
    [again] = await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=50.0, lease_s=60)
    assert again.attempts == 1
    assert again.uncertain
    dead = JobOutcome(again.job_id, again.lease_token, JobOutcomeKind.DEAD, 51.0, message="403")
    await store.inbound.complete_jobs([dead])
    [row] = await store.inbound.jobs(JobKind.DELIVER, state="dead")
    assert row.last_error == "403"
    assert row.attempts == 2
    assert await store.inbound.replay_jobs(JobKind.DELIVER, by="operator:lan", now=60.0) == [
        job.job_id
    ]
    [replayed] = await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=60.0, lease_s=60)
    assert replayed.attempts == 0
    assert (await events(store, CODE))[-3:] == ["sink_retry", "sink_dead", "sink_replayed"]


async def test_an_expired_lease_goes_back_to_the_queue(store: AnyStore) -> None:
    await receive(store)
    await store.inbound.claim_jobs(JobKind.DELIVER, "dead-process", 10, now=2.0, lease_s=10)
    assert await store.inbound.release_expired_jobs(now=11.0) == 0
    assert await store.inbound.release_expired_jobs(now=13.0) == 1
    [job] = await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=13.0, lease_s=10)
    assert job.uncertain
    assert "sink_lease_expired" in await events(store, CODE)


async def test_status_changes_of_a_portal_hosted_dossier_become_ordered_reports(
    store: AnyStore,
) -> None:
    await receive(store)
    local = replace(dossier(), dossier_code=CODE, status=DossierStatus.PROCESSING)
    steps = [
        replace(step(minutes=m), dossier_code=CODE, status=s)
        for m, s in ((10, DossierStatus.PROCESSING), (30, DossierStatus.FINISHED))
    ]
    other = dossier()  # not portal-hosted: goes up as before
    records: list[Dossier | ProgressStep] = [local, *steps, other]
    items = [Incoming("onestop", r, f"k{i}") for i, r in enumerate(records)]
    receipts = await store.accept(items, now=5.0, validate=validate_for_portal)
    assert [r.status for r in receipts] == ["accepted"] * 4
    claimed = await store.claim("w", 10, now=6.0, lease_s=60)
    assert [c.record.dossier_code for c in claimed] == [other.dossier_code]
    reports = []
    for at in (7.0, 8.0, 9.0):
        batch = await store.inbound.claim_jobs(JobKind.REPORT, "w", 10, now=at, lease_s=60)
        assert len(batch) == 1  # one report of a dossier in flight at a time, in order
        reports.append(batch[0].payload["status"])
        await store.inbound.complete_jobs(
            [JobOutcome(batch[0].job_id, batch[0].lease_token, JobOutcomeKind.DELIVERED, at)]
        )
    assert reports == [4, 4, 9]
    found = await events(store, CODE)
    assert found.count("status_report_queued") == 3
    assert found.count("status_report_delivered") == 3
    assert verify_chain(await store.audit_entries()) is None


async def test_a_record_the_portal_would_refuse_upward_is_still_reported(store: AnyStore) -> None:
    await receive(store)

    def refuse(record: object) -> None:
        raise TranslationError.at("$.data[0].MaTTHC", "not in the portal's catalogue")

    local = replace(dossier(), dossier_code=CODE)
    receipts = await store.accept([Incoming("onestop", local, "k")], now=5.0, validate=refuse)
    assert [r.status for r in receipts] == ["quarantined"]
    [job] = await store.inbound.claim_jobs(JobKind.REPORT, "w", 10, now=6.0, lease_s=60)
    assert job.payload["status"] == int(local.status)
    assert (await store.counts())["quarantined"] == 0  # reported instead of kept for the portal


async def test_a_pulled_batch_and_its_watermark_commit_together(store: AnyStore) -> None:
    assert await store.inbound.get_cursor("dvcqg-pull:x") is None
    items = [(parse_portal_dossier(portal_body(c)), c) for c in ("P-1", "P-2")]
    cursor = SourceCursor("dvcqg-pull:x", "2026-11-21T00:00:00+07:00")
    receipts = await store.inbound.receive_batch(
        "dvcqg-pull", items, sink="outbox", now=2.0, cursor=cursor
    )
    assert [r.status for r in receipts] == ["created", "created"]
    assert await store.inbound.get_cursor("dvcqg-pull:x") == cursor.value
    again = await store.inbound.receive_batch(
        "dvcqg-pull", items[:1], sink="outbox", now=3.0, cursor=cursor
    )
    assert [r.status for r in again] == ["duplicate"]
    assert len(await store.inbound.jobs(JobKind.DELIVER)) == 2
