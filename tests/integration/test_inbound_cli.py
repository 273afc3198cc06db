"""``dvc-gateway inbound list|replay`` on a store file: dead deliveries listed with their
error, queued again with who asked in the audit log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.inbound.model import parse_portal_dossier
from gateway.store.inbound import JobKind, JobOutcome, JobOutcomeKind
from gateway.store.sqlite.store import SqliteStore
from tests.inbound_factories import portal_body


async def _dead_job(path: Path) -> None:
    store = await SqliteStore.open(path, now=0.0)
    try:
        for code in ("G22-1", "G22-2"):
            dossier = parse_portal_dossier(portal_body(code))
            await store.inbound.receive("dvcqg-push", dossier, code, sink="http", now=1.0)
        jobs = await store.inbound.claim_jobs(JobKind.DELIVER, "w", 10, now=2.0, lease_s=60)
        first = next(j for j in jobs if j.dossier_code == "G22-1")
        dead = JobOutcome(first.job_id, first.lease_token, JobOutcomeKind.DEAD, 3.0,
                          message="sink http: the vendor answered HTTP 422")  # fmt: skip
        await store.inbound.complete_jobs([dead])
    finally:
        await store.close()


def test_list_and_replay_dead_deliveries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "gw.db"
    asyncio.run(_dead_job(db))
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"path": str(db)},
    }), encoding="utf-8")  # fmt: skip
    assert main(["inbound", "list", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "G22-1" in out
    assert "HTTP 422" in out
    assert "G22-2" not in out
    assert main(["inbound", "replay", "--config", str(config)]) == 2  # says which
    capsys.readouterr()
    assert main(["inbound", "replay", "--all", "--by", "lan", "--config", str(config)]) == 0
    assert "1 sink job(s) queued again (by lan)" in capsys.readouterr().out
    assert main(["audit", "show", "G22-1", "--config", str(config)]) == 0
    timeline = capsys.readouterr().out
    assert "sink_dead" in timeline
    assert "sink_replayed" in timeline


def test_check_config_loads_the_sink_or_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.yaml"
    document: dict[str, Any] = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"path": str(tmp_path / "gw.db")},
        "inbound": {"enabled": True, "token": "t", "sink": {"plugin": "outbox",
                                                            "outbox": {"path": "out"}}},
    }  # fmt: skip
    config.write_text(json.dumps(document), encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "-> sink outbox" in capsys.readouterr().out
    document["inbound"]["sink"]["plugin"] = "acme"
    config.write_text(json.dumps(document), encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "inbound.sink.plugin: sink 'acme' is not installed" in capsys.readouterr().err
