"""File drop: a watched folder of export files (JSON, NDJSON, CSV, XML).

**How a vendor writes a file.** Write it under a name the gateway ignores, then rename it
(a rename in the same folder is atomic): ``export.json.part`` or ``.export.json`` (names that
start with ``.`` or end in ``.tmp``, ``.part``, ``.partial``, ``.crdownload`` are never
taken), then ``mv export.json.part export.json``. A file written in place is waited for too:
it is taken only when its size, modification time and inode have not changed across two
listings at least ``settle_s`` apart and it was last modified ``settle_s`` ago or more
(``settle_s: 0`` takes a file at once). A slow writer that pauses longer than ``settle_s``
can still be caught half-way: that is why the rename is the rule.

Each round lists the folder's files whose extension is one of ``formats``, oldest first.
Each file is read (at most ``max_file_bytes``, never through a symlink), parsed, translated
and committed, then moved:

- to ``done/`` when every record was accepted, found a duplicate or quarantined;
- to ``error/`` with ``<file>.reason.txt`` beside it when the file cannot be parsed (the
  strict JSON reader's rules: depth, repeated keys, NaN), some of its records were rejected
  (the reason lists each one with its field paths and rules; the good records of that file
  are committed all the same and will be duplicates if it is fixed and dropped again), or
  anything else failed on it: one bad file never stops the round or blocks the folder.

A file that changes while it is read (size, modification time or inode differ after the
read) is left where it is and read again in a later round; one that changes after its records
were committed goes to ``error/`` saying so (drop the complete file again: what was committed
comes back as duplicates). Only a failing store ends a round early (the file stays and is
read again).

The SHA-256 of a file's content is saved as a cursor (``<source>#sha256:<hex>``) in the same
transaction as its last records. A file whose content was committed before (the same export
dropped twice, or a crash after the commit and before the move) goes straight to ``done/``
and adds nothing. A crash before the commit leaves the file where it was: it is read again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from adapters.contract import Adapter
from gateway.canonical import DEFAULT_RULES, RecordRules
from gateway.config.schema import FileDropConfig
from gateway.errors import SourceError, StoreError
from gateway.sources.file_formats import FileFormatError, parse_records
from gateway.sources.pulling import Batch, translate_batch, where_it_broke
from gateway.sources.strict_json import DEFAULT_MAX_DEPTH
from gateway.store.contract import Receipt, SourceCursor, Store, Validate

log = structlog.get_logger("gateway.sources.file_drop")

SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


class FileDropSource:
    """One watched folder."""

    def __init__(
        self,
        name: str,
        config: FileDropConfig,
        adapter: Adapter,
        store: Store,
        *,
        validate: Validate,
        clock: Callable[[], float] = time.time,
        rules: RecordRules = DEFAULT_RULES,
        max_json_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.name = name
        self._rules = rules
        self._max_json_depth = max_json_depth
        self._seen: dict[str, tuple[Stamp, float]] = {}
        """Each waiting file's (size, mtime, inode) and when it was first seen so."""
        self._stuck: set[str] = set()
        """Files that could not be moved out of the inbox: passed over while they stay."""
        self._config = config
        self._adapter = adapter
        self._store = store
        self._validate = validate
        self._clock = clock
        self.inbox = config.path
        self.done = config.path / "done"
        self.error = config.path / "error"

    def marker(self, digest: str) -> str:
        """The cursor name that records a file content as committed."""
        return f"{self.name}#sha256:{digest}"

    async def poll_once(self) -> bool:
        files = await asyncio.to_thread(self._ready_files)
        for path, seen in files:
            await self.process(path, seen)
        return False

    def _ready_files(self) -> list[tuple[Path, Stamp]]:
        try:
            for folder in (self.inbox, self.done, self.error):
                folder.mkdir(parents=True, exist_ok=True)
            entries = list(os.scandir(self.inbox))
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read {self.inbox}: {exc.strerror}") from exc
        now = self._clock()
        settle = self._config.settle_s
        ready = []
        present = set()
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(SKIPPED_SUFFIXES):
                continue
            try:
                if (
                    not entry.is_file(follow_symlinks=False)
                    or _format(name) not in self._config.formats
                ):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except OSError:  # gone since the listing
                continue
            stamp = _stamp(stat)
            present.add(name)
            if name in self._stuck:
                continue
            first = self._seen.get(name)
            if first is None or first[0] != stamp:
                self._seen[name] = (stamp, now)
            if settle <= 0 or (
                first is not None
                and first[0] == stamp
                and now - first[1] >= settle
                and now - stat.st_mtime >= settle
            ):
                ready.append((stat.st_mtime, name, stamp))
        for name in set(self._seen) - present:
            del self._seen[name]
        self._stuck &= present
        return [(self.inbox / name, stamp) for _, name, stamp in sorted(ready)]

    async def process(self, path: Path, seen: Stamp | None = None) -> str:
        """Read, commit and move one file; return where it went (``done`` or ``error``), or
        ``retry`` when it changed while it was read. Anything that fails on the file itself
        sends it to ``error/`` with the reason; only a failing store is raised (the file
        stays and is read again)."""
        try:
            return await self._process(path, seen)
        except StoreError:
            raise
        except _Changed as exc:
            self._seen.pop(path.name, None)
            log.warning("file_drop_changed_while_read", source=self.name, file=path.name)
            if exc.committed:
                reason = (
                    "the file changed after its records were committed (it was still being "
                    "written?): write it as NAME.part and rename it when complete, then drop "
                    "the complete file again (records already stored come back as duplicates)"
                )
                return await self._settle(path, "error", reason)
            return "retry"
        except Exception as exc:  # noqa: BLE001 - one file must never block the folder
            # The message could quote the content (personal data): only where it broke.
            where = where_it_broke(exc)
            log.error("file_drop_crashed", source=self.name, file=path.name, error=where)
            reason = (
                f"the gateway failed on this file ({where}); records stored before the failure "
                "are kept and come back as duplicates when the file is dropped again"
            )
            return await self._settle(path, "error", reason)

    async def _process(self, path: Path, seen: Stamp | None) -> str:
        try:
            data, stamp = await asyncio.to_thread(
                _read_whole, path, self._config.max_file_bytes, seen
            )
        except FileNotFoundError:
            return "retry"
        except FileFormatError as exc:
            return await self._settle(path, "error", str(exc))
        except OSError as exc:
            return await self._settle(path, "error", f"cannot read the file: {exc.strerror}")
        digest = hashlib.sha256(data).hexdigest()
        if await self._store.get_cursor(self.marker(digest)) is not None:
            log.info("file_drop_duplicate", source=self.name, file=path.name, sha256=digest)
            return await self._settle(path, "done", "")
        try:
            raws = await asyncio.to_thread(
                parse_records,
                data,
                _format(path.name),
                max_records=self._config.max_records_per_file,
                csv_delimiter=self._config.csv_delimiter,
                csv_encoding=self._config.csv_encoding,
                xml_record_tag=self._config.xml_record_tag,
                max_depth=self._max_json_depth,
            )
        except FileFormatError as exc:
            return await self._settle(path, "error", str(exc))
        await asyncio.to_thread(_unchanged, path, stamp, False)
        reasons = await self._commit(path, raws, digest)
        await asyncio.to_thread(_unchanged, path, stamp, True)
        return await self._settle(path, "error" if reasons else "done", "\n".join(reasons))

    async def _commit(self, path: Path, raws: list[object], digest: str) -> list[str]:
        """Commit the file's records in batches; the last batch carries the content marker,
        unless a record was rejected. Return one reason line per problem of a rejected one."""
        # Adapters are pure, so a large file is translated off the event loop.
        items, rejected = await asyncio.to_thread(
            translate_batch, self.name, self._adapter, raws, rules=self._rules
        )
        reasons = [
            f"record {index + 1}: {problem}"
            for index, exc in sorted(rejected.items())
            for problem in exc.problems
        ]
        size = self._config.batch_size
        chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        receipts: list[Receipt] = []
        for number, chunk in enumerate(chunks):
            cursor = None
            if number == len(chunks) - 1 and not reasons:
                value = json.dumps({"file": path.name, "records": len(raws)}, ensure_ascii=False)
                cursor = SourceCursor(self.marker(digest), value)
            receipts += await self._store.accept(
                chunk, now=self._clock(), validate=self._validate, cursor=cursor
            )
        batch = Batch(receipts, rejected)
        log.info(
            "file_drop_committed",
            source=self.name,
            file=path.name,
            records=len(raws),
            accepted=batch.count("accepted"),
            duplicate=batch.count("duplicate"),
            quarantined=batch.count("quarantined"),
            rejected=len(rejected),
        )
        return reasons

    async def _settle(self, path: Path, outcome: str, reason: str) -> str:
        folder = self.done if outcome == "done" else self.error
        try:
            target = await asyncio.to_thread(_move, path, folder, reason)
        except OSError as exc:
            # It cannot leave the inbox (permissions?): pass it over while it stays there, so
            # the files after it still go through.
            self._stuck.add(path.name)
            log.error("file_drop_move_failed", source=self.name, file=path.name,
                      to=folder.name, error=exc.strerror)  # fmt: skip
            return "stuck"
        if outcome == "error":
            log.warning("file_drop_failed", source=self.name, file=path.name, moved_to=str(target))
        else:
            log.info("file_drop_done", source=self.name, file=path.name, moved_to=str(target))
        return outcome

    async def close(self) -> None:
        return None


def _format(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


Stamp = tuple[int, int, int]
"""A file's (size, modification time in ns, inode): any change means it is being written."""


class _Changed(Exception):
    """The file changed while (or after) it was read."""

    def __init__(self, *, committed: bool) -> None:
        self.committed = committed
        super().__init__("changed")


def _stamp(stat: os.stat_result) -> Stamp:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _read_whole(path: Path, limit: int, seen: Stamp | None) -> tuple[bytes, Stamp]:
    """The file's bytes (at most ``limit``) and its stamp; never through a symlink. Raises
    :class:`_Changed` if the file is not the one listed or changed during the read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        before = _stamp(os.fstat(f.fileno()))
        if before[0] > limit:
            raise FileFormatError(f"larger than max_file_bytes ({limit} bytes)")
        data = f.read(limit + 1)
        after = _stamp(os.fstat(f.fileno()))
    if len(data) > limit:
        raise FileFormatError(f"larger than max_file_bytes ({limit} bytes)")
    if (seen is not None and before != seen) or after != before or len(data) != before[0]:
        raise _Changed(committed=False)
    _unchanged(path, before, False)
    return data, before


def _unchanged(path: Path, stamp: Stamp, committed: bool) -> None:
    """Raise :class:`_Changed` if the path no longer holds the file that was read."""
    try:
        now = _stamp(os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        raise _Changed(committed=committed) from None
    if now != stamp:
        raise _Changed(committed=committed)


def _move(path: Path, folder: Path, reason: str) -> Path:
    """Move ``path`` into ``folder`` without overwriting; write the reason file beside it."""
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    os.replace(path, target)
    if reason:
        reason_path = target.with_name(target.name + ".reason.txt")
        reason_path.write_text(reason + "\n", encoding="utf-8")
    _fsync_dir(folder)
    _fsync_dir(path.parent)
    return target


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
