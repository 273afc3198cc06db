"""Operator commands: --version, the default configuration, status with ages and agencies,
dead letters up to a time, and a replay that only counts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.model import Record
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step

DEAD = "000.00.00.H56-261102-00001"
WAITING = "000.00.00.H56-261102-00002"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A store with one dead dossier (its step queued behind it) and one queued dossier; the
    dead letter died at epoch 1,000 s."""

    async def prepare() -> None:
        store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
        try:
            records: list[Record] = [dossier(DEAD), step(DEAD), dossier(WAITING)]
            incoming = [Incoming("t", r, str(i)) for i, r in enumerate(records)]
            await store.accept(incoming, now=10.0, validate=validate_for_portal)
            claimed = await store.claim("w", 10, now=20.0, lease_s=30)
            outcomes = [
                Outcome(c.record_id, c.lease_token, OutcomeKind.DEAD, at=1000.0, route="t")
                if c.record.dossier_code == DEAD
                else Outcome(c.record_id, c.lease_token, OutcomeKind.DEFERRED, at=21.0, route="t")
                for c in claimed
            ]
            await store.complete(outcomes)
        finally:
            await store.close()

    asyncio.run(prepare())
    path = tmp_path / "gateway.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"path": str(tmp_path / "gw.db")},
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("dvc-gateway ")


def test_status_json_from_the_default_config(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_GATEWAY_CONFIG", str(config))
    assert main(["status", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["states"]["dead"] == 1
    assert answer["states"]["queued"] == 2
    assert answer["oldest_queued_age_s"] > 0
    [agency] = answer["agencies"]
    assert (agency["queued"], agency["dead"], agency["blocked"], agency["route"]) == (
        2,
        1,
        1,  # the step behind the dead dossier
        "dvcqg-rest",
    )
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "000.00.00.H56" in text
    assert "blocked" in text


def test_dead_letters_until_and_a_replay_that_counts(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(config)]
    before = "1970-01-01T07:16:00+07:00"  # 960 s after the epoch: before it died
    after = "1970-01-01T07:17:00+07:00"  # 1,020 s
    assert main(["dlq", "list", *base, "--until", before]) == 0
    assert "0 dead letter(s)" in capsys.readouterr().out
    assert main(["dlq", "list", *base, "--until", after]) == 0
    assert "1 dead letter(s)" in capsys.readouterr().out
    assert main(["replay", *base, "--all", "--dry-run"]) == 0
    assert "1 record(s) would be queued again" in capsys.readouterr().out
    assert main(["dlq", "list", *base]) == 0
    assert "1 dead letter(s)" in capsys.readouterr().out  # the dry run changed nothing
