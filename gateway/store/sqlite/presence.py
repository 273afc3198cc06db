"""Is the database file the one the store opened, and was a store here before?

SQLite keeps writing through its open descriptor after the file is unlinked or replaced
(``rm``, a restore by ``mv``, a volume re-mounted): intake would answer 200 for records that
land in a file nobody can open again. :class:`FileIdentity` remembers the device and inode
the store opened and checks the path against them before each transaction (one ``stat``);
a mismatch is a :class:`~gateway.errors.StoreLostError` from then on.

A restart on a missing file would silently begin an empty store and a new audit chain that
verifies. So the daemon keeps an *anchor* beside the database (``<db>.anchor``: the audit
head it last sealed, rewritten at each seal), and :func:`check_present` refuses to create a
database where an anchor or audit archive files show a store existed, unless the operator
says so (``dvc-gateway run --new-store``); the new chain's first entries then name the old
head (``store_started_new``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import StoreLostError, StoreUnavailableError

ANCHOR_SUFFIX = ".anchor"


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """The device and inode of the database file the store opened."""

    path: Path
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        found = path.stat()
        return cls(path, found.st_dev, found.st_ino)

    def problem(self) -> str | None:
        """Why the path no longer names the opened file, or None if it still does."""
        try:
            now = self.path.stat()
        except FileNotFoundError:
            return f"{self.path} was deleted under the running gateway"
        except OSError as exc:
            return f"{self.path} cannot be checked: {exc.strerror}"
        if (now.st_dev, now.st_ino) != (self.device, self.inode):
            return (
                f"{self.path} was replaced under the running gateway "
                f"(inode {self.inode} -> {now.st_ino})"
            )
        return None

    def check(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise StoreLostError(problem)


def anchor_path(database: Path) -> Path:
    return database.with_name(database.name + ANCHOR_SUFFIX)


def write_anchor(database: Path, *, seq: int, head_hash: str, at: float) -> None:
    """Record the audit head beside the database (atomically: a crash leaves the old one)."""
    anchor = anchor_path(database)
    partial = anchor.with_name(anchor.name + ".partial")
    text = json.dumps(
        {"store": str(database), "seq": seq, "hash": head_hash, "at": at}, sort_keys=True
    )
    with partial.open("w", encoding="utf-8") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    partial.replace(anchor)


def read_anchor(database: Path) -> dict[str, Any] | None:
    """The anchor beside ``database``, or None (an unreadable one still counts as present)."""
    anchor = anchor_path(database)
    try:
        text = anchor.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        found = json.loads(text)
    except json.JSONDecodeError:
        return {"store": str(database), "unreadable": str(anchor)}
    return found if isinstance(found, dict) else {"unreadable": str(anchor)}


def check_present(database: Path, archive_dir: Path, *, new_store: bool) -> dict[str, Any] | None:
    """Before the daemon opens ``database``: refuse to create it where a store existed.

    Returns what showed a store was here when ``new_store`` allows a new one (for the
    audit), else None. Raises :class:`StoreUnavailableError` (exit 2) naming the evidence."""
    if database.exists():
        return None
    evidence: dict[str, Any] = {}
    anchor = read_anchor(database)
    if anchor is not None:
        evidence["previous_anchor"] = anchor
    archives = sorted(p.name for p in archive_dir.glob("audit-*.jsonl"))
    if archives:
        evidence["archives"] = len(archives)
        evidence["last_archive"] = archives[-1]
    if not evidence:
        return None  # a first start: create it
    if new_store:
        return evidence
    seen = []
    if anchor is not None:
        seen.append(
            f"{anchor_path(database)} (audit chain at seq {anchor.get('seq', '?')})"
            if "seq" in anchor
            else f"{anchor_path(database)}"
        )
    if archives:
        seen.append(f"{len(archives)} audit archive file(s) in {archive_dir}")
    raise StoreUnavailableError(
        f"{database}: no such database, but a store existed here: {'; '.join(seen)}. "
        "Restore the database file, or start with --new-store to begin a new store and "
        "audit chain (its first entries name the old chain's head)"
    )
