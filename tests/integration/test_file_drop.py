"""File drop on real folders: every format, done/ and error/ with reasons, the same file
twice, and kill -9 around a commit."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from gateway.canonical import record_to_json
from gateway.config.schema import FileDropConfig
from gateway.sources.file_drop import FileDropSource
from gateway.sources.intake import validate_for_portal
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.unit.test_adapter_conformance import LEGACY_OPTIONS

KILLER = Path(__file__).with_name("kill_between_read_and_queue.py")
CSV = (
    "Số hồ sơ,Mã thủ tục,Tên thủ tục,Mã lĩnh vực,Lĩnh vực,Tình trạng,Hình thức nộp,"
    "Ngày tiếp nhận,Hạn trả,Người nộp,Trích yếu,Đơn vị xử lý,Điện thoại\n"
    "H56-261127-00031,1.001193,Thủ tục đăng ký khai sinh,G15-TP07,Hộ tịch,Đang xử lý,"
    "Trực tuyến,27/11/2026 08:15,28/11/2026 08:15,Đỗ Thị Ngọc Ánh,"
    '"Đăng ký khai sinh, cháu Đỗ Gia Bảo",UBND xã Quảng Phú,0987654321\n'
)


def dossiers(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [
        record_to_json(dossier(f"000.00.00.H56-261127-{i:05d}")) for i in range(start, start + n)
    ]


def drop_config(folder: Path, **changes: Any) -> FileDropConfig:
    base: dict[str, Any] = {"adapter": "canonical", "path": folder, "settle_s": 0.0}
    base.update(changes)
    return FileDropConfig(**base)


def source_for(config: FileDropConfig, store: SqliteStore, now: float = 4e9) -> FileDropSource:
    adapter = registry.create(config.adapter, config.options, "test")
    return FileDropSource(
        "drop", config, adapter, store, validate=validate_for_portal, clock=lambda: now
    )


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    opened = await SqliteStore.open(tmp_path / "state" / "gw.db", now=0)
    yield opened
    await opened.close()


async def codes(store: SqliteStore) -> list[str]:
    return [c for (c,) in await store.query("SELECT dossier_code FROM records ORDER BY id")]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


async def test_every_format_is_queued_and_moved_to_done(tmp_path: Path, store: SqliteStore) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.json").write_text(json.dumps(dossiers(2), ensure_ascii=False), encoding="utf-8")
    lines = [dossiers(1, 3)[0], record_to_json(step("000.00.00.H56-261127-00003"))]
    (inbox / "b.ndjson").write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8"
    )
    d = dossiers(1, 4)[0]
    leaves = "".join(
        f"<{k}>{v}</{k}>" for k, v in d.items() if isinstance(v, str | int) and v != ""
    )
    (inbox / "c.xml").write_text(f"<export><hoso>{leaves}</hoso></export>", encoding="utf-8")
    source = source_for(drop_config(inbox), store)
    assert not await source.poll_once()
    assert names(inbox / "done") == ["a.json", "b.ndjson", "c.xml"]
    assert names(inbox) == []
    assert await codes(store) == [f"000.00.00.H56-261127-0000{i}" for i in (1, 2, 3, 3, 4)]

    csv_inbox = tmp_path / "csv"
    csv_inbox.mkdir()
    (csv_inbox / "export.csv").write_text(CSV, encoding="utf-8-sig")
    legacy = source_for(drop_config(csv_inbox, adapter="legacy-csv", options=LEGACY_OPTIONS), store)
    await legacy.poll_once()
    assert names(csv_inbox / "done") == ["export.csv"]
    payload = json.loads((await store.query("SELECT payload FROM records ORDER BY id DESC"))[0][0])
    assert payload["summary"] == "Đăng ký khai sinh, cháu Đỗ Gia Bảo"
    assert payload["status"] == 4


async def test_the_same_file_dropped_twice_adds_nothing(tmp_path: Path, store: SqliteStore) -> None:
    body = json.dumps(dossiers(3), ensure_ascii=False)
    (tmp_path / "a.json").write_text(body, encoding="utf-8")
    source = source_for(drop_config(tmp_path), store)
    await source.poll_once()
    audit_before = len(await store.audit_entries())
    (tmp_path / "a.json").write_text(body, encoding="utf-8")
    (tmp_path / "copy.json").write_text(body, encoding="utf-8")
    await source.poll_once()
    assert names(tmp_path / "done") == ["a.1.json", "a.json", "copy.json"]
    assert len(await codes(store)) == 3
    assert len(await store.audit_entries()) == audit_before


async def test_a_broken_file_goes_to_error_with_its_reason(
    tmp_path: Path, store: SqliteStore
) -> None:
    (tmp_path / "bad.ndjson").write_text('{"kind": "dossier"}\n{"kind": \n', encoding="utf-8")
    (tmp_path / "huge.json").write_bytes(b"[" + b" " * 2000 + b"]")
    source = source_for(drop_config(tmp_path, max_file_bytes=1000), store)
    await source.poll_once()
    assert names(tmp_path / "error") == [
        "bad.ndjson",
        "bad.ndjson.reason.txt",
        "huge.json",
        "huge.json.reason.txt",
    ]
    reason = (tmp_path / "error" / "bad.ndjson.reason.txt").read_text(encoding="utf-8")
    assert reason.startswith("line 2: malformed JSON")
    assert "max_file_bytes" in (tmp_path / "error" / "huge.json.reason.txt").read_text()
    assert await codes(store) == []


async def test_rejected_records_send_the_file_to_error_and_a_fixed_file_completes_it(
    tmp_path: Path, store: SqliteStore
) -> None:
    records = dossiers(3)
    broken = [records[0], {**records[1], "status": 11}, records[2]]
    (tmp_path / "mixed.json").write_text(json.dumps(broken), encoding="utf-8")
    source = source_for(drop_config(tmp_path), store)
    await source.poll_once()
    reason = (tmp_path / "error" / "mixed.json.reason.txt").read_text(encoding="utf-8")
    assert reason == (
        "record 2: $.status: is not one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"
        " (schema rule properties/status/enum)\n"
    )
    assert len(await codes(store)) == 2
    (tmp_path / "mixed.json").write_text(json.dumps(records), encoding="utf-8")
    await source.poll_once()
    assert names(tmp_path / "done") == ["mixed.json"]
    assert sorted(await codes(store)) == [r["dossier_code"] for r in records]


async def test_unsettled_hidden_and_partial_files_wait(tmp_path: Path, store: SqliteStore) -> None:
    body = json.dumps(dossiers(1))
    for name in ("fresh.json", ".hidden.json", "upload.json.part", "notes.txt"):
        (tmp_path / name).write_text(body, encoding="utf-8")
    mtime = (tmp_path / "fresh.json").stat().st_mtime
    clock = [mtime + 1]
    adapter = registry.create("canonical", {}, "test")
    config = drop_config(tmp_path, settle_s=30.0)
    source = FileDropSource(
        "drop", config, adapter, store, validate=validate_for_portal, clock=lambda: clock[0]
    )
    await source.poll_once()
    assert names(tmp_path) == [".hidden.json", "fresh.json", "notes.txt", "upload.json.part"]
    clock[0] = mtime + 31  # 30 s old and unchanged since the first listing
    await source.poll_once()
    assert names(tmp_path / "done") == ["fresh.json"]
    assert len(await codes(store)) == 1


@pytest.mark.parametrize(
    ("kill_at", "when", "committed"),
    [(1, "before", 0), (2, "after", 4), (3, "after", 5)],
    ids=["read-not-queued", "between-batches", "queued-not-moved"],
)
async def test_kill_9_around_a_commit_neither_loses_nor_duplicates(
    tmp_path: Path, kill_at: int, when: str, committed: int
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "export.json").write_text(json.dumps(dossiers(5)), encoding="utf-8")
    config = drop_config(inbox, batch_size=2)
    spec = {
        "kind": "file_drop",
        "config": {**dataclasses.asdict(config), "path": str(inbox)},
        "store": str(tmp_path / "gw.db"),
        "kill_at": kill_at,
        "when": when,
    }
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(  # noqa: ASYNC221 - the child must run to its kill
        [sys.executable, str(KILLER), json.dumps(spec)], check=False, timeout=100, env=env
    )
    assert done.returncode == -9
    assert names(inbox) == ["export.json"]
    store = await SqliteStore.open(tmp_path / "gw.db", now=0)
    try:
        assert len(await codes(store)) == committed
        await source_for(config, store).poll_once()
        assert names(inbox / "done") == ["export.json"]
        assert sorted(await codes(store)) == [d["dossier_code"] for d in dossiers(5)]
        received = [e for e in await store.audit_entries() if e.event == "received"]
        assert len(received) == 5
    finally:
        await store.close()
