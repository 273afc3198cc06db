"""Audit files (archives and exports), retention, search, and verification across them all.

One file format serves archives and exports: JSON lines, a header first::

    {"format": "dvc-gateway-audit/1", "kind": "archive", "first_seq": 1, "last_seq": 5000,
     "prev_hash": "000…", "prev_archive_digest": "", "created_at": 1764230000.0}
    {"entry": {"seq": 1, "at": …, "event": "received", …, "prev_hash": "000…", "hash": "…"}}
    {"checkpoint": {"seq": 1, "at": …, "hash": "…", "key_id": "…", "signature": "…"}}

Retention (:func:`archive_old`) moves entries older than ``audit.retention_days`` into such
files, each ending on a signed checkpoint. Like X-Road's linking info, each archive's header
holds the SHA-256 of the archive before it, and the database keeps each file's digest, so a
replaced or edited archive is caught; its first entry's ``prev_hash`` continues the chain of
the one before, and the first online entry continues the last archive. :func:`verify_all`
checks archives and the live log as one chain. ``tools/verify_audit.py`` checks the same files
without the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.chain import GENESIS_HASH, AuditEntry, Finding, VerifyReport, verify_log
from gateway.audit.keys import Checkpoint
from gateway.errors import ArchiveBusyError

log = structlog.get_logger("gateway.audit_archive")

FORMAT = "dvc-gateway-audit/1"
MAX_ENTRIES_PER_ARCHIVE = 100_000


@dataclass(frozen=True, slots=True)
class ArchiveRef:
    """One archive file as the database remembers it."""

    first_seq: int
    last_seq: int
    last_hash: str
    file_name: str
    digest: str


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What ``audit search`` asks for; the time range, dossier and events go to the engine."""

    since: float | None = None
    until: float | None = None
    dossier_code: str = ""
    events: tuple[str, ...] = ()
    route: str = ""
    error_code: str = ""
    http_status: int | None = None

    def matches(self, entry: AuditEntry) -> bool:
        detail = entry.detail
        if self.route and detail.get("route") != self.route:
            return False
        if self.error_code and str(detail.get("error_code")) != self.error_code:
            return False
        return self.http_status is None or detail.get("http_status") == self.http_status

    def matches_all(self, entry: AuditEntry) -> bool:
        """Every condition, the engine's included (for entries read from archive files)."""
        return (
            (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
            and (not self.dossier_code or entry.dossier_code == self.dossier_code)
            and (not self.events or entry.event in self.events)
            and self.matches(entry)
        )


class AuditRepository(Protocol):
    """What a store engine offers for reading and archiving its audit log."""

    def snapshot(self) -> AbstractContextManager[None]: ...

    def checkpoints(self, from_seq: int = 0) -> list[Checkpoint]: ...

    def entries(self, from_seq: int = 0, to_seq: int | None = None) -> Iterator[AuditEntry]: ...

    def first_seq(self) -> int | None: ...

    def archives(self) -> list[ArchiveRef]: ...

    def last_checkpoint_before(self, at: float) -> int | None: ...

    def commit_archive(self, ref: ArchiveRef, created_at: float) -> None: ...

    def find(self, query: AuditQuery) -> Iterator[AuditEntry]: ...

    def close(self) -> None: ...


def search(
    repo: AuditRepository, query: AuditQuery, archives: Path | None = None
) -> Iterator[AuditEntry]:
    """Matching entries in seq order: from the archive files in ``archives`` (if given),
    then from the live log. Call it inside ``repo.snapshot()``: an archive run that commits
    between the list of archives and the last page of the live log would otherwise move
    entries out of the live log after they were looked for there."""
    if archives is not None:
        for ref in repo.archives():
            path = archives / ref.file_name
            if path.exists():
                yield from (e for e in read_audit_file(path).entries if query.matches_all(e))
    yield from (e for e in repo.find(query) if query.matches(e))


# -- the file format ---------------------------------------------------------------------------


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return asdict(entry)


def write_audit_file(
    out: IO[str],
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[Checkpoint],
    *,
    kind: str,
    prev_archive_digest: str = "",
    now: float,
) -> tuple[int, int, str]:
    """Write a header, the entries and their checkpoints; return (first, last, last hash).
    The header's seq range is filled from the entries, so they are collected first."""
    listed = list(entries)
    marks = {c.seq: c for c in checkpoints}
    first = listed[0].seq if listed else 0
    last = listed[-1].seq if listed else 0
    header = {
        "format": FORMAT,
        "kind": kind,
        "first_seq": first,
        "last_seq": last,
        "prev_hash": listed[0].prev_hash if listed else GENESIS_HASH,
        "prev_archive_digest": prev_archive_digest,
        "created_at": now,
    }
    out.write(_line(header))
    for entry in listed:
        out.write(_line({"entry": entry_json(entry)}))
        mark = marks.get(entry.seq)
        if mark is not None:
            out.write(_line({"checkpoint": asdict(mark)}))
    return first, last, listed[-1].hash if listed else GENESIS_HASH


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n"


@dataclass
class AuditFile:
    header: dict[str, Any]
    entries: list[AuditEntry] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)


def read_audit_file(path: Path) -> AuditFile:
    """Parse an archive or export; a line that is not an entry or checkpoint is an error."""
    with path.open(encoding="utf-8") as handle:
        header = json.loads(handle.readline() or "{}")
        if header.get("format") != FORMAT:
            raise ValueError(f"{path.name}: not a {FORMAT} file")
        parsed = AuditFile(header)
        for number, line in enumerate(handle, start=2):
            item = json.loads(line)
            if "entry" in item:
                parsed.entries.append(AuditEntry(**item["entry"]))
            elif "checkpoint" in item:
                parsed.checkpoints.append(Checkpoint(**item["checkpoint"]))
            else:
                raise ValueError(f"{path.name}:{number}: neither an entry nor a checkpoint")
    return parsed


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- retention ---------------------------------------------------------------------------------


def archive_old(repo: AuditRepository, folder: Path, *, cutoff: float, now: float) -> list[Path]:
    """Move entries older than ``cutoff`` (up to the last checkpoint among them, never the
    newest entry) into archive files; return the files written."""
    written: list[Path] = []
    while True:
        with repo.snapshot():
            upto = repo.last_checkpoint_before(cutoff)
            start = repo.first_seq()
            if upto is None or start is None or upto < start:
                return written
            upto = min(upto, start + MAX_ENTRIES_PER_ARCHIVE - 1)
            refs = repo.archives()
            entries = list(repo.entries(start, upto))
            marks = [c for c in repo.checkpoints(start) if c.seq <= upto]
        if upto != entries[-1].seq or upto not in {c.seq for c in marks}:
            # A cap that does not fall on a checkpoint: stop at the last one inside it.
            inside = [c.seq for c in marks]
            if not inside:
                return written
            upto = max(inside)
            entries = [e for e in entries if e.seq <= upto]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"audit-{entries[0].seq:012d}-{upto:012d}.jsonl"
        previous = refs[-1].digest if refs else ""
        _write_durably(path, entries, marks, previous, now)
        digest = file_digest(path)
        repo.commit_archive(
            ArchiveRef(entries[0].seq, upto, entries[-1].hash, path.name, digest), now
        )
        written.append(path)


def _write_durably(
    path: Path, entries: list[AuditEntry], marks: list[Checkpoint], previous: str, now: float
) -> None:
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        write_audit_file(out, entries, marks, kind="archive", prev_archive_digest=previous, now=now)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def archive_periodically(
    open_repo: Callable[[], AuditRepository],
    folder: Path,
    *,
    retention_s: float,
    interval_s: float,
    stop: asyncio.Event,
    clock: Callable[[], float],
    on_done: Callable[[list[Path]], None] | None = None,
) -> None:
    """The daemon's retention: every ``interval_s`` (the first time at start), archive what
    is older than ``retention_s``, on a thread with its own connection. A round in which
    another process holds the archive lock (PostgreSQL) is skipped."""

    def once() -> list[Path]:
        repo = open_repo()
        try:
            now = clock()
            return archive_old(repo, folder, cutoff=now - retention_s, now=now)
        finally:
            repo.close()

    while not stop.is_set():
        try:
            written = await asyncio.to_thread(once)
        except ArchiveBusyError as exc:
            log.info("audit_archive_skipped", reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - retention must not stop the daemon
            log.warning("audit_archive_failed", error=repr(exc))
        else:
            for path in written:
                log.info("audit_archived", file=str(path))
            if on_done is not None:
                on_done(written)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


# -- verification across archives and the live log ---------------------------------------------


def verify_all(
    repo: AuditRepository,
    folder: Path,
    *,
    public_key: Ed25519PublicKey | Iterable[Ed25519PublicKey] | None,
    max_gap: int | None,
    anchor: tuple[int, str] | None = None,
) -> VerifyReport:
    """Every archive (digest and link) and the live log, as one chain."""
    with repo.snapshot():
        refs = repo.archives()
        live_marks = repo.checkpoints()
        files: list[AuditFile] = []
        previous = ""
        for ref in refs:
            finding, parsed = _check_archive(folder, ref, previous)
            if finding is not None:
                return VerifyReport(finding=finding)
            assert parsed is not None
            files.append(parsed)
            previous = ref.digest
        entries = _chain(*(f.entries for f in files), repo.entries())
        marks = [c for f in files for c in f.checkpoints] + live_marks
        report = verify_log(entries, marks, public_key=public_key, max_gap=max_gap, anchor=anchor)
    report.notes.append(f"{len(refs)} archive file(s) and the live log checked")
    return report


def _check_archive(
    folder: Path, ref: ArchiveRef, previous: str
) -> tuple[Finding | None, AuditFile | None]:
    path = folder / ref.file_name
    if not path.exists():
        return Finding(ref.first_seq, f"archive {ref.file_name} is missing"), None
    if file_digest(path) != ref.digest:
        return Finding(
            ref.first_seq, f"archive {ref.file_name} was replaced or edited (digest differs)"
        ), None
    parsed = read_audit_file(path)
    if parsed.header.get("prev_archive_digest") != previous:
        return Finding(
            ref.first_seq, f"archive {ref.file_name} does not link to the one before"
        ), None
    return None, parsed


def _chain(*parts: Iterable[AuditEntry]) -> Iterator[AuditEntry]:
    for part in parts:
        yield from part


# -- export ------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "seq",
    "time_utc",
    "event",
    "record_id",
    "dossier_code",
    "route",
    "http_status",
    "error_code",
    "message",
    "latency_ms",
    "detail",
    "hash",
)


def export_jsonl(
    repo: AuditRepository, out: IO[str], *, from_seq: int, to_seq: int | None, now: float
) -> int:
    """The live log's range as an audit file the standalone verifier checks."""
    with repo.snapshot():
        entries = list(repo.entries(from_seq, to_seq))
        marks = repo.checkpoints(from_seq)
    write_audit_file(out, entries, marks, kind="export", now=now)
    return len(entries)


def export_csv(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for e in entries:
        d = e.detail
        writer.writerow(
            [
                e.seq,
                iso(e.at),
                e.event,
                "" if e.record_id is None else e.record_id,
                e.dossier_code,
                d.get("route", ""),
                d.get("http_status") or "",
                d.get("error_code") or "",
                d.get("message", d.get("reason", "")),
                d.get("latency_ms", ""),
                json.dumps(d, ensure_ascii=False, sort_keys=True),
                e.hash,
            ]
        )
        count += 1
    return count


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
