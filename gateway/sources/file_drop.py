"""File drop: a watched folder of export files (JSON, NDJSON, CSV, XML).

Each round lists the folder's files whose extension is one of ``formats``, oldest first,
skipping hidden files, ``*.tmp``/``*.part`` and files changed less than ``settle_s`` ago (a
vendor should write elsewhere and rename, but a slow copy is waited for too). Each file is
read (at most ``max_file_bytes``), parsed, translated and committed, then moved:

- to ``done/`` when every record was accepted, found a duplicate or quarantined;
- to ``error/`` with ``<file>.reason.txt`` beside it when the file cannot be parsed or some
  of its records were rejected (the reason lists each one with its field paths; the good
  records of that file are committed all the same and will be duplicates if it is fixed
  and dropped again).

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
from gateway.config.schema import FileDropConfig
from gateway.errors import SourceError
from gateway.sources.file_formats import FileFormatError, parse_records
from gateway.sources.pulling import Batch, translate_batch
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
    ) -> None:
        self.name = name
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
        for path in files:
            await self.process(path)
        return False

    def _ready_files(self) -> list[Path]:
        try:
            for folder in (self.inbox, self.done, self.error):
                folder.mkdir(parents=True, exist_ok=True)
            entries = list(os.scandir(self.inbox))
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read {self.inbox}: {exc.strerror}") from exc
        now = self._clock()
        ready = []
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name.lower().endswith(SKIPPED_SUFFIXES):
                continue
            if (
                not entry.is_file(follow_symlinks=False)
                or _format(name) not in self._config.formats
            ):
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
            if now - mtime >= self._config.settle_s:
                ready.append((mtime, name))
        return [self.inbox / name for _, name in sorted(ready)]

    async def process(self, path: Path) -> str:
        """Read, commit and move one file; return where it went (``done`` or ``error``)."""
        try:
            data = await asyncio.to_thread(_read_limited, path, self._config.max_file_bytes)
        except FileFormatError as exc:
            return await self._settle(path, "error", str(exc))
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
            )
        except FileFormatError as exc:
            return await self._settle(path, "error", str(exc))
        reasons = await self._commit(path, raws, digest)
        return await self._settle(path, "error" if reasons else "done", "\n".join(reasons))

    async def _commit(self, path: Path, raws: list[object], digest: str) -> list[str]:
        """Commit the file's records in batches; the last batch carries the content marker,
        unless a record was rejected. Return one reason line per problem of a rejected one."""
        # Adapters are pure, so a large file is translated off the event loop.
        items, rejected = await asyncio.to_thread(translate_batch, self.name, self._adapter, raws)
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
        target = await asyncio.to_thread(_move, path, folder, reason)
        if outcome == "error":
            log.warning("file_drop_failed", source=self.name, file=path.name, moved_to=str(target))
        else:
            log.info("file_drop_done", source=self.name, file=path.name, moved_to=str(target))
        return outcome

    async def close(self) -> None:
        return None


def _format(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _read_limited(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileFormatError(f"larger than max_file_bytes ({limit} bytes)")
    return data


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
