"""The hostile-input corpus through the pulling sources (issue 12, items 4-6): a real drop
folder (poisoned, deep, half-written and changing files), a real vendor database on SQLite,
MariaDB and PostgreSQL, and a daemon running a drop folder. No round ends early, no file
blocks the folder, every bad record gets its field path and rule, good records are stored.
The inputs themselves are in :mod:`tests.integration.test_hostile_input`."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from gateway import logs
from gateway.app import running
from gateway.config.schema import FileDropConfig, SourcesConfig
from gateway.model import Record
from gateway.sources.file_drop import FileDropSource
from gateway.sources.intake import validate_for_portal
from gateway.sources.sql_poll import SqlPollSource
from gateway.sources.vendor_db import open_vendor_db
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.integration.test_end_to_end import (  # noqa: F401 - portal is a fixture
    Portal,
    drained,
    gateway_config,
    portal,
)
from tests.integration.test_hostile_input import BAD_BODIES, BAD_RECORDS, CODE, good, named
from tests.vendor_databases import T0, row, vendor_database


def write(path: Path, data: bytes, mtime: float) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def drop_source(
    inbox: Path, store: SqliteStore, clock: list[float], settle_s: float = 0.0
) -> FileDropSource:
    config = FileDropConfig(adapter="canonical", path=inbox, settle_s=settle_s)
    adapter = registry.create("canonical", {}, "test")
    return FileDropSource(
        "drop", config, adapter, store, validate=validate_for_portal, clock=lambda: clock[0]
    )


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    opened = await SqliteStore.open(tmp_path / "state" / "gw.db", now=0)
    yield opened
    await opened.close()


async def stored_codes(store: SqliteStore) -> set[str]:
    return {c for (c,) in await store.query("SELECT dossier_code FROM records")}


async def test_the_drop_folder_corpus_never_blocks_and_every_file_gets_its_reason(
    tmp_path: Path, store: SqliteStore
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    deep_xml = b"<records><r>" + b"<a>" * 10_000 + b"x" + b"</a>" * 10_000 + b"</r></records>"
    mixed = []
    for n, (_, change, _, _, _) in enumerate(BAD_RECORDS):
        mixed += [good(100 + n), {**good(200 + n), **change}]
    broken_files: dict[str, tuple[bytes, str]] = {
        "deep.json": (b"[" * 10_000 + b"]" * 10_000, "rule depth"),
        "deep.xml": (deep_xml, "rule depth"),
        "deep.ndjson": (b"{}\n" + b"[" * 10_000 + b"]" * 10_000 + b"\n", "line 2"),
        "dup.json": (BAD_BODIES[2][1], 'the key "status" appears twice'),
        "nan.ndjson": (json.dumps(good(1)).encode() + b"\n" + BAD_BODIES[3][1][1:-1],
                       "rule non-finite-number"),
        "latin1.json": (BAD_BODIES[7][1], "rule encoding"),
        "huge.json": (BAD_BODIES[6][1], "rule number-too-long"),
        "mixed.json": (json.dumps(mixed).encode(), "record 2: $.status: "),
    }  # fmt: skip
    for i, (name, (data, _)) in enumerate(broken_files.items()):
        write(inbox / name, data, 1000.0 + i)
    write(inbox / "zz-last.json", json.dumps([good(1)]).encode(), 2000.0)
    source = drop_source(inbox, store, [4e9])

    await source.poll_once()  # one round takes every file, none ends it

    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    assert [p.name for p in (inbox / "done").iterdir()] == ["zz-last.json"]
    for name, (_, expected) in broken_files.items():
        reason = (inbox / "error" / f"{name}.reason.txt").read_text(encoding="utf-8")
        assert expected in reason, (name, reason)
    reason = (inbox / "error" / "mixed.json.reason.txt").read_text(encoding="utf-8")
    lines = reason.splitlines()
    numbers = {int(line.split(":")[0].removeprefix("record ")) for line in lines}
    assert numbers == {2 * n + 2 for n in range(len(BAD_RECORDS))}  # every bad one, no good one
    for n, (name, _, path, rule, secret) in enumerate(BAD_RECORDS):
        mine = [x for x in lines if x.startswith(f"record {2 * n + 2}: ")]
        assert any(x.split(": ", 1)[1].startswith(path) and named(x, rule) for x in mine), (
            name,
            mine,
        )
        if secret:
            assert not any(secret in x for x in mine), name
    goods = {good(100 + n)["dossier_code"] for n in range(len(BAD_RECORDS))}
    assert await stored_codes(store) == goods | {good(1)["dossier_code"]}


async def test_a_file_that_fails_in_an_unexpected_way_goes_to_error_and_the_round_goes_on(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Whatever breaks on one file (here the store's check raises RecursionError inside the
    transaction, as the old JSON reader did), that file goes to error/ and the next is read."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    poison = good(666)["dossier_code"]

    def validate(record: Record) -> None:
        if record.dossier_code == poison:
            raise RecursionError("maximum recursion depth exceeded")
        validate_for_portal(record)

    config = FileDropConfig(adapter="canonical", path=inbox, settle_s=0.0)
    source = FileDropSource(
        "drop", config, registry.create("canonical", {}, "t"), store, validate=validate
    )
    write(inbox / "a.json", json.dumps([good(666)]).encode(), 1000.0)
    write(inbox / "b.json", json.dumps([good(2)]).encode(), 1001.0)
    await source.poll_once()
    reason = (inbox / "error" / "a.json.reason.txt").read_text(encoding="utf-8")
    assert "RecursionError at " in reason
    assert "maximum recursion" not in reason  # where it broke, not the message
    assert [p.name for p in (inbox / "done").iterdir()] == ["b.json"]
    assert await stored_codes(store) == {good(2)["dossier_code"]}


async def test_a_file_written_in_place_is_taken_only_when_complete(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Item 5: the writer pauses longer than settle_s. The .part convention hides it; a file
    written in place is taken only after it stayed unchanged across settle_s; a file that
    changes while it is read is left for a later round, never half-ingested."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = [json.dumps(good(n)) for n in range(1, 7)]
    clock = [1000.0]
    source = drop_source(inbox, store, clock, settle_s=5.0)

    part = inbox / "export.ndjson.part"
    write(part, "\n".join(lines[:3]).encode() + b"\n", 900.0)  # half, then a long pause
    clock[0] = 2000.0
    await source.poll_once()
    assert await stored_codes(store) == set()
    part.write_text("\n".join(lines) + "\n", encoding="utf-8")
    part.rename(inbox / "export.ndjson")
    os.utime(inbox / "export.ndjson", (1500.0, 1500.0))
    await source.poll_once()  # first seen now: waits for settle_s unchanged
    assert await stored_codes(store) == set()
    clock[0] = 2006.0
    await source.poll_once()
    assert len(await stored_codes(store)) == 6

    slow = inbox / "slow.ndjson"
    write(slow, "\n".join(lines[:2]).encode() + b"\n", 3000.0)
    clock[0] = 3010.0
    await source.poll_once()  # seen for the first time
    with slow.open("a", encoding="utf-8") as f:  # the writer goes on between the rounds
        f.write(lines[5] + "\n")
    os.utime(slow, (3001.0, 3001.0))
    clock[0] = 3020.0
    await source.poll_once()  # changed since it was seen: waits again
    assert (inbox / "slow.ndjson").exists()

    listed = os.stat(slow)
    with slow.open("a", encoding="utf-8") as f:  # and again after the listing
        f.write(lines[4] + "\n")
    stamp = (listed.st_size, listed.st_mtime_ns, listed.st_ino)
    assert await source.process(slow, stamp) == "retry"
    assert slow.exists()
    assert len(await stored_codes(store)) == 6


async def test_a_file_that_changes_after_its_commit_goes_to_error_saying_so(
    tmp_path: Path, store: SqliteStore
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    export = inbox / "export.ndjson"

    def validate(record: Record) -> None:  # the writer wakes up while the gateway commits
        with export.open("a", encoding="utf-8") as f:
            f.write(json.dumps(good(9)) + "\n")
        validate_for_portal(record)

    config = FileDropConfig(adapter="canonical", path=inbox, settle_s=0.0)
    source = FileDropSource(
        "drop", config, registry.create("canonical", {}, "t"), store, validate=validate
    )
    write(export, json.dumps(good(1)).encode() + b"\n", 1000.0)
    await source.poll_once()
    reason = (inbox / "error" / "export.ndjson.reason.txt").read_text(encoding="utf-8")
    assert "changed after its records were committed" in reason


@pytest.mark.parametrize("engine", ["sqlite", "mysql", "postgresql"])
async def test_sql_polling_rejects_hostile_rows_with_reasons_and_goes_on(
    tmp_path: Path, engine: str
) -> None:
    control = "\u0007" if engine == "postgresql" else "\u0000"  # PostgreSQL text holds no NUL
    async for vendor in vendor_database(engine, tmp_path):
        rows = [row(i, T0 + timedelta(minutes=i)) for i in range(1, 9)]
        hostile = {
            2: (1, "../../etc/passwd"),  # dossierNo
            4: (9, f"Nguyễn{control}Văn"),  # contactName
            6: (11, datetime(1, 1, 1)),  # receiveDate
            7: (1, "000.00.00.H56-261127-\u202e0007"),
        }
        for i, (column, value) in hostile.items():
            changed = list(rows[i - 1])
            changed[column] = value
            rows[i - 1] = tuple(changed)
        await vendor.upsert(rows)
        store = await SqliteStore.open(tmp_path / "gw.db", now=0)
        config = vendor.config(batch_size=100)
        source = SqlPollSource(
            "onestop",
            config,
            registry.create("opencps", {}, "t"),
            store,
            open_vendor_db(config, "t"),
            validate=validate_for_portal,
            clock=lambda: 1000.0,
        )
        try:
            assert not await source.poll_once()
            codes = await stored_codes(store)
            rejected = [e for e in await store.audit_entries() if e.event == "intake_rejected"]
            cursor = json.loads(await store.get_cursor("onestop") or "{}")
        finally:
            await source.close()
            await store.close()
        assert codes == {f"000.00.00.H56-261127-{i:05d}" for i in (1, 3, 5, 8)}
        assert len(rejected) == 4
        reasons = " ".join(e.detail["reason"] for e in rejected)
        for rule in ("dossier-code-pattern", "control-character", "date-range", "bidi-control"):
            assert f"rule {rule}" in reasons
        assert "passwd" not in reasons
        assert "Nguyễn" not in reasons
        assert cursor["id"] == 8  # the poll went on past every bad row


async def test_records_checked_by_the_rules_never_break_the_encoder() -> None:
    """A progress step at the year limits is rejected before the store (it used to raise
    OverflowError in the encoder inside the transaction and fail the whole batch)."""
    from gateway.canonical import DEFAULT_RULES
    from gateway.errors import TranslationError

    early = step("000.00.00.H56-261127-00001")
    early = replace(early, handled_at=early.handled_at.replace(year=1))
    with pytest.raises(TranslationError) as caught:
        DEFAULT_RULES.check(early)
    assert [p.path for p in caught.value.problems] == ["$.handled_at"]


async def test_an_encoder_failure_quarantines_one_record_and_the_batch_goes_on(
    store: SqliteStore,
) -> None:
    """Defence behind the rules: a value no rule caught breaks the encoder inside the store
    transaction (an OverflowError, as year 1 did): that record is quarantined with the
    exception's type, the others are accepted."""
    poison = dossier("000.00.00.H56-261127-00666")

    def validate(record: Record) -> None:
        if record.dossier_code == poison.dossier_code:
            raise OverflowError("date value out of range")
        validate_for_portal(record)

    items = [Incoming("t", r, r.dossier_code) for r in (dossier(), poison, step(CODE))]
    receipts = await store.accept(items, now=1.0, validate=validate)
    assert [r.status for r in receipts] == ["accepted", "quarantined", "accepted"]
    assert receipts[1].reason == "the encoder failed on this record (OverflowError)"


async def test_the_daemon_drop_folder_takes_the_files_after_a_poisoned_one(
    tmp_path: Path,
    portal: Portal,  # noqa: F811
) -> None:
    """Item 4 in the daemon: a 10,000-deep file no longer ends the round (it logged one
    source_crashed and blocked the folder for good); it goes to error/ and the files
    after it reach the portal."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox / "a-deep.json", b"[" * 10_000 + b"]" * 10_000, 1000.0)
    write(inbox / "b-year-one.json", json.dumps([good(7), {**good(8), **BAD_RECORDS[7][1]}])
          .encode(), 1001.0)  # fmt: skip
    write(inbox / "c-good.json", json.dumps([good(9)]).encode(), 1002.0)
    drop = FileDropConfig(adapter="canonical", path=inbox, settle_s=0.0, interval_s=30.0)
    config = replace(
        gateway_config(tmp_path, portal.url), sources=SourcesConfig(file_drop={"x": drop})
    )
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    try:
        async with running(config) as gw:
            await gw.sources["x"].round()
            await drained(gw)
    finally:
        logs.reset()
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert "source_crashed" not in events
    assert "source_unavailable" not in events
    assert sorted(p.name for p in (inbox / "error").iterdir()) == [
        "a-deep.json", "a-deep.json.reason.txt", "b-year-one.json", "b-year-one.json.reason.txt"
    ]  # fmt: skip
    assert [p.name for p in (inbox / "done").iterdir()] == ["c-good.json"]
    assert set(portal.state.dossiers) == {good(n)["dossier_code"] for n in (7, 9)}
