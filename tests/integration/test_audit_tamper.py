"""The tamper matrix (reliability-anchors C2): each attack is reported with the first bad seq.

Checkpoints are signed every 10 entries (at seq 1, 11, 21, ...). The same attacks are run on
the database (checked by ``verify_all``, what ``dvc-gateway audit verify`` runs) and on an
exported file (checked by the standalone ``tools/verify_audit.py``).
"""

from __future__ import annotations

import ast
import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.archive import archive_old, archive_periodically, export_jsonl, verify_all
from gateway.audit.chain import AuditEntry, Finding, VerifyReport, canonical_bytes, chain_hash
from gateway.audit.keys import public_key_b64
from gateway.errors import ArchiveBusyError
from gateway.store.sqlite.audit import SqliteAuditRepository
from tests.audit_support import EVERY, ROOT, SIGNER, copy_log, make_log, run_standalone

PUBLIC = public_key_b64(SIGNER.public)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_log(tmp_path_factory.mktemp("pristine"), dossiers=40)


def verify_db(path: Path, archives: Path | None = None, **kw: object) -> VerifyReport:
    repo = SqliteAuditRepository(path)
    try:
        return verify_all(
            repo,
            archives or path.parent / "archive",
            public_key=SIGNER.public,
            max_gap=EVERY,
            **kw,  # type: ignore[arg-type]
        )
    finally:
        repo.close()


def finding(report: VerifyReport) -> Finding:
    assert report.finding is not None, "the tampering was not detected"
    return report.finding


def rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()


def test_the_untouched_log_verifies_with_signatures(pristine: Path) -> None:
    report = verify_db(pristine)
    assert report.ok, report.finding
    assert report.entries == 120
    assert report.checkpoints == 12
    assert report.unsigned_tail == 9
    assert "signatures not checked" not in " ".join(report.notes)


def test_a_wrong_public_key_is_caught(pristine: Path) -> None:
    from gateway.audit.keys import Signer

    other, _ = Signer.generate()
    repo = SqliteAuditRepository(pristine)
    try:
        report = verify_all(repo, pristine.parent, public_key=other.public, max_gap=EVERY)
    finally:
        repo.close()
    assert finding(report).index == 1
    assert "not among the public keys given" in finding(report).reason


def test_a_forged_signature_is_caught(pristine: Path, tmp_path: Path) -> None:
    path = copy_log(pristine, tmp_path)
    with sqlite3.connect(path) as conn:
        (signature,) = conn.execute(
            "SELECT signature FROM audit_checkpoints WHERE seq = 21"
        ).fetchone()
        forged = ("B" if signature[0] != "B" else "C") + signature[1:]
        conn.execute("UPDATE audit_checkpoints SET signature = ? WHERE seq = 21", (forged,))
    found = finding(verify_db(path))
    assert (found.index, found.reason) == (12, "the checkpoint at seq 21 has a bad signature")


# -- attacks on the database -------------------------------------------------------------------


def flip_byte(conn: sqlite3.Connection) -> int:
    (detail,) = conn.execute("SELECT detail FROM audit WHERE seq = 37").fetchone()
    raw = bytearray(detail.encode())
    raw[len(raw) // 2] ^= 0x01
    conn.execute("UPDATE audit SET detail = ? WHERE seq = 37", (raw.decode(),))
    return 37


def delete_entry(conn: sqlite3.Connection) -> int:
    conn.execute("DELETE FROM audit WHERE seq = 52")
    return 52


def swap_entries(conn: sqlite3.Connection) -> int:
    cols = "at, event, record_id, dossier_code, detail, prev_hash, hash"
    a = conn.execute(f"SELECT {cols} FROM audit WHERE seq = 63").fetchone()
    b = conn.execute(f"SELECT {cols} FROM audit WHERE seq = 64").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = 63", b)
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = 64", a)
    return 63


def truncate_tail(conn: sqlite3.Connection) -> int:
    conn.execute("DELETE FROM audit WHERE seq > 95")
    return 96


def rewrite_chain(conn: sqlite3.Connection) -> int:
    """Edit entry 75 and recompute every hash after it: the chain alone would verify."""
    entries = [
        AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows(conn)
    ]
    prev = entries[73].hash
    for e in entries[74:]:
        detail = dict(e.detail)
        if e.seq == 75:
            detail["source"] = "forged"
        digest = chain_hash(
            prev, canonical_bytes(e.seq, e.at, e.event, e.record_id, e.dossier_code, detail)
        )
        conn.execute(
            "UPDATE audit SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (json.dumps(detail, sort_keys=True, ensure_ascii=False), prev, digest, e.seq),
        )
        prev = digest
    return 72  # the checkpoint at 71 still vouches for 1..71; the one at 81 no longer matches


ATTACKS: dict[str, Callable[[sqlite3.Connection], int]] = {
    "flipped byte": flip_byte,
    "deleted entry": delete_entry,
    "swapped entries": swap_entries,
    "truncated tail": truncate_tail,
    "rewritten chain": rewrite_chain,
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_database_attack_is_reported_at_the_first_bad_seq(
    attack: str, pristine: Path, tmp_path: Path
) -> None:
    path = copy_log(pristine, tmp_path)
    with sqlite3.connect(path) as conn:
        expected = ATTACKS[attack](conn)
    assert finding(verify_db(path)).index == expected


def test_rewrite_with_checkpoints_deleted_breaks_the_gap_rule(
    pristine: Path, tmp_path: Path
) -> None:
    path = copy_log(pristine, tmp_path)
    with sqlite3.connect(path) as conn:
        rewrite_chain(conn)
        conn.execute("DELETE FROM audit_checkpoints WHERE seq > 71")
    found = finding(verify_db(path))
    assert found.index == 72
    assert "no signed checkpoint" in found.reason


def test_a_clean_cut_at_a_checkpoint_needs_the_logged_anchor(
    pristine: Path, tmp_path: Path
) -> None:
    """Entries and checkpoints after 50 removed: it looks like an older log, until the head
    the daemon logged (``audit_checkpoint_signed``) is given as an anchor."""
    anchor_seq, anchor_hash = 111, verify_db(pristine).last_hash
    with sqlite3.connect(pristine) as conn:
        (anchor_hash,) = conn.execute("SELECT hash FROM audit WHERE seq = 111").fetchone()
    path = copy_log(pristine, tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM audit WHERE seq > 50")
        conn.execute("DELETE FROM audit_checkpoints WHERE seq > 50")
    assert verify_db(path).ok
    found = finding(verify_db(path, anchor=(anchor_seq, anchor_hash)))
    assert found.index == 51
    export(path, tmp_path / "cut.jsonl")
    code, out = run_standalone(
        "--public-key",
        PUBLIC,
        "--anchor",
        f"{anchor_seq}:{anchor_hash}",
        str(tmp_path / "cut.jsonl"),
    )
    assert (code, out.split(":")[1].strip()) == (1, "seq 51")


# -- archives ----------------------------------------------------------------------------------


def archived(pristine: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Three archive files (entries before t=1010, 1020, 1030) and the live rest."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path, folder = copy_log(pristine, tmp_path), tmp_path / "archive"
    repo = SqliteAuditRepository(path, writable=True)
    try:
        for cutoff in (1010.0, 1020.0, 1030.0):
            [written] = archive_old(repo, folder, cutoff=cutoff, now=cutoff)
            assert written.exists()
    finally:
        repo.close()
    return path, folder


def test_archives_and_live_log_verify_as_one_chain(pristine: Path, tmp_path: Path) -> None:
    path, folder = archived(pristine, tmp_path)
    report = verify_db(path, folder)
    assert report.ok, report.finding
    assert report.entries == 120
    with sqlite3.connect(path) as conn:
        (live_first,) = conn.execute("SELECT MIN(seq) FROM audit").fetchone()
        files = conn.execute("SELECT first_seq, last_seq FROM audit_archives").fetchall()
    assert files == [(1, 21), (22, 51), (52, live_first - 1)]


def test_a_replaced_archive_is_reported_at_its_first_seq(pristine: Path, tmp_path: Path) -> None:
    path, folder = archived(pristine, tmp_path)
    second = sorted(folder.glob("audit-*.jsonl"))[1]
    lines = second.read_text(encoding="utf-8").splitlines(keepends=True)
    raw = bytearray(lines[1].encode())
    raw[raw.index(b'"event": "') + 11] ^= 0x01  # one flipped byte in its first entry
    lines[1] = raw.decode()
    second.write_text("".join(lines), encoding="utf-8")
    assert finding(verify_db(path, folder)).index == 22


# -- the standalone verifier on exported files -------------------------------------------------


def export(path: Path, out: Path) -> list[str]:
    repo = SqliteAuditRepository(path)
    try:
        with out.open("w", encoding="utf-8") as handle:
            export_jsonl(repo, handle, from_seq=0, to_seq=None, now=2000.0)
    finally:
        repo.close()
    return out.read_text(encoding="utf-8").splitlines(keepends=True)


def line_of(lines: list[str], seq: int) -> int:
    for i, line in enumerate(lines):
        item = json.loads(line)
        if "entry" in item and item["entry"]["seq"] == seq:
            return i
    raise AssertionError(f"no entry {seq}")


def standalone_index(*files: Path) -> int:
    code, out = run_standalone("--public-key", PUBLIC, "--max-gap", str(EVERY), *map(str, files))
    assert code == 1, out
    return int(out.split("seq ", 1)[1].split(":", 1)[0])


def test_standalone_verifier_accepts_the_export_and_the_archives(
    pristine: Path, tmp_path: Path
) -> None:
    export(pristine, tmp_path / "all.jsonl")
    code, out = run_standalone(
        "--public-key", PUBLIC, "--max-gap", str(EVERY), str(tmp_path / "all.jsonl")
    )
    assert (code, out.split(":")[0]) == (0, "OK")
    path, folder = archived(pristine, tmp_path / "a")
    export(path, tmp_path / "live.jsonl")
    files = [*sorted(folder.glob("audit-*.jsonl")), tmp_path / "live.jsonl"]
    code, out = run_standalone("--public-key", PUBLIC, *map(str, files))
    assert code == 0, out
    assert "120 entries, 12 checkpoints, 4 file(s)" in out


def test_standalone_verifier_imports_nothing_from_the_gateway() -> None:
    tree = ast.parse((ROOT / "tools/verify_audit.py").read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in ("gateway", "adapters", "tests")]


def test_standalone_flipped_deleted_swapped_cut(pristine: Path, tmp_path: Path) -> None:
    lines = export(pristine, tmp_path / "all.jsonl")
    target = tmp_path / "t.jsonl"

    flipped = list(lines)
    i = line_of(flipped, 37)
    raw = bytearray(flipped[i].encode())
    raw[raw.index(b'"event": "') + 11] ^= 0x01
    flipped[i] = raw.decode()
    target.write_text("".join(flipped), encoding="utf-8")
    assert standalone_index(target) == 37

    deleted = list(lines)
    del deleted[line_of(deleted, 52)]
    target.write_text("".join(deleted), encoding="utf-8")
    assert standalone_index(target) == 52

    swapped = list(lines)
    a, b = line_of(swapped, 63), line_of(swapped, 64)
    swapped[a], swapped[b] = swapped[b], swapped[a]
    target.write_text("".join(swapped), encoding="utf-8")
    assert standalone_index(target) == 63

    i = line_of(lines, 96)
    cut = [*lines[:i], lines[i][: len(lines[i]) // 2]]  # cut in the middle of entry 96's line
    target.write_text("".join(cut), encoding="utf-8")
    assert standalone_index(target) == 96


def test_standalone_rewritten_chain_and_replaced_archive(pristine: Path, tmp_path: Path) -> None:
    forged = copy_log(pristine, tmp_path)
    with sqlite3.connect(forged) as conn:
        rewrite_chain(conn)
    export(forged, tmp_path / "forged.jsonl")
    assert standalone_index(tmp_path / "forged.jsonl") == 72

    path, folder = archived(pristine, tmp_path / "a")
    export(path, tmp_path / "live.jsonl")
    files = [*sorted(folder.glob("audit-*.jsonl")), tmp_path / "live.jsonl"]
    _, other_folder = archived(make_other(tmp_path), tmp_path / "b")
    files[1] = sorted(other_folder.glob("audit-*.jsonl"))[1]  # a well-formed archive, but not ours
    assert standalone_index(*files) == 22


def make_other(tmp_path: Path) -> Path:
    """Another gateway's log of the same shape (its archives are valid files, not ours)."""
    return make_log(tmp_path / "other", dossiers=40, tag="other-")


async def test_the_daemon_archives_on_its_own(pristine: Path, tmp_path: Path) -> None:
    path, folder = copy_log(pristine, tmp_path), tmp_path / "archive"
    stop, done = asyncio.Event(), asyncio.Event()
    written: list[Path] = []

    def finished(paths: list[Path]) -> None:
        written.extend(paths)
        stop.set()  # one round is enough
        done.set()

    await archive_periodically(
        lambda: SqliteAuditRepository(path, writable=True),
        folder,
        retention_s=25.0,
        interval_s=3600.0,
        stop=stop,
        clock=lambda: 1050.0,  # entries before t=1025 are old
        on_done=finished,
    )
    assert done.is_set()
    assert [p.name for p in written] == ["audit-000000000001-000000000071.jsonl"]
    assert verify_db(path, folder).ok


async def test_a_key_rotation_verifies_with_both_public_keys(tmp_path: Path) -> None:
    from gateway.audit.chain import AuditPolicy
    from gateway.audit.keys import Signer
    from gateway.sources.intake import validate_for_portal
    from gateway.store.contract import Incoming
    from gateway.store.sqlite.store import SqliteStore
    from tests.factories import dossier

    old, new = Signer.generate()[0], Signer.generate()[0]
    path = tmp_path / "gw.db"
    for n, signer in enumerate((old, new)):
        store = await SqliteStore.open(path, now=0.0, audit=AuditPolicy(EVERY, 1e9, signer))
        try:
            items = [Incoming("t", dossier(f"H56-{n}-{i}"), f"r{n}-{i}") for i in range(10)]
            await store.accept(items, now=1.0 + n, validate=validate_for_portal)
        finally:
            await store.close()
    repo = SqliteAuditRepository(path)
    try:
        both = verify_all(repo, tmp_path, public_key=[new.public, old.public], max_gap=EVERY)
        only_new = verify_all(repo, tmp_path, public_key=new.public, max_gap=EVERY)
    finally:
        repo.close()
    assert both.ok, both.finding
    assert finding(only_new).index == 1
    assert f"key {old.key_id}" in finding(only_new).reason

    export(path, tmp_path / "all.jsonl")
    keys = ["--public-key", public_key_b64(new.public), "--public-key", public_key_b64(old.public)]
    code, out = run_standalone(*keys, "--max-gap", str(EVERY), str(tmp_path / "all.jsonl"))
    assert code == 0, out
    code, out = run_standalone(*keys[:2], "--max-gap", str(EVERY), str(tmp_path / "all.jsonl"))
    assert (code, out.split(":")[0]) == (1, "first bad entry")


def test_one_archiver_at_a_time_on_sqlite_too(pristine: Path, tmp_path: Path) -> None:
    """``audit archive`` by hand while the daemon's retention archives: the second waits its
    turn (refused at once) instead of writing the same file over the first one's."""
    db = copy_log(pristine, tmp_path)
    archiver = SqliteAuditRepository(db, writable=True)
    try:
        with pytest.raises(ArchiveBusyError, match="another process is archiving"):
            SqliteAuditRepository(db, writable=True)
        reader = SqliteAuditRepository(db)  # readers never wait for the archiver
        try:
            assert reader.first_seq() == 1
        finally:
            reader.close()
    finally:
        archiver.close()
    SqliteAuditRepository(db, writable=True).close()  # released with the repository
