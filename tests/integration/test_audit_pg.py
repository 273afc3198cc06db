"""The PostgreSQL audit repository where it differs from SQLite: snapshots while a store keeps
writing, streams read in pages, one archiver at a time across processes, archiving next to
writers that hold the chain's head. (The CLI scenarios run on both engines in
``test_audit_cli.py``.)

The log: 40 dossiers, 120 entries at t = 1000..1039, checkpoints at seq 1, 11, ..., 111.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import structlog

from gateway.audit.archive import (
    ArchiveRef,
    AuditQuery,
    AuditRepository,
    archive_old,
    archive_periodically,
    search,
    verify_all,
)
from gateway.config.schema import StoreConfig
from gateway.errors import ArchiveBusyError, StoreError
from gateway.store.engines import open_audit_repository
from gateway.store.postgres import audit as audit_pg
from gateway.store.postgres.audit import PostgresAuditRepository
from gateway.store.postgres.store import PostgresStore
from tests.audit_support import EVERY, SIGNER, fill, make_pg_log, policy
from tests.pg import SharedDatabase

CODE = "000.00.00.H56-261102-00003"


@pytest.fixture
def dsn() -> Iterator[str]:
    database = SharedDatabase()  # a fresh database for each test
    try:
        make_pg_log(database.dsn, dossiers=40)
        yield database.dsn
    finally:
        database.drop()


def accept_more(dsn: str, dossiers: int) -> None:
    """Another gateway process appends to the same log (its own pool, its own loop)."""

    async def write() -> None:
        store = await PostgresStore.open(dsn, now=2000.0, audit=policy())
        await fill(store, dossiers, start=2000.0, tag="more-")

    asyncio.run(write())


def verified_entries(repo: PostgresAuditRepository, folder: Path) -> int:
    report = verify_all(repo, folder, public_key=SIGNER.public, max_gap=EVERY)
    assert report.ok, report.finding
    return report.entries


def test_a_snapshot_holds_still_while_another_process_writes(dsn: str) -> None:
    repo = PostgresAuditRepository(dsn)
    try:
        with repo.snapshot():
            assert repo.last_seq() == 120
            accept_more(dsn, 5)
            assert repo.last_seq() == 120
            assert [e.seq for e in repo.entries()] == list(range(1, 121))
            assert [c.seq for c in repo.checkpoints()] == list(range(1, 112, 10))
        newest = repo.last_seq()
        assert newest is not None
        assert newest > 120
        entry = repo.entry_at(newest)
        assert entry is not None
        assert entry.at >= 2000.0  # written by the other process
    finally:
        repo.close()


def test_streams_read_in_pages(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_pg, "PAGE", 7)  # 120 entries: 17 full pages and a short one
    repo = PostgresAuditRepository(dsn)
    try:
        assert [e.seq for e in repo.entries()] == list(range(1, 121))
        assert [e.seq for e in repo.entries(5, 50)] == list(range(5, 51))
        assert [e.seq for e in repo.entries(14, 14)] == [14]
        mine = list(repo.find(AuditQuery(dossier_code=CODE)))
        assert [(e.seq, e.event) for e in mine] == [
            (10, "received"),
            (11, "translated"),
            (12, "queued"),
        ]
        queued = [e.seq for e in repo.find(AuditQuery(events=("queued",)))]
        assert queued == list(range(3, 121, 3))
        window = repo.find(AuditQuery(since=1005.0, until=1007.0, events=("received", "queued")))
        assert [e.seq for e in window] == [16, 18, 19, 21]
        assert repo.first_seq() == 1
        assert repo.entry_at(121) is None
    finally:
        repo.close()


def test_a_search_in_a_snapshot_misses_nothing_archived_meanwhile(
    dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``audit search`` reads the archive list, then the live log page by page; another
    process archiving in between would move entries out of pages not read yet."""
    monkeypatch.setattr(audit_pg, "PAGE", 7)
    folder = tmp_path / "archive"
    reader = PostgresAuditRepository(dsn)
    try:
        with reader.snapshot():
            found = search(reader, AuditQuery(), folder)
            first_page = [next(found) for _ in range(7)]
            archiver = PostgresAuditRepository(dsn, writable=True)
            try:
                [path] = archive_old(archiver, folder, cutoff=1010.0, now=1010.0)
            finally:
                archiver.close()
            rest = list(found)
    finally:
        reader.close()
    assert path.exists()  # seq 1..21 left the live log while the search was on its first page
    assert [e.seq for e in first_page + rest] == list(range(1, 121))


def test_one_archiver_at_a_time_and_readers_never_wait(dsn: str, tmp_path: Path) -> None:
    archiver = PostgresAuditRepository(dsn, writable=True)
    try:
        with pytest.raises(ArchiveBusyError, match="another process is archiving"):
            PostgresAuditRepository(dsn, writable=True)
        reader = PostgresAuditRepository(dsn)
        try:
            assert verified_entries(reader, tmp_path) == 120
            with pytest.raises(StoreError, match="read-only transaction"):
                reader.commit_archive(ArchiveRef(1, 11, "0" * 64, "f.jsonl", "d"), 1.0)
        finally:
            reader.close()
    finally:
        archiver.close()
    PostgresAuditRepository(dsn, writable=True).close()  # the lock went with the connection


def test_a_range_archived_meanwhile_is_not_recorded_twice(dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    repo = PostgresAuditRepository(dsn, writable=True)
    try:
        [path] = archive_old(repo, folder, cutoff=1010.0, now=1010.0)
        [ref] = repo.archives()
        assert (ref.first_seq, ref.last_seq, ref.file_name) == (1, 21, path.name)
        with pytest.raises(StoreError, match="the live log now begins at seq 22, not 1"):
            repo.commit_archive(ref, 1011.0)
        assert repo.archives() == [ref]
        assert repo.first_seq() == 22
        assert verified_entries(repo, folder) == 120
    finally:
        repo.close()


def test_archiving_waits_for_no_writer_and_writers_continue_the_chain(
    dsn: str, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    with asyncio.Runner() as runner:
        writer = runner.run(asyncpg.connect(dsn))
        try:
            # A writer in the middle of its flush: it holds the chain's head row.
            runner.run(writer.execute("BEGIN"))
            runner.run(writer.fetchrow("SELECT seq FROM audit_head FOR UPDATE"))
            repo = PostgresAuditRepository(dsn, writable=True)
            try:
                written = archive_old(repo, folder, cutoff=1030.0, now=1030.0)
            finally:
                repo.close()
            runner.run(writer.execute("ROLLBACK"))
        finally:
            runner.run(writer.close())
    assert [p.name for p in written] == ["audit-000000000001-000000000081.jsonl"]
    accept_more(dsn, 5)
    repo = PostgresAuditRepository(dsn)
    try:
        newest = repo.last_seq()
        assert newest is not None
        assert newest > 120
        assert verified_entries(repo, folder) == newest  # one chain: archive, old and new live
        assert repo.first_seq() == 82
    finally:
        repo.close()


async def test_the_daemon_archives_and_skips_a_round_another_process_holds(
    dsn: str, tmp_path: Path
) -> None:
    store = StoreConfig(engine="postgresql", dsn=dsn)
    folder = tmp_path / "archive"
    written: list[Path] = []
    loop = asyncio.get_running_loop()

    async def one_round() -> None:
        stop = asyncio.Event()

        def open_repo() -> AuditRepository:  # called on the retention thread
            loop.call_soon_threadsafe(stop.set)  # this round is the last
            return open_audit_repository(store, writable=True)

        await archive_periodically(
            open_repo,
            folder,
            retention_s=25.0,
            interval_s=3600.0,
            stop=stop,
            clock=lambda: 1050.0,  # entries before t=1025 are old
            on_done=written.extend,
        )

    other = await asyncpg.connect(dsn)  # another process, archiving: it holds the lock
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", audit_pg.ARCHIVE_LOCK)
        with structlog.testing.capture_logs() as logs:
            await one_round()
    finally:
        await other.close()
    assert written == []
    assert not folder.exists()
    assert [(e["event"], e["log_level"]) for e in logs] == [("audit_archive_skipped", "info")]

    await one_round()
    assert [p.name for p in written] == ["audit-000000000001-000000000071.jsonl"]

    def check() -> tuple[int, list[int]]:
        repo = PostgresAuditRepository(dsn)
        try:
            return verified_entries(repo, folder), [c.seq for c in repo.checkpoints()]
        finally:
            repo.close()

    assert await asyncio.to_thread(check) == (120, list(range(81, 112, 10)))
